"""``torchrun -m targetsel select``: the same files as one process; bad input is one line from rank 0, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from targetsel.cli import main
from torchrun_launch import launch, torchrun, write_pool


def _args(pool: Path, q: Path, out: Path, stores: str, *extra: str) -> list[str]:
    return ["select", "--pool", str(pool), "--query", str(q), "-r", "lexical", "-p", "dim=64", "--method",
            "round_robin", "--top-k", "8", "--budgets", "100,250", "-o", str(out), "--store-dir", stores,
            "--quiet", *extra]  # fmt: skip


def test_torchrun_select_writes_what_one_process_writes(tmp_path):
    """Two ranks, a store directory each (``{rank}``); round-robin refills its windows through both."""
    pool, q, _ = write_pool(tmp_path / "data", 9000)
    two = torchrun(_args(pool, q, tmp_path / "two", str(tmp_path / "stores" / "rank-{rank}")), 2, TARGETSEL_LOG="INFO")
    assert two.returncode == 0, two.stderr[-4000:]
    assert "[rank 1] INFO" in two.stderr and "[rank 0] INFO" in two.stderr  # logs say the rank
    assert main(_args(pool, q, tmp_path / "one", str(tmp_path / "single-stores"))) == 0
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file())
    assert len(files) >= 5
    for name in files:
        a, b = (tmp_path / "one" / name).read_bytes(), (tmp_path / "two" / name).read_bytes()
        if name.name != "selection.json":
            assert a == b, f"{name} differs"
            continue
        one, ranked = json.loads(a), json.loads(b)
        record = ranked.pop("distributed")
        assert one == ranked, f"{name} differs"
        assert record == {"world_size": 2, "row_ranges": [[[0, 4096], [8192, 9000]], [[4096, 8192]]]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--budgets", "99999"], "exceeds the pool size"), (["--no-store"], "drop --no-store")],
    ids=["budget", "no-store"],
)
def test_torchrun_select_bad_input(tmp_path, extra, message):
    pool, q, _ = write_pool(tmp_path / "data", 300)
    args = _args(pool, q, tmp_path / "out", str(tmp_path / "stores"))
    args = args[: args.index("--budgets")] + args[args.index("--budgets") + 2 :] + extra
    if "--budgets" not in extra:
        args += ["--budget", "10"]
    runs = launch(["-m", "targetsel", *args], 2)
    assert [r.returncode for r in runs] == [2, 2], [r.stderr for r in runs]
    lines = runs[0].stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("targetsel: error:") and message in lines[0], runs[0].stderr
    assert runs[1].stderr == ""  # the other rank says nothing: rank 0 has said it
    assert not (tmp_path / "out").exists()
