"""Crash safety: SIGKILL at random moments never leaves a partial shard or a truncated export,
and a rerun finishes with bytes identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from targetsel.store import FeatureStore

WORDS = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "sort",
    "reverse",
    "string",
    "list",
    "date",
    "month",
    "year",
    "city",
    "river",
    "code",
    "python",
]


def make_pool(path: Path, n: int) -> Path:
    rng = random.Random(0)
    with path.open("w") as fh:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
            fh.write(
                json.dumps(
                    {
                        "id": f"r{i}",
                        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": str(i)}],
                    }
                )
                + "\n"
            )
    return path


def run(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "targetsel", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def shard_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("shard-*.npy"))}


@pytest.mark.slow  # default suite time; .ci/slow runs it
def test_encode_killed_ten_times_resumes_to_identical_store(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool.jsonl", 12_000)
    env = {**os.environ, "TARGETSEL_CACHE": str(tmp_path / "cache")}
    base = ["encode", str(pool), "-r", "lexical", "--param", "dim=256", "--shard-size", "500", "-q"]
    ref = run([*base, "--store", str(tmp_path / "ref")], env)
    assert ref.wait(timeout=300) == 0
    rng = random.Random(1)
    store = tmp_path / "killed"
    kills = 0
    for _ in range(10):
        proc = run([*base, "--store", str(store)], env)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if (store / "manifest.json").exists():
            fs = FeatureStore.open(store, require_complete=False)
            for i in range(fs.num_shards):
                if fs.shard_path(i).exists():  # every visible shard is complete and readable
                    lo, hi = fs.shard_range(i)
                    assert fs.read_shard(i).shape == (hi - lo, 256)
    assert kills >= 3, "the runs finished before they could be killed; make the pool larger"
    final = run([*base, "--store", str(store)], env)
    assert final.wait(timeout=300) == 0
    assert not list(store.glob(".*.tmp")), "temporaries of killed writers are removed by the rerun"
    assert shard_bytes(store) == shard_bytes(tmp_path / "ref")
    np.testing.assert_array_equal(FeatureStore.open(store).to_array(), FeatureStore.open(tmp_path / "ref").to_array())


@pytest.mark.slow
def test_select_export_killed_leaves_previous_or_complete_output(tmp_path: Path) -> None:
    pool = make_pool(tmp_path / "pool.jsonl", 40_000)
    query = make_pool(tmp_path / "q.jsonl", 20)
    env = {**os.environ, "TARGETSEL_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "out"
    args = [
        "select",
        "--pool",
        str(pool),
        "--query",
        str(query),
        "--budget",
        "40000",
        "-r",
        "lexical",
        "--no-store",
        "-o",
        str(out),
        "-q",
    ]
    assert run(args, env).wait(timeout=300) == 0
    expected = (out / "subset.jsonl").read_bytes()
    rng = random.Random(2)
    for _ in range(10):
        proc = run(args, env)
        time.sleep(rng.uniform(1.0, 8.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert (out / "subset.jsonl").read_bytes() == expected  # the previous output, never a truncated one
        assert json.loads((out / "selection.json").read_text())["budget"] == 40_000
