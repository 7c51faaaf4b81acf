"""The plan against a real encode: SmolLM2-135M gradient features of a demo-pool sample (slow).

The planned encode time (calibrated on 16 examples) must be within 30% of the real
``targetsel encode`` wall time of the same rows, and the planned store bytes exact.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.data import load_pool
from targetsel.demo import demo_pool_path
from targetsel.plan import make_plan

ROWS = 96


@pytest.mark.slow
def test_planned_encode_time_and_bytes_match_a_real_encode(tmp_path: Path, smollm2: str) -> None:
    lines = Path(demo_pool_path()).read_text(encoding="utf-8").splitlines()
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(lines[::25][:ROWS]) + "\n", encoding="utf-8")  # spread over the task families
    opts = {"dim": 8192, "batch_size": 8}
    t0 = time.perf_counter()
    plan = make_plan(
        load_pool(pool), representation="gradient", model="smollm2-135m", checkpoints=1, calibrate=16, params=opts
    )
    plan_s = time.perf_counter() - t0
    planned = plan.stage("encode").seconds
    store = tmp_path / "store"
    argv = [
        "encode",
        str(pool),
        "-r",
        "gradient",
        "-m",
        "smollm2-135m",
        "--store",
        str(store),
        "--quiet",
        "-p",
        "candidate_gradient=sgd",
        "-p",
        "dim=8192",
        "-p",
        "batch_size=8",
    ]
    t0 = time.perf_counter()
    assert main(argv) == 0
    real = time.perf_counter() - t0
    written = sum(p.stat().st_size for p in store.glob("*.npy"))
    print(
        f"\nplan: {planned:.1f} s planned encode ({plan_s:.1f} s to plan, "
        f"{plan.calibration['rate'] / 1e9:.1f} GFLOP/s, "
        f"load {plan.calibration['load_seconds']:.1f} s); real encode {real:.1f} s; ratio {planned / real:.2f}; "
        f"bytes planned {plan.store_bytes['float32']} written {written}"
    )
    assert written == plan.store_bytes["float32"]
    assert abs(planned - real) / real < 0.30
