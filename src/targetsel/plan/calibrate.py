"""The calibration of this machine: a few real pool rows timed through the representation itself.

:func:`calibration` turns the time of a length-stratified sample (:func:`calibration_sample`) into a
rate in the representation's cost unit (FLOP/s, or words/s), which the planners divide into the
whole pool's cost.
"""

from __future__ import annotations

import resource
import sys
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.plan.measure import matmul_flops_per_s, time_rows
from targetsel.plan.stages import Work

__all__ = ["UNCALIBRATED_CPU_MFU", "calibration", "calibration_sample", "max_rss", "uncalibrated_rate"]

#: Assumed share of this machine's float32 matmul speed that the model passes reach without calibration
#: (the CPU figure of bench/gpu_bench.py: 0.38-0.48).
UNCALIBRATED_CPU_MFU = 0.4


def calibration_sample(lengths: np.ndarray, k: int, batch_size: int) -> list[int]:
    """The calibration sample: ``k`` rows in groups of ``batch_size`` neighbours in length order.

    Each group sits at an evenly spaced quantile of the lengths, so it is a batch like the ones a
    length-sorted shard forms (little padding), and the groups together span short and long rows.

    Example:
        >>> calibration_sample(np.array([5, 1, 4, 2, 3, 6]), 2, 2)
        [4, 2]
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


def max_rss() -> int:
    """The peak resident memory of this process so far, in bytes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def uncalibrated_rate(hidden: int) -> float:
    """FLOP/s assumed for a model of width ``hidden`` when nothing is timed (a share of a matmul here)."""
    return UNCALIBRATED_CPU_MFU * matmul_flops_per_s(hidden, rows=512)


def calibration(
    rep: Any, pool: ExampleSet, work: Work, k: int, *, batch_size: int, fallback_rate: float, unit: str, cost_of: Any
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
    idx = calibration_sample(work.lengths, k, batch_size)
    load_s, run_s = time_rows(rep, pool.select(idx), "candidate")
    sample_cost = float(np.sum(cost_of(work.lengths[idx], work.losses[idx])))
    rep.release()
    return {
        "rate": sample_cost / max(run_s, 1e-9),
        "unit": unit,
        "load_seconds": load_s,
        "examples": len(idx),
        "sample_seconds": run_s,
        "max_rss_bytes": max_rss(),
        "source": f"{len(idx)} pool examples timed through the {rep.name} representation here",
    }
