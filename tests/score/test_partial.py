"""One rank's share of a scoring pass, merged over the ranks, equals the one-process pass bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from targetsel.errors import InvalidDataError
from targetsel.pipeline import run_selection
from targetsel.score import score
from targetsel.score.partial import merge_partials, score_rows
from targetsel.score.ranks import RankGroup, _view_ranges
from targetsel.store import EncodedFeatures, InMemoryFeatures, RowSubset

FIELDS = ("topk_indices", "topk_values", "cand_max", "cand_argmax", "cand_mean")


def _split(n: int, shard: int, world: int) -> list[list[list[int]]]:
    """Rank ``r``'s rows: shards ``i`` with ``i % world == r``, as torchrun splits a store."""
    out: list[list[list[int]]] = [[] for _ in range(world)]
    for i, a in enumerate(range(0, n, shard)):
        out[i % world].append([a, min(n, a + shard)])
    return out


def _same(a, b, top_k) -> None:
    if top_k is None:
        assert np.array_equal(a.matrix, b.matrix)
        return
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and np.array_equal(x, y), f


def _data(m: int, n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q, x = rng.normal(size=(m, d)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32)
    x[n // 2 :: 97] = x[: len(x[n // 2 :: 97])]  # duplicated rows: exact ties across ranks
    return q, x


@pytest.mark.parametrize(
    ("m", "n", "shard", "world"),
    [(3, 50, 7, 3), (20, 9000, 4096, 2), (20, 9000, 1000, 3), (600, 5000, 333, 2), (5, 30, 100, 3)],
)
@pytest.mark.parametrize("top_k", [None, 1, 9])
def test_ranks_merge_to_the_one_process_scores(m, n, shard, world, top_k):
    """Shard sizes off the 4096-candidate blocks, more than 512 queries, a rank with no rows, ties."""
    q, x = _data(m, n, 16)
    parts = [score_rows(q, x, r, top_k=top_k, chunk_rows=5000) for r in _split(n, shard, world)]
    _same(merge_partials(parts, top_k=top_k), score(q, x, top_k=top_k), top_k)


def test_rescore_with_used_rows_and_several_views():
    """Round-robin's refill: the used rows excluded (-inf, listed last by index), two weighted views."""
    q1, x1 = _data(7, 9000, 12, 1)
    q2, x2 = _data(7, 9000, 20, 2)
    used = np.random.default_rng(3).random(9000) < 0.7
    used[4096:8192] = True  # one rank's rows all used: its blocks are skipped, as in one process
    kw = {"weights": [0.3, 0.7], "top_k": 2500, "exclude": used}
    parts = [score_rows([q1, q2], [x1, x2], r, **kw) for r in _split(9000, 4096, 2)]
    _same(merge_partials(parts, top_k=2500), score([q1, q2], [x1, x2], **kw), 2500)


@pytest.mark.parametrize("dtype", ["int8", "bit"])
@pytest.mark.parametrize("query_dtype", ["float", "same"])
def test_compressed_stores(dtype, query_dtype):
    q, x = _data(9, 6000, 40)
    xe = EncodedFeatures.from_float(x, dtype)
    qd = dtype if query_dtype == "same" else "float"
    parts = [score_rows(q, xe, r, top_k=5, query_dtype=qd) for r in _split(6000, 1500, 3)]
    _same(merge_partials(parts, top_k=5), score(q, xe, top_k=5, query_dtype=qd), 5)


def test_decontaminated_pool_rows_map_to_each_ranks_shards():
    """The clean pool (a row subset) is scored by the owners of the rows it keeps."""
    q, x = _data(6, 9000, 16)
    keep = np.flatnonzero(np.random.default_rng(4).random(9000) > 0.1)
    sub = RowSubset(InMemoryFeatures(x), keep)
    ranges = [_view_ranges(np.asarray(r, np.int64).reshape(-1, 2), keep) for r in _split(9000, 4096, 2)]
    parts = [score_rows(q, sub, r, top_k=30) for r in ranges]
    _same(merge_partials(parts, top_k=30), score(q, sub, top_k=30), 30)


def test_merge_refuses_rows_scored_twice_or_not_at_all():
    q, x = _data(2, 40, 4)
    a, b = score_rows(q, x, [[0, 20]]), score_rows(q, x, [[10, 40]])
    with pytest.raises(InvalidDataError, match="exactly once"):
        merge_partials([a, b], top_k=None)
    with pytest.raises(InvalidDataError, match="exactly once"):
        merge_partials([a], top_k=None)


@pytest.mark.parametrize(
    ("method", "params", "top_k"),
    [
        ("round_robin", {}, 8),
        ("knn_kde", {"max_neighbors": 40, "kde_neighbors": 8}, 40),
        ("uot", {"solver": "stream", "max_iter": 10}, 4),
        ("quantiles", {"q": 2, "n": 5}, 4),
    ],
)
def test_one_rank_group_runs_the_ranked_path(tmp_path, method, params, top_k):
    """The rank machinery in one process (no process group): commands, row fetches, sweeps; same ranking."""
    from targetsel.data import ExampleSet
    from targetsel.represent import LexicalRepresentation

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    pool = ExampleSet.from_records([{"prompt": " ".join(rng.choice(words, 6)), "completion": "a"} for _ in range(300)])
    queries = ExampleSet.from_records([{"prompt": " ".join(rng.choice(words, 6)), "completion": "b"} for _ in range(4)])
    kw = {"method": method, "method_params": params, "budgets": [10], "top_k": top_k, "decontaminate": False}
    rep = LexicalRepresentation(dim=32)
    one = run_selection(pool, queries, rep, store_dir=tmp_path, **kw).ranking
    with RankGroup(0, 1) as group:
        ranked = run_selection(pool, queries, rep, store_dir=tmp_path, ranks=group, **kw).ranking
    assert group.row_ranges == [[[0, 300]]]
    for f in ("indices", "query_index", "scores"):
        assert np.array_equal(getattr(one, f), getattr(ranked, f), equal_nan=True)
