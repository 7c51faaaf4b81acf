"""Selection under torchrun (gloo, CPU): each rank scores its shards; the result equals one process's.

Each test starts the ranks as torchrun does (one process per rank, its environment set) and runs
``ranks_script.py``; the one-process references are computed here with the same stores.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from targetsel.data import load_pool, load_queries
from targetsel.pipeline import run_selection
from targetsel.progress import set_quiet
from targetsel.represent import LexicalRepresentation
from torchrun_launch import launch, write_pool

SCRIPT = str(Path(__file__).with_name("ranks_script.py"))

#: Every selector, on the forms that exercise a distributed pass: streaming lists and column statistics,
#: round-robin refills (the used mask), knn's re-score with a larger top_k, rows fetched from their
#: owners (kernel densities, dedup), chunked sweeps (streaming Sinkhorn, decontamination by features).
RUNS = [
    {"name": "rr-dense", "method": "round_robin", "budgets": [40]},
    {"name": "rr-refills", "method": "round_robin", "budgets": [150, 300], "top_k": 8},
    {"name": "dg", "method": "doubly_greedy", "budgets": [100], "top_k": 1},
    {"name": "mean", "method": "mean_sim", "budgets": [100], "top_k": 1},
    {"name": "knn-uniform", "method": "knn_uniform", "method_params": {"max_neighbors": 400}, "budgets": [50],
     "top_k": 16},
    {"name": "knn-kde", "method": "knn_kde", "method_params": {"max_neighbors": 48, "kde_neighbors": 16},
     "budgets": [50], "top_k": 48},
    {"name": "uot", "method": "uot", "method_params": {"solver": "stream", "max_iter": 20}, "budgets": [50],
     "top_k": 4},
    {"name": "quantiles", "method": "quantiles", "method_params": {"q": 3, "n": 10}, "budgets": [30], "top_k": 8},
    {"name": "random", "method": "random", "budgets": [50]},
    {"name": "dedup", "method": "round_robin", "budgets": [100], "top_k": 8, "dedup": {"threshold": 0.9}},
    {"name": "decon-features", "method": "doubly_greedy", "budgets": [60], "top_k": 1,
     "decontaminate_by": ["ngram", "features:0.97"]},
    {"name": "mix", "method": "round_robin", "budgets": [60], "top_k": 8, "mix": "weights:a=2,b=1",
     "queries": "mix"},
]  # fmt: skip


def _config(tmp: Path, pool: Path, q: Path, other: Path, store_dir: str, runs: list[dict]) -> Path:
    runs = [{**r, "queries": {"a": str(q), "b": str(other)}} if r.get("queries") == "mix" else r for r in runs]
    cfg = {"pool": str(pool), "queries": str(q), "store_dir": store_dir, "rep": {"dim": 64},
           "output": str(tmp / "ranked"), "runs": runs}  # fmt: skip
    path = tmp / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def _reference(tmp: Path, pool: Path, q: Path, other: Path, store_dir: Path, runs: list[dict]) -> None:
    import sys

    sys.path.insert(0, str(Path(SCRIPT).parent))
    from ranks_script import selection_kwargs

    set_quiet(True)
    es = load_pool(pool)
    for run in runs:
        queries = {"a": load_queries(q), "b": load_queries(other)} if run.get("queries") == "mix" else load_queries(q)
        out = tmp / "single" / run["name"]
        r = run_selection(es, queries, LexicalRepresentation(dim=64), store_dir=store_dir, output=out,
                          **selection_kwargs(run)).ranking  # fmt: skip
        np.savez(out / "ranking.npz", indices=r.indices, query_index=r.query_index, scores=r.scores)


def _same_outputs(a: Path, b: Path) -> None:
    """Every file the selection wrote is the same, byte for byte (``selection.json``: but its ``distributed``)."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name != "ranks.json")
    for name in names:
        if name.name == "selection.json":
            sa, sb = json.loads((a / name).read_text()), json.loads((b / name).read_text())
            sb.pop("distributed", None)
            assert sa == sb, f"{name} differs"
        elif name.suffix == ".npz":
            x, y = np.load(a / name), np.load(b / name)
            for k in x.files:
                assert np.array_equal(x[k], y[k], equal_nan=True), f"{name}:{k} differs"
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"


def _check_cover(row_ranges: list[list[list[int]]], n: int) -> None:
    spans = sorted(tuple(r) for ranges in row_ranges for r in ranges)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans)), spans


