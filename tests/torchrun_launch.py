"""Helpers of the torchrun tests: start N ranks as torchrun would, and a small pool with ties and a contaminated row.

:func:`launch` starts each rank as its own process with torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), so every rank's exit status and
stderr can be checked; :func:`torchrun` runs the real launcher.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RankRun:
    rank: int
    returncode: int
    stdout: str
    stderr: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rank_env(rank: int, world: int, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", TARGETSEL_QUIET="1", **extra)
    env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return env


def launch(argv: list[str], world: int, *, timeout: float = 240, cwd: Path | None = None, **env: str) -> list[RankRun]:
    """Run ``python argv...`` as ``world`` ranks of one job; every rank's result, by rank."""
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, *argv],
            env=rank_env(r, world, port, **env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(world)
    ]
    out = []
    try:
        for r, p in enumerate(procs):
            stdout, stderr = p.communicate(timeout=timeout)
            out.append(RankRun(r, p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return out


def torchrun(args: list[str], nproc: int, *, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node nproc -m targetsel args...`` on this machine."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "targetsel", *args]  # fmt: skip
    full = dict(os.environ, OMP_NUM_THREADS="1", **env)
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout)


def write_pool(folder: Path, rows: int, *, seed: int = 0) -> tuple[Path, Path, Path]:
    """A pool of short word rows (duplicated rows in other shards: exact score ties; one row a copy of
    a query: removed by decontamination), a query set of 12 and a second one of 6.

    Returns:
        ``(pool, queries, other queries)`` JSONL paths.
    """
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    pool = [
        {
            "id": f"r{i}",
            "prompt": text(rng.randint(3, 12)),
            "completion": rng.choice(words),
            "source": rng.choice("abc"),
        }
        for i in range(rows)
    ]
    for i in range(0, rows, 97):  # the same row again half a pool further: identical features
        j = (i + rows // 2) % rows
        pool[j] = {**pool[i], "id": f"r{j}"}
    queries = [{"id": f"q{i}", "prompt": text(10), "completion": "a"} for i in range(12)]
    other = [{"id": f"o{i}", "prompt": text(9), "completion": "b"} for i in range(6)]
    pool[rows // 2 + 3] = {**queries[3], "id": f"r{rows // 2 + 3}", "source": "a"}  # contaminated
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in (("pool", pool), ("q", queries), ("other", other)):
        p = folder / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in data))
        paths.append(p)
    return paths[0], paths[1], paths[2]
