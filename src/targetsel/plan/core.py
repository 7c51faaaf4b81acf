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

import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.plan.encoders import EMBED_PARAMS, LEXICAL_PARAMS, plan_embed, plan_lexical
from targetsel.plan.lm import GRADIENT_PARAMS, HIDDEN_PARAMS, plan_gradient, plan_hidden
from targetsel.plan.measure import gpu_throughput
from targetsel.plan.stages import PLAN_SETTINGS, Plan, Stage
from targetsel.plan.units import human_bytes, human_seconds

logger = logging.getLogger(__name__)

__all__ = [
    "PLAN_REPRESENTATIONS",
    "PLAN_SETTINGS",
    "Plan",
    "Stage",
    "human_bytes",
    "human_seconds",
    "make_plan",
    "plan_params",
]

PLAN_REPRESENTATIONS = ("gradient", "hidden", "embed", "lexical")

#: Per representation: its planner and the parameters that planner models.
_BUILDERS = {
    "gradient": (plan_gradient, GRADIENT_PARAMS),
    "hidden": (plan_hidden, HIDDEN_PARAMS),
    "embed": (plan_embed, EMBED_PARAMS),
    "lexical": (plan_lexical, LEXICAL_PARAMS),
}


def plan_params(representation: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` checked as ``encode -p`` checks them, for the plan of ``representation``.

    Every name must be a parameter of the representation
    (:func:`~targetsel.params.validate_params`: unknown names and wrong types are one line each),
    except the plan settings :data:`~targetsel.plan.stages.PLAN_SETTINGS` (what ``--dim``,
    ``--batch-size``, ``--max-length`` and ``--feature-dtype`` set), which every plan takes: a
    representation without that parameter (``lexical`` has no batch size) leaves it unused.
    Parameters the planner does not model (``seed``, ``projector``) are logged as unused.

    Raises:
        ConfigurationError: an unknown representation or parameter, or a value of the wrong type.

    Example:
        >>> plan_params("lexical", {"dim": 64, "batch_size": 8})
        {'dim': 64, 'batch_size': 8}
        >>> plan_params("lexical", {"dims": 64})
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: bad parameters for representation 'lexical': unknown parameter 'dims'; ...
    """
    import targetsel.represent  # noqa: F401  (registers the representations)
    from targetsel.params import validate_params
    from targetsel.represent.base import REPRESENTATIONS

    if representation not in PLAN_REPRESENTATIONS:
        raise ConfigurationError(
            f"plan: representation must be one of {', '.join(PLAN_REPRESENTATIONS)}, got {representation!r}"
        )
    cls = REPRESENTATIONS.get(representation)
    what = f"representation {representation!r}"
    own = set(inspect.signature(cls).parameters)
    given = dict(params or {})
    unused = {k: given.pop(k) for k in PLAN_SETTINGS if k in given and k not in own}
    for name, value in unused.items():
        if name != "feature_dtype" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigurationError(f"bad parameters for {what}: {name} must be an integer, got {value!r}")
    checked = validate_params(cls, given, what=what)
    modelled = _BUILDERS[representation][1]
    ignored = sorted(k for k in checked if k not in modelled)
    if ignored:
        logger.warning("plan: %s not modelled by the %s plan; left out", ", ".join(ignored), representation)
    return {**checked, **unused}


def _check_settings(
    pool: ExampleSet,
    *,
    params: Mapping[str, Any],
    calibrate: int,
    positive: dict[str, Any],
) -> None:
    """Raise :class:`ConfigurationError` on the first setting out of range (``positive``: name → value > 0).

    Messages name the flag and the value as the user typed them.
    """
    from targetsel.store import check_feature_dtype

    if "feature_dtype" in params:
        check_feature_dtype(params["feature_dtype"])
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int):  # ``batch_size=auto``: the plan needs a size
            raise ConfigurationError(f"plan: --{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if value <= 0:
            raise ConfigurationError(f"plan: --{name.replace('_', '-')} must be positive, got {value}")
    max_length = params.get("max_length", 2)
    if max_length < 2:  # one prompt token and one token to predict, as tokenisation needs
        raise ConfigurationError(f"plan: --max-length must be at least 2, got {max_length}")
    if calibrate < 0:
        raise ConfigurationError(f"plan: --calibrate must be >= 0, got {calibrate}")
    if params.get("dim") is not None and params["dim"] <= 0:
        raise ConfigurationError(f"plan: --dim must be positive, got {params['dim']}")
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
    params: Mapping[str, Any] | None = None,
    shard_size: int = 4096,
    warmup_fraction: float = 0.05,
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
        params: The representation's parameters, as ``encode -p`` takes them (:func:`plan_params`);
            unset ones take the representation's defaults, except the batch size and maximum length
            of the ``gradient`` and ``hidden`` plans (:data:`~targetsel.plan.stages.PLAN_DEFAULTS`).
            ``gradient`` plans its LoRA adapter from ``lora_r``, ``lora_alpha`` and
            ``target_modules`` (:class:`~targetsel.lora.LoraSettings`; default LESS's).
        shard_size: Rows per store shard, as the encode will run.
        warmup_fraction: Share of the pool the LESS warmup trains on.
        gpus, gpu, mfu, peak_tflops, bench: The named GPUs (:func:`gpu_throughput`).
        calibrate: Examples timed through the representation on this machine (0: none; the model
            passes are then assumed to run at 0.4 of a float32 matmul measured here).

    Raises:
        ConfigurationError: an unknown representation, parameter or GPU, or a setting out of range.

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> from targetsel.data import load_pool
        >>> p = make_plan(load_pool(demo_pool_path()).select(range(10)), representation="lexical",
        ...               params={"dim": 64}, calibrate=2)
        >>> p.examples, p.store_bytes["float32"]
        (10, 2688)
    """
    checked = plan_params(representation, params)
    positive = {
        "checkpoints": checkpoints,
        "batch_size": checked.get("batch_size", 1),
        "shard_size": shard_size,
        "gpus": gpus,
        "num_queries": num_queries,
    }
    _check_settings(pool, params=checked, calibrate=calibrate, positive=positive)
    thr = gpu_throughput(gpu, mfu=mfu, peak_tflops=peak_tflops, bench=bench)
    builder = _BUILDERS[representation][0]
    return builder(
        pool,
        query,
        model=model,
        params=checked,
        num_queries=num_queries,
        checkpoints=checkpoints if representation == "gradient" else 1,
        shard_size=shard_size,
        warmup_fraction=warmup_fraction,
        gpus=gpus,
        thr=thr,
        calibrate=calibrate,
    )
