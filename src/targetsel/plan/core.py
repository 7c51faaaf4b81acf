"""The plan of a selection run: per stage, its work, bytes, memory and time, before running it.

:func:`make_plan` counts the pool's tokens for real, reads the model's shapes from its config on
the ``meta`` device, times a few real examples through the representation itself (the
calibration of this machine), and turns the FLOP counts of :mod:`targetsel.plan.costs` into
seconds here and GPU-hours on named GPUs (:func:`targetsel.plan.measure.gpu_throughput`).

Stages: ``warmup`` (LESS only: LoRA training on a seeded fraction of the pool, one checkpoint per
epoch), ``encode`` (features of the pool, and of the query set when one is given, per checkpoint),
``score`` (queries × candidates, per checkpoint) and ``select`` (one pass over the scores).

The pieces: :mod:`targetsel.plan.stages` (the :class:`Plan` and :class:`Stage` records and the
shared stages), :mod:`targetsel.plan.calibrate` (timing on this machine), the per-representation
planners in :mod:`targetsel.plan.lm` (gradient, hidden) and :mod:`targetsel.plan.encoders` (embed,
lexical), and :mod:`targetsel.plan.units` (human-readable figures).
"""

from __future__ import annotations

from pathlib import Path

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.plan.encoders import plan_embed, plan_lexical
from targetsel.plan.lm import plan_gradient, plan_hidden
from targetsel.plan.measure import gpu_throughput
from targetsel.plan.stages import Plan, Stage
from targetsel.plan.units import human_bytes, human_seconds

__all__ = ["PLAN_REPRESENTATIONS", "Plan", "Stage", "human_bytes", "human_seconds", "make_plan"]

PLAN_REPRESENTATIONS = ("gradient", "hidden", "embed", "lexical")

_BUILDERS = {"gradient": plan_gradient, "hidden": plan_hidden, "embed": plan_embed, "lexical": plan_lexical}


def _check_settings(
    pool: ExampleSet,
    *,
    representation: str,
    feature_dtype: str,
    dim: int | None,
    calibrate: int,
    max_length: int,
    positive: dict[str, int],
) -> None:
    """Raise :class:`ConfigurationError` on the first setting out of range (``positive``: name → value > 0).

    Messages name the flag and the value as the user typed them.
    """
    from targetsel.store import check_feature_dtype

    if representation not in PLAN_REPRESENTATIONS:
        raise ConfigurationError(
            f"plan: representation must be one of {', '.join(PLAN_REPRESENTATIONS)}, got {representation!r}"
        )
    check_feature_dtype(feature_dtype)
    for name, value in positive.items():
        if value <= 0:
            raise ConfigurationError(f"plan: --{name.replace('_', '-')} must be positive, got {value}")
    if max_length < 2:  # one prompt token and one token to predict, as tokenisation needs
        raise ConfigurationError(f"plan: --max-length must be at least 2, got {max_length}")
    if calibrate < 0:
        raise ConfigurationError(f"plan: --calibrate must be >= 0, got {calibrate}")
    if dim is not None and dim <= 0:
        raise ConfigurationError(f"plan: --dim must be positive, got {dim}")
    if len(pool) == 0:
        raise ConfigurationError("plan: the pool is empty")


def make_plan(
    pool: ExampleSet,
    *,
    representation: str = "gradient",
    model: str | None = None,
    query: ExampleSet | None = None,
    num_queries: int = 200,
    checkpoints: int = 4,
    dim: int | None = None,
    feature_dtype: str = "float32",
    batch_size: int = 8,
    max_length: int = 512,
    shard_size: int = 4096,
    warmup_fraction: float = 0.05,
    lora_r: int = 128,
    lora_alpha: float = 512.0,
    gpus: int = 1,
    gpu: str = "h100",
    mfu: float | None = None,
    peak_tflops: float | None = None,
    bench: Path | None = None,
    calibrate: int = 16,
) -> Plan:
    """Plan warmup, encode, score and select for ``pool`` in ``representation``.

    Args:
        pool: The candidate pool (every row is tokenised).
        representation: ``gradient`` (LESS), ``hidden`` (RDS+), ``embed`` or ``lexical``.
        model: Model name or path (default: the representation's).
        query: The query set (tokenised and its encode planned too), or ``None``: ``num_queries``
            queries are assumed for scoring only.
        checkpoints: LESS warmup checkpoints (= warmup epochs; one store and one scoring pass each).
        dim: Feature dimension (``gradient``/``lexical``; default theirs, 8192/4096).
        feature_dtype: Dtype of the pool stores (``float32``, ``float16``, ``int8``, ``bit``).
        batch_size, max_length, shard_size: As the encode will run (``--param batch_size=...``).
        warmup_fraction, lora_r, lora_alpha: LESS warmup settings.
        gpus, gpu, mfu, peak_tflops, bench: The named GPUs (:func:`gpu_throughput`).
        calibrate: Examples timed through the representation on this machine (0: none; the model
            passes are then assumed to run at 0.4 of a float32 matmul measured here).

    Raises:
        ConfigurationError: an unknown representation or GPU, or a setting out of range.

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> from targetsel.data import load_pool
        >>> p = make_plan(load_pool(demo_pool_path()).select(range(10)), representation="lexical", dim=64, calibrate=2)
        >>> p.examples, p.store_bytes["float32"]
        (10, 2688)
    """
    # long only by its 20 documented settings (signature and Args): the body checks them and dispatches
    positive = {
        "checkpoints": checkpoints,
        "batch_size": batch_size,
        "shard_size": shard_size,
        "gpus": gpus,
        "num_queries": num_queries,
    }
    _check_settings(
        pool,
        representation=representation,
        feature_dtype=feature_dtype,
        dim=dim,
        calibrate=calibrate,
        max_length=max_length,
        positive=positive,
    )
    thr = gpu_throughput(gpu, mfu=mfu, peak_tflops=peak_tflops, bench=bench)
    builder = _BUILDERS[representation]
    return builder(
        pool,
        query,
        model=model,
        num_queries=num_queries,
        checkpoints=checkpoints if representation == "gradient" else 1,
        dim=dim,
        feature_dtype=feature_dtype,
        batch_size=batch_size,
        max_length=max_length,
        shard_size=shard_size,
        warmup_fraction=warmup_fraction,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        gpus=gpus,
        thr=thr,
        calibrate=calibrate,
    )
