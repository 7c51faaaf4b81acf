"""``targetsel plan``: time, disk and memory of each stage of a selection run, before running it.

:func:`make_plan` returns a :class:`Plan` with one :class:`Stage` per step (``warmup`` for LESS,
``encode``, ``score``, ``select``): examples and tokens, FLOPs, store bytes, peak RAM/VRAM,
seconds on this machine (calibrated on a few real examples) and GPU-hours on named GPUs.
:mod:`targetsel.plan.costs` holds the formulas, :mod:`targetsel.plan.measure` what is measured.

Example:
    >>> from targetsel.plan import make_plan
    >>> from targetsel.data import load_pool
    >>> from targetsel.demo import demo_pool_path
    >>> pool = load_pool(demo_pool_path()).select(range(20))
    >>> plan = make_plan(pool, representation="lexical", params={"dim": 128}, calibrate=4)
    >>> [s.name for s in plan.stages]
    ['encode', 'score', 'select']
"""

from __future__ import annotations

from targetsel.plan.core import Plan, Stage, human_bytes, human_seconds, make_plan, plan_params
from targetsel.plan.costs import npy_header_bytes, store_file_bytes
from targetsel.plan.measure import DEFAULT_MFU, GPU_PEAK_TFLOPS, gpu_throughput
from targetsel.plan.request import PlanRequest, modelled, plan_representations

__all__ = [
    "DEFAULT_MFU",
    "GPU_PEAK_TFLOPS",
    "Plan",
    "PlanRequest",
    "Stage",
    "gpu_throughput",
    "human_bytes",
    "human_seconds",
    "make_plan",
    "modelled",
    "npy_header_bytes",
    "plan_params",
    "plan_representations",
    "store_file_bytes",
]
