"""The plan's records and their assembly: :class:`Stage`, :class:`Plan`, and the stages every
representation shares (``encode`` from its workload, ``score`` and ``select`` from the matrix size).

The per-representation planners (:mod:`targetsel.plan.lm`, :mod:`targetsel.plan.encoders`) measure
a :class:`Work` for the pool (and the query set) and hand it to :func:`finish_plan`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.plan import costs
from targetsel.plan.measure import matmul_flops_per_s

if TYPE_CHECKING:
    from targetsel.plan.request import PlanRequest

__all__ = [
    "PLAN_DEFAULTS",
    "PLAN_SETTINGS",
    "SELECT_SECONDS_PER_SCORE",
    "Plan",
    "Stage",
    "Work",
    "finish_plan",
    "gpu_time",
    "score_select_stages",
]

#: Rough seconds per score entry of one selection pass (streaming top-k admission, on this kind of CPU).
SELECT_SECONDS_PER_SCORE = 5e-9

#: Representation parameters every plan takes (``targetsel plan --dim``, ``--batch-size``,
#: ``--max-length``, ``--feature-dtype``), also for a representation without one of them.
PLAN_SETTINGS = ("dim", "batch_size", "max_length", "feature_dtype")

#: Batch size and maximum length the ``gradient`` and ``hidden`` plans assume when none is given.
PLAN_DEFAULTS: dict[str, int] = {"batch_size": 8, "max_length": 512}


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
    """What a run costs (see :func:`targetsel.plan.make_plan`); :meth:`to_dict` is the ``--json`` form."""

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
class Work:
    """One representation's encode workload: per-row cost in its calibration unit (FLOPs, or words)."""

    lengths: np.ndarray
    losses: np.ndarray
    cost: np.ndarray
    flops: np.ndarray


def gpu_time(flops: float, thr: dict[str, Any], gpus: int) -> tuple[float, float]:
    """``(GPU-hours of all GPUs together, wall seconds on gpus of them)`` of ``flops`` at ``thr``."""
    seconds = flops / thr["flops_per_s"]
    return seconds / 3600.0, seconds / gpus


def score_select_stages(n: int, m: int, dim: int, views: int, thr: dict[str, Any], gpus: int) -> list[Stage]:
    """The ``score`` and ``select`` stages of ``m`` queries × ``n`` candidates × ``dim``, ``views`` times."""
    from targetsel.settings import memory_budget

    flops = 2.0 * m * n * dim * views
    rate = matmul_flops_per_s(dim, rows=min(max(m, 1), 256))
    # the scores and candidate chunks stay within the memory budget (less when the whole matrix is smaller)
    budget = min(memory_budget(), 4 * m * n + 4 * min(n, 4096) * dim)
    query_bytes = m * dim * 4 * views
    gh, gw = gpu_time(flops, thr, gpus)
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


def finish_plan(
    kind: str,
    model: str | None,
    pool: ExampleSet,
    work: Work,
    qwork: Work | None,
    *,
    request: PlanRequest,
    params: int,
    lora_params: int,
    dim: int,
    feature_dtype: str,
    views: int,
    cal: dict[str, Any],
    thr: dict[str, Any],
    vram: int | None,
    ram: int | None,
    warmup: Stage | None,
    settings: dict[str, Any],
) -> Plan:
    """The :class:`Plan` of one representation: its encode stage from ``work`` (and ``qwork``), then
    score and select; ``views`` stores and scoring passes (the LESS checkpoints, else 1)."""
    from targetsel.store import FEATURE_DTYPES

    shard_size, gpus = request.shard_size, request.gpus
    n = len(pool)
    m = len(qwork.lengths) if qwork is not None else request.num_queries
    store = {dt: views * costs.store_file_bytes(n, dim, dt, shard_size=shard_size) for dt in FEATURE_DTYPES}
    qstore = views * costs.store_file_bytes(m, dim, "float32", shard_size=shard_size) if qwork is not None else 0
    cost = float(work.cost.sum()) + (float(qwork.cost.sum()) if qwork is not None else 0.0)
    flops = views * (float(work.flops.sum()) + (float(qwork.flops.sum()) if qwork is not None else 0.0))
    seconds = views * (cal["load_seconds"] + cost / cal["rate"])
    on_gpu = kind != "lexical"
    gh, gw = gpu_time(flops, thr, gpus) if on_gpu else (None, None)
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
    stages = ([warmup] if warmup is not None else []) + [encode] + score_select_stages(n, m, dim, views, thr, gpus)
    return Plan(
        representation=kind,
        model=model,
        examples=n,
        tokens=int(work.lengths.sum()),
        loss_tokens=int(work.losses.sum()),
        params=params,
        lora_params=lora_params,
        dim=dim,
        feature_dtype=feature_dtype,
        checkpoints=views,
        queries=m,
        store_bytes=store,
        query_store_bytes=qstore,
        stages=stages,
        gpu=thr,
        calibration=cal,
        settings=settings,
    )
