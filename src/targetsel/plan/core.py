"""The plan of a selection run: per stage, its work, bytes, memory and time, before running it.

:func:`make_plan` counts the pool's tokens for real, reads the model's shapes from its config on
the ``meta`` device, times a few real examples through the representation itself (the
calibration of this machine), and turns the FLOP counts of :mod:`targetsel.plan.costs` into
seconds here and GPU-hours on named GPUs (:func:`targetsel.plan.measure.gpu_throughput`).

Stages: ``warmup`` (LESS only: LoRA training on a seeded fraction of the pool, one checkpoint per
epoch), ``encode`` (features of the pool, and of the query set when one is given, per checkpoint),
``score`` (queries × candidates, per checkpoint) and ``select`` (one pass over the scores).
"""

from __future__ import annotations

import math
import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.plan import costs
from targetsel.plan.measure import count_text_tokens, count_tokens, gpu_throughput, matmul_flops_per_s, time_rows

__all__ = ["PLAN_REPRESENTATIONS", "Plan", "Stage", "human_bytes", "human_seconds", "make_plan"]

PLAN_REPRESENTATIONS = ("gradient", "hidden", "embed", "lexical")
#: Assumed share of this machine's float32 matmul speed that the model passes reach without calibration
#: (the CPU figure of bench/gpu_bench.py: 0.38-0.48).
UNCALIBRATED_CPU_MFU = 0.4
#: Rough seconds per score entry of one selection pass (streaming top-k admission, on this kind of CPU).
SELECT_SECONDS_PER_SCORE = 5e-9


@dataclass
class Stage:
    """One stage of the plan. ``seconds`` is this machine, ``gpu_hours`` the named GPUs (all together;
    ``None`` for work that runs on the CPU), ``gpu_wall_seconds`` the wall time on ``gpus`` of them."""

    name: str
    examples: int
    tokens: int
    flops: float
    store_bytes: int
    peak_ram_bytes: int | None
    peak_vram_bytes: int | None
    seconds: float
    gpu_hours: float | None
    gpu_wall_seconds: float | None
    note: str = ""


@dataclass
class Plan:
    """What a run costs (see :func:`make_plan`); :meth:`to_dict` is the ``--json`` form."""

    representation: str
    model: str | None
    examples: int
    tokens: int
    loss_tokens: int
    params: int
    lora_params: int
    dim: int
    feature_dtype: str
    checkpoints: int
    queries: int
    store_bytes: dict[str, int]
    query_store_bytes: int
    stages: list[Stage]
    gpu: dict[str, Any]
    calibration: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = {s.name: {k: v for k, v in asdict(s).items() if k != "name"} for s in self.stages}
        d["seconds"] = sum(s.seconds for s in self.stages)
        d["gpu_hours"] = sum(s.gpu_hours or 0.0 for s in self.stages)
        return d


@dataclass
class _Work:
    """One representation's encode workload: per-row cost in its calibration unit (FLOPs, or words)."""

    lengths: np.ndarray
    losses: np.ndarray
    cost: np.ndarray
    flops: np.ndarray