def test_two_ranks_every_selector_equals_one_process(tmp_path):
    """9000 rows = 3 shards of 4096: rank 0 scores shards 0 and 2, rank 1 shard 1 (one store directory)."""
    pool, q, other = write_pool(tmp_path / "data", 9000)
    stores = tmp_path / "stores"
    _reference(tmp_path, pool, q, other, stores, RUNS)
    before = {p: p.stat().st_mtime_ns for p in stores.rglob("shard-*.npy")}
    runs = launch([SCRIPT, str(_config(tmp_path, pool, q, other, str(stores), RUNS))], 2)
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-3000:] + runs[1].stderr[-3000:]
    # the stores the one-process run wrote are the ones every rank read: none written again
    assert {p: p.stat().st_mtime_ns for p in stores.rglob("shard-*.npy")} == before
    for run in RUNS:
        _same_outputs(tmp_path / "single" / run["name"], tmp_path / "ranked" / run["name"])
    info = json.loads((tmp_path / "ranked" / "rr-dense" / "ranks.json").read_text())
    assert info["world"] == 2 and info["row_ranges"] == [[[0, 4096], [8192, 9000]], [[4096, 8192]]]
    _check_cover(info["row_ranges"], 9000)
    for run in RUNS:  # selection.json records the world size and the rows each rank scored
        for sel in (tmp_path / "ranked" / run["name"]).rglob("selection.json"):
            assert json.loads(sel.read_text())["distributed"] == {"world_size": 2, "row_ranges": info["row_ranges"]}


def test_three_ranks_own_directories_one_rank_without_shards(tmp_path):
    """5000 rows = 2 shards over 3 ranks, each rank with its own store directory: rank 2 scores nothing,
    and rank 0 holds only shard 0 (the densities and dedup read rank 1's rows through it)."""
    pool, q, other = write_pool(tmp_path / "data", 5000, seed=1)
    runs_cfg = [r for r in RUNS if r["name"] in ("rr-refills", "knn-kde", "dedup", "uot")]
    _reference(tmp_path, pool, q, other, tmp_path / "single-stores", runs_cfg)
    cfg = _config(tmp_path, pool, q, other, str(tmp_path / "stores" / "rank-{rank}"), runs_cfg)
    runs = launch([SCRIPT, str(cfg)], 3)
    assert [r.returncode for r in runs] == [0, 0, 0], "\n".join(r.stderr[-2000:] for r in runs)
    for run in runs_cfg:
        _same_outputs(tmp_path / "single" / run["name"], tmp_path / "ranked" / run["name"])
    info = json.loads((tmp_path / "ranked" / "knn-kde" / "ranks.json").read_text())
    assert info["row_ranges"] == [[[0, 4096]], [[4096, 5000]], []]
    # each rank wrote only its own shards of the pool (rank 0 also holds the query set's store)
    pools = {r: sorted(p.name for p in (tmp_path / "stores" / f"rank-{r}").glob("lexical-candidate-*/shard-*.npy"))
             for r in range(3)}  # fmt: skip
    assert pools == {0: ["shard-00000.npy"], 1: ["shard-00001.npy"], 2: []}


def test_a_rank_that_fails_is_reported_by_rank_0(tmp_path):
    """Rank 1's store directory cannot be made: rank 0 names rank 1's error, no rank hangs, nothing is written."""
    pool, q, other = write_pool(tmp_path / "data", 5000)
    (tmp_path / "stores").mkdir()
    (tmp_path / "stores" / "rank-1").write_text("not a directory")
    cfg = _config(tmp_path, pool, q, other, str(tmp_path / "stores" / "rank-{rank}"), RUNS[:1])
    runs = launch([SCRIPT, str(cfg)], 2)
    assert [r.returncode for r in runs] == [2, 2]
    assert "rank 1:" in runs[0].stderr and runs[1].stderr == ""
    assert not (tmp_path / "ranked").exists()


def test_checkpoint_views_reuse_the_one_process_stores(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    """LESS with two checkpoints: the ranked path finds the stores a one-process run wrote (one per
    checkpoint, the same names), writes none, and ranks on the two weighted views identically."""
    from targetsel.cli._common import representation_from_cli
    from targetsel.score.ranks import RankGroup

    rep = representation_from_cli("gradient", str(tiny_llama_dir), ["dim=128", "max_length=64"], [tiny_warmup_dir])
    pool, queries = tiny_pool.select(range(12)), tiny_pool.select(range(30, 33))
    kw = {"budgets": [6], "top_k": 3, "decontaminate": False, "store_dir": tmp_path}
    one = run_selection(pool, queries, rep, **kw).ranking
    shards = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("shard-*.npy")}
    with RankGroup(0, 1) as group:
        ranked = run_selection(pool, queries, rep, ranks=group, **kw).ranking
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("shard-*.npy")} == shards
    assert len(list(tmp_path.glob("gradient-candidate-*"))) == 2
    assert np.array_equal(one.indices, ranked.indices) and np.array_equal(one.scores, ranked.scores)
