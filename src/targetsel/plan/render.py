"""The plan as rich tables: a summary, one row per stage, and the store size of every feature dtype."""

from __future__ import annotations

from typing import Any

from targetsel.plan.stages import Plan
from targetsel.plan.units import human_bytes, human_seconds

__all__ = ["plan_tables"]


def _count(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _gpu_time(hours: float | None) -> str:
    """GPU-hours as a duration (``--json`` keeps the number of hours)."""
    return "-" if hours is None else human_seconds(hours * 3600.0)


def plan_tables(plan: Plan) -> list[Any]:
    """Three ``rich`` tables for ``plan``: summary, stages, store bytes per dtype.

    Example:
        >>> from targetsel.plan import make_plan
        >>> from targetsel.data import ExampleSet
        >>> pool = ExampleSet.from_records([{"prompt": "add 2 and 3", "completion": "5"}] * 3)
        >>> [t.title for t in plan_tables(make_plan(pool, representation="lexical", params={"dim": 16}, calibrate=1))]
        ['plan: lexical', 'stages', 'feature stores']
    """
    from rich.table import Table

    gpu = plan.gpu
    gpu_text = (
        f"{plan.settings.get('gpus', 1)} × {gpu['gpu'].upper()} ({gpu['peak_tflops']:.0f} TFLOP/s bf16, "
        f"MFU {gpu['mfu']:.2f}: {gpu['mfu_source']})"
    )
    cal = plan.calibration
    rate = f"{cal['rate'] / 1e9:.1f} GFLOP/s" if cal["unit"] == "FLOP" else f"{cal['rate']:.0f} {cal['unit']}s/s"
    summary = Table(title=f"plan: {plan.representation}", show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("value")
    rows = [
        ("model", plan.model or "-"),
        ("pool", f"{plan.examples:,} examples, {plan.tokens:,} tokens ({plan.loss_tokens:,} with loss)"),
        ("queries", f"{plan.queries:,}"),
        ("parameters", f"{plan.params:,} (LoRA {plan.lora_params:,})" if plan.params else "-"),
        ("features", f"{plan.dim} × {plan.feature_dtype}, {plan.checkpoints} store(s)"),
        ("this machine", f"{rate} ({cal['source']}); model load {cal['load_seconds']:.1f} s"),
        ("GPUs", gpu_text),
    ]
    for k, v in rows:
        summary.add_row(k, v)
    stages = Table(title="stages")
    stages.add_column("", style="bold")
    for s in plan.stages:
        stages.add_column(s.name, justify="right")
    stages.add_column("total", justify="right", style="bold")
    total_s = sum(s.seconds for s in plan.stages)
    total_gh = sum(s.gpu_hours or 0.0 for s in plan.stages)
    total_gw = sum(s.gpu_wall_seconds or 0.0 for s in plan.stages)
    lines: list[tuple[str, list[str], str]] = [
        ("examples", [f"{s.examples:,}" for s in plan.stages], ""),
        ("tokens", [f"{s.tokens:,}" if s.tokens else "-" for s in plan.stages], ""),
        (
            "FLOPs",
            [_count(s.flops) if s.flops else "-" for s in plan.stages],
            _count(sum(s.flops for s in plan.stages)),
        ),
        ("store", [human_bytes(s.store_bytes) if s.store_bytes else "-" for s in plan.stages], ""),
        ("peak RAM", [human_bytes(s.peak_ram_bytes) for s in plan.stages], ""),
        ("peak VRAM", [human_bytes(s.peak_vram_bytes) for s in plan.stages], ""),
        ("this machine", [human_seconds(s.seconds) for s in plan.stages], human_seconds(total_s)),
        ("GPU time, sum", [_gpu_time(s.gpu_hours) for s in plan.stages], _gpu_time(total_gh)),
        (
            f"wall, {plan.settings.get('gpus', 1)} GPU(s)",
            [human_seconds(s.gpu_wall_seconds) for s in plan.stages],
            human_seconds(total_gw),
        ),
    ]
    for label, cells, total in lines:
        stages.add_row(label, *cells, total)
    store = Table(title="feature stores")
    store.add_column("dtype")
    store.add_column("pool stores", justify="right")
    store.add_column("bytes", justify="right")
    for dt, n in plan.store_bytes.items():
        mark = " (chosen)" if dt == plan.feature_dtype else ""
        store.add_row(dt + mark, human_bytes(n), f"{n:,}")
    if plan.query_store_bytes:
        store.add_row("queries (float32)", human_bytes(plan.query_store_bytes), f"{plan.query_store_bytes:,}")
    return [summary, stages, store]