def _sample(lengths: np.ndarray, k: int, batch_size: int) -> list[int]:
    """The calibration sample: ``k`` rows in groups of ``batch_size`` neighbours in length order.

    Each group sits at an evenly spaced quantile of the lengths, so it is a batch like the ones a
    length-sorted shard forms (little padding), and the groups together span short and long rows.
    """
    order = np.argsort(lengths, kind="stable")
    k = min(k, len(order))
    groups = max(1, k // batch_size)
    size = -(-k // groups)
    out: list[int] = []
    for g in range(groups):
        centre = int((g + 0.5) / groups * len(order))
        lo = max(0, min(len(order) - size, centre - size // 2))
        out.extend(int(i) for i in order[lo : lo + size] if int(i) not in out)
    return sorted(out, key=lambda i: (lengths[i], i))


def _max_rss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


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
    from targetsel.store import check_feature_dtype

    if representation not in PLAN_REPRESENTATIONS:
        raise ConfigurationError(
            f"plan: representation must be one of {', '.join(PLAN_REPRESENTATIONS)}, got {representation!r}"
        )
    check_feature_dtype(feature_dtype)
    for name, value in (
        ("checkpoints", checkpoints),
        ("batch_size", batch_size),
        ("shard_size", shard_size),
        ("gpus", gpus),
        ("num_queries", num_queries),
        ("max_length", max_length - 1),
    ):
        if value <= 0:
            raise ConfigurationError(f"plan: {name.replace('_', '-')} must be positive, got {value}")
    if calibrate < 0:
        raise ConfigurationError(f"plan: --calibrate must be >= 0, got {calibrate}")
    if dim is not None and dim <= 0:
        raise ConfigurationError(f"plan: dim must be positive, got {dim}")
    if len(pool) == 0:
        raise ConfigurationError("plan: the pool is empty")
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


# ---------------------------------------------------------------------------------- per representation
def _lm_setup(model: str, lora_r: int, lora_alpha: float) -> tuple[Any, Any, costs.ModelShapes]:
    from transformers import AutoConfig

    from targetsel.errors import MissingArtifactError
    from targetsel.models import load_tokenizer, resolve_model_path

    path = resolve_model_path(model)
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise MissingArtifactError(f"cannot read the config of model {model!r} ({type(exc).__name__}: {exc})") from exc
    return config, load_tokenizer(model), costs.model_shapes(config, lora_r=lora_r, lora_alpha=lora_alpha)


def _lm_work(
    shapes: costs.ModelShapes,
    examples: ExampleSet,
    tok: Any,
    *,
    kind: str,
    role: str,
    loss_tokens: str,
    max_length: int,
    batch_size: int,
    shard_size: int,
) -> _Work:
    loss_on = "all_assistant" if role == "candidate" else "last_assistant"
    lengths, losses = count_tokens(
        examples, tok, max_length=max_length, loss_on=loss_on, loss_tokens=loss_tokens, desc=f"count tokens ({role})"
    )
    padded = costs.padded_lengths(lengths, batch_size=batch_size, shard_size=shard_size)
    raw = costs.gradient_flops(shapes, padded, losses) if kind == "gradient" else costs.forward_flops(shapes, padded)
    flops = np.asarray(raw, dtype=np.float64)
    return _Work(lengths, losses, flops, flops)


def _calibrate(
    rep: Any, pool: ExampleSet, work: _Work, k: int, *, batch_size: int, fallback_rate: float, unit: str, cost_of: Any
) -> dict[str, Any]:
    """Units per second of ``rep`` on this machine, from ``k`` real rows (or the fallback rate)."""
    if k == 0:
        return {
            "rate": fallback_rate,
            "unit": unit,
            "load_seconds": 0.0,
            "examples": 0,
            "source": f"not calibrated: {UNCALIBRATED_CPU_MFU} of a float32 matmul measured here",
        }
    idx = _sample(work.lengths, k, batch_size)
    load_s, run_s = time_rows(rep, pool.select(idx), "candidate")
    sample_cost = float(np.sum(cost_of(work.lengths[idx], work.losses[idx])))
    rep.release()
    return {
        "rate": sample_cost / max(run_s, 1e-9),
        "unit": unit,
        "load_seconds": load_s,
        "examples": len(idx),
        "sample_seconds": run_s,
        "max_rss_bytes": _max_rss(),
        "source": f"{len(idx)} pool examples timed through the {rep.name} representation here",
    }


def _planned_peak(plan_memory: Any, config: Any, mem: dict[str, Any], dtype: str) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecation notices of transformers internals
        return int(plan_memory(config, dtype=dtype, **mem)["peak"])


def _gpu(flops: float, thr: dict[str, Any], gpus: int) -> tuple[float, float]:
    seconds = flops / thr["flops_per_s"]
    return seconds / 3600.0, seconds / gpus


def _score_select(n: int, m: int, dim: int, views: int, thr: dict[str, Any], gpus: int) -> list[Stage]:
    from targetsel.settings import memory_budget

    flops = 2.0 * m * n * dim * views
    rate = matmul_flops_per_s(dim, rows=min(max(m, 1), 256))
    # the scores and candidate chunks stay within the memory budget (less when the whole matrix is smaller)
    budget = min(memory_budget(), 4 * m * n + 4 * min(n, 4096) * dim)
    query_bytes = m * dim * 4 * views
    gh, gw = _gpu(flops, thr, gpus)
    score = Stage(
        "score",
        n,
        0,
        flops,
        0,
        budget + query_bytes,
        budget + query_bytes,
        flops / rate,
        gh,
        gw,
        f"{views} pass(es) of {m} queries × {n} candidates × {dim}; time of the float32 matmul "
        f"measured here ({rate / 1e9:.0f} GFLOP/s), reading the store not counted",
    )
    sel_s = SELECT_SECONDS_PER_SCORE * m * n
    select = Stage(
        "select",
        n,
        0,
        0.0,
        0,
        min(memory_budget(), 8 * m * n),
        None,
        sel_s,
        None,
        None,
        "on the CPU: about one pass over the M × N scores (top-k lists)",
    )
    return [score, select]


def _finish(
    kind: str,
    model: str | None,
    pool: ExampleSet,
    work: _Work,
    qwork: _Work | None,
    *,
    params: int,
    lora_params: int,
    dim: int,
    feature_dtype: str,
    views: int,
    num_queries: int,
    shard_size: int,
    cal: dict[str, Any],
    thr: dict[str, Any],
    gpus: int,
    vram: int | None,
    ram: int | None,
    warmup: Stage | None,
    settings: dict[str, Any],
) -> Plan:
    from targetsel.store import FEATURE_DTYPES

    n = len(pool)
    m = len(qwork.lengths) if qwork is not None else num_queries
    store = {dt: views * costs.store_file_bytes(n, dim, dt, shard_size=shard_size) for dt in FEATURE_DTYPES}
    qstore = views * costs.store_file_bytes(m, dim, "float32", shard_size=shard_size) if qwork is not None else 0
    cost = float(work.cost.sum()) + (float(qwork.cost.sum()) if qwork is not None else 0.0)
    flops = views * (float(work.flops.sum()) + (float(qwork.flops.sum()) if qwork is not None else 0.0))
    seconds = views * (cal["load_seconds"] + cost / cal["rate"])
    on_gpu = kind != "lexical"
    gh, gw = _gpu(flops, thr, gpus) if on_gpu else (None, None)
    tokens = int(work.lengths.sum()) + (int(qwork.lengths.sum()) if qwork is not None else 0)
    note = f"{views} checkpoint(s) × ({n} pool" + (f" + {m} query" if qwork is not None else "") + " rows)"
    encode = Stage(
        "encode",
        n + (m if qwork is not None else 0),
        tokens,
        flops,
        store[feature_dtype] + qstore,
        ram,
        vram,
        seconds,
        gh,
        gw,
        note,
    )
    stages = ([warmup] if warmup is not None else []) + [encode] + _score_select(n, m, dim, views, thr, gpus)
    return Plan(
        kind,
        model,
        n,
        int(work.lengths.sum()),
        int(work.losses.sum()),
        params,
        lora_params,
        dim,
        feature_dtype,
        views,
        m,
        store,
        qstore,
        stages,
        thr,
        cal,
        settings,
    )


def _plan_gradient(
    pool: ExampleSet,
    query: ExampleSet | None,
    *,
    model: str | None,
    checkpoints: int,
    dim: int | None,
    batch_size: int,
    max_length: int,
    shard_size: int,
    warmup_fraction: float,
    lora_r: int,
    lora_alpha: float,
    gpus: int,
    thr: dict[str, Any],
    calibrate: int,
    **kw: Any,
) -> Plan:
    from targetsel.represent.gradient import GradientRepresentation, plan_memory
    from targetsel.train.core import warmup_indices

    model = model or "smollm2-135m"
    dim = dim or 8192
    config, tok, shapes = _lm_setup(model, lora_r, lora_alpha)
    loss_tokens = "assistant" if getattr(tok, "chat_template", None) else "less"
    common = {
        "kind": "gradient",
        "loss_tokens": loss_tokens,
        "max_length": max_length,
        "batch_size": batch_size,
        "shard_size": shard_size,
    }
    work = _lm_work(shapes, pool, tok, role="candidate", **common)
    qwork = _lm_work(shapes, query, tok, role="query", **common) if query is not None else None
    rep = GradientRepresentation(
        model,
        candidate_gradient="sgd",
        dim=dim,
        batch_size=batch_size,
        max_length=max_length,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        device="cpu",
        loss_tokens=loss_tokens,
    )

    def cost_of(lengths: np.ndarray, losses: np.ndarray) -> np.ndarray:
        padded = costs.padded_lengths(lengths, batch_size=batch_size, shard_size=shard_size)
        return np.asarray(costs.gradient_flops(shapes, padded, losses), dtype=np.float64)  # type: ignore[arg-type]

    fallback = UNCALIBRATED_CPU_MFU * matmul_flops_per_s(shapes.hidden, rows=512)
    cal = _calibrate(
        rep, pool, work, calibrate, batch_size=batch_size, fallback_rate=fallback, unit="FLOP", cost_of=cost_of
    )
    seq, loss = (
        int(costs.padded_lengths(work.lengths, batch_size=batch_size, shard_size=shard_size).max()),
        int(work.losses.max()),
    )
    mem = {
        "batch_size": batch_size,
        "seq_len": seq,
        "loss_tokens": loss,
        "lora_r": lora_r,
        "lora_alpha": lora_alpha,
        "dim": dim,
    }
    vram, ram = _planned_peak(plan_memory, config, mem, "bfloat16"), _planned_peak(plan_memory, config, mem, "float32")
    # warmup: LoRA training (batch of one per device, every position through the LM head) on a seeded fraction
    rows = warmup_indices(len(pool), warmup_fraction, seed=0)
    wtok = int(work.lengths[rows].sum())
    wflops = checkpoints * float(np.sum(costs.training_flops(shapes, work.lengths[rows])))  # type: ignore[arg-type]
    wmax = int(work.lengths[rows].max())
    wmem = {"batch_size": 1, "seq_len": wmax, "loss_tokens": wmax, "lora_r": lora_r, "lora_alpha": lora_alpha, "dim": 1}
    gh, gw = _gpu(wflops, thr, gpus)
    warm = Stage(
        "warmup",
        len(rows),
        checkpoints * wtok,
        wflops,
        0,
        _planned_peak(plan_memory, config, wmem, "float32"),
        _planned_peak(plan_memory, config, wmem, "bfloat16"),
        cal["load_seconds"] + wflops / cal["rate"],
        gh,
        gw,
        f"{checkpoints} epoch(s) on {len(rows)} rows ({warmup_fraction:g} of the pool); time at the encode's rate",
    )
    settings = {
        "batch_size": batch_size,
        "max_length": max_length,
        "shard_size": shard_size,
        "lora_r": lora_r,
        "lora_alpha": lora_alpha,
        "warmup_fraction": warmup_fraction,
        "loss_tokens": loss_tokens,
        "gpus": gpus,
    }
    return _finish(
        "gradient",
        model,
        pool,
        work,
        qwork,
        params=shapes.params,
        lora_params=shapes.lora_params,
        dim=dim,
        views=checkpoints,
        shard_size=shard_size,
        cal=cal,
        thr=thr,
        gpus=gpus,
        vram=vram,
        ram=ram,
        warmup=warm,
        settings=settings,
        feature_dtype=kw["feature_dtype"],
        num_queries=kw["num_queries"],
    )


def _plan_hidden(
    pool: ExampleSet,
    query: ExampleSet | None,
    *,
    model: str | None,
    batch_size: int,
    max_length: int,
    shard_size: int,
    gpus: int,
    thr: dict[str, Any],
    calibrate: int,
    **kw: Any,
) -> Plan:
    from targetsel.represent.hidden import HiddenRepresentation

    model = model or "smollm2-135m"
    config, tok, shapes = _lm_setup(model, kw["lora_r"], kw["lora_alpha"])
    common = {
        "kind": "hidden",
        "loss_tokens": "assistant",
        "max_length": max_length,
        "batch_size": batch_size,
        "shard_size": shard_size,
    }
    work = _lm_work(shapes, pool, tok, role="candidate", **common)
    qwork = _lm_work(shapes, query, tok, role="query", **common) if query is not None else None
    rep = HiddenRepresentation(model, batch_size=batch_size, max_length=max_length, device="cpu")

    def cost_of(lengths: np.ndarray, losses: np.ndarray) -> np.ndarray:
        padded = costs.padded_lengths(lengths, batch_size=batch_size, shard_size=shard_size)
        return np.asarray(costs.forward_flops(shapes, padded), dtype=np.float64)  # type: ignore[arg-type]

    fallback = UNCALIBRATED_CPU_MFU * matmul_flops_per_s(shapes.hidden, rows=512)
    cal = _calibrate(
        rep, pool, work, calibrate, batch_size=batch_size, fallback_rate=fallback, unit="FLOP", cost_of=cost_of
    )
    seq = int(work.lengths.max())
    inter = int(getattr(config, "intermediate_size", 4 * shapes.hidden))
    act = 4 * batch_size * seq * max(inter, shapes.hidden)  # one layer's widest activations, a few copies
    settings = {"batch_size": batch_size, "max_length": max_length, "shard_size": shard_size, "gpus": gpus}
    return _finish(
        "hidden",
        model,
        pool,
        work,
        qwork,
        params=shapes.params,
        lora_params=0,
        dim=shapes.hidden,
        views=1,
        shard_size=shard_size,
        cal=cal,
        thr=thr,
        gpus=gpus,
        vram=2 * shapes.params + 2 * act,
        ram=4 * shapes.params + 4 * act,
        warmup=None,
        settings=settings,
        feature_dtype=kw["feature_dtype"],
        num_queries=kw["num_queries"],
    )


def _plan_embed(
    pool: ExampleSet,
    query: ExampleSet | None,
    *,
    model: str | None,
    shard_size: int,
    gpus: int,
    thr: dict[str, Any],
    calibrate: int,
    **kw: Any,
) -> Plan:
    import torch

    from targetsel.represent.embed import DEFAULT_EMBED_MODEL, EmbedRepresentation

    rep = EmbedRepresentation(model or DEFAULT_EMBED_MODEL)
    st = rep._load()
    batch = rep.batch_size
    auto = st[0].auto_model
    params = sum(p.numel() for p in st.parameters())
    linear = sum(m.weight.numel() for m in st.modules() if isinstance(m, torch.nn.Linear))
    cfg = auto.config
    shapes = costs.ModelShapes(params, linear, 0, int(cfg.hidden_size), int(cfg.num_hidden_layers), 0)
    max_len = int(st.max_seq_length)

    def work_of(examples: ExampleSet) -> _Work:
        lengths = count_text_tokens(examples, st.tokenizer, max_length=max_len, turns=rep.text_turns)
        padded = costs.padded_lengths(lengths, batch_size=batch, shard_size=shard_size)
        flops = 2.0 * np.asarray(costs.forward_flops(shapes, padded), dtype=np.float64)  # type: ignore[arg-type]
        return _Work(lengths, np.zeros_like(lengths), flops, flops)  # bidirectional attention: the full T²

    work = work_of(pool)
    qwork = work_of(query) if query is not None else None

    def cost_of(lengths: np.ndarray, losses: np.ndarray) -> np.ndarray:
        padded = costs.padded_lengths(lengths, batch_size=batch, shard_size=shard_size)
        return 2.0 * np.asarray(costs.forward_flops(shapes, padded), dtype=np.float64)  # type: ignore[arg-type]

    fallback = UNCALIBRATED_CPU_MFU * matmul_flops_per_s(shapes.hidden, rows=512)
    cal = _calibrate(rep, pool, work, calibrate, batch_size=batch, fallback_rate=fallback, unit="FLOP", cost_of=cost_of)
    act = 4 * batch * max_len * 4 * shapes.hidden
    settings = {"batch_size": batch, "max_seq_length": max_len, "shard_size": shard_size, "gpus": gpus}
    return _finish(
        "embed",
        rep.model,
        pool,
        work,
        qwork,
        params=params,
        lora_params=0,
        dim=rep.dim,
        views=1,
        shard_size=shard_size,
        cal=cal,
        thr=thr,
        gpus=gpus,
        vram=2 * params + 2 * act,
        ram=4 * params + 4 * act,
        warmup=None,
        settings=settings,
        feature_dtype=kw["feature_dtype"],
        num_queries=kw["num_queries"],
    )


def _plan_lexical(
    pool: ExampleSet,
    query: ExampleSet | None,
    *,
    dim: int | None,
    shard_size: int,
    gpus: int,
    thr: dict[str, Any],
    calibrate: int,
    **kw: Any,
) -> Plan:
    from targetsel.represent.lexical import LexicalRepresentation

    rep = LexicalRepresentation(dim=dim or 4096)

    def work_of(examples: ExampleSet) -> _Work:
        words = count_text_tokens(examples, None, max_length=None, turns=rep.text_turns)
        return _Work(words, np.zeros_like(words), words.astype(np.float64), np.zeros(len(words)))

    work = work_of(pool)
    qwork = work_of(query) if query is not None else None
    cal = _calibrate(
        rep,
        pool,
        work,
        max(calibrate, 1) if calibrate else 0,
        batch_size=1,
        fallback_rate=1e6,
        unit="word",
        cost_of=lambda lengths, losses: lengths.astype(np.float64),
    )
    if calibrate == 0:
        cal["source"] = "not calibrated: 1M words/s assumed"
    settings = {"shard_size": shard_size, "ngram": rep.ngram}
    return _finish(
        "lexical",
        None,
        pool,
        work,
        qwork,
        params=0,
        lora_params=0,
        dim=rep.dim,
        views=1,
        shard_size=shard_size,
        cal=cal,
        thr=thr,
        gpus=gpus,
        vram=None,
        ram=8 * rep.dim * min(len(pool), shard_size),
        warmup=None,
        settings=settings,
        feature_dtype=kw["feature_dtype"],
        num_queries=kw["num_queries"],
    )


_BUILDERS = {"gradient": _plan_gradient, "hidden": _plan_hidden, "embed": _plan_embed, "lexical": _plan_lexical}


def human_bytes(n: float | None) -> str:
    """``1.5 GiB``-style text.

    Example:
        >>> human_bytes(3 << 20), human_bytes(None)
        ('3.0 MiB', '-')
    """
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_seconds(s: float | None) -> str:
    """``2 h 05 min``-style text.

    Example:
        >>> human_seconds(42.0), human_seconds(7500.0), human_seconds(None)
        ('42.0 s', '2 h 05 min', '-')
    """
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 86400 * 2:
        h = int(s // 3600)
        return f"{h} h {math.floor((s - 3600 * h) / 60):02d} min"
    return f"{s / 86400:.1f} d"
