"""Feature views, the two score forms behind one protocol, the memory-budget setting, and what the
pipeline does with a selector's declared needs."""

from __future__ import annotations

import numpy as np
import pytest

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score import DenseScores, FeatureViews, Scores, StreamingScores, score
from targetsel.settings import DEFAULT_MEMORY_BYTES, MEMORY_ENV, memory_budget, window_entries
from targetsel.store.viewset import ViewSet


def test_the_two_score_forms() -> None:
    dense = DenseScores(1, 2, matrix=np.zeros((1, 2), np.float32))
    assert dense.is_dense and dense.top_k is None
    stream = StreamingScores(
        1,
        2,
        topk_indices=np.zeros((1, 1), np.int64),
        topk_values=np.zeros((1, 1), np.float32),
        cand_max=np.zeros(2, np.float32),
        cand_argmax=np.zeros(2, np.int64),
        cand_mean=np.zeros(2, np.float32),
    )
    assert not stream.is_dense and stream.top_k == 1
    with pytest.raises(ConfigurationError, match="top_k"):
        stream.dense()
    with pytest.raises(TypeError):
        Scores(1, 2, matrix=np.zeros((1, 2), np.float32))  # the protocol: build a form


def test_view_sets_check_their_views() -> None:
    side = ViewSet.of([np.eye(4, 3), np.ones((4, 2))], [0.25, 0.75])
    assert (side.n_rows, len(side), side.weights) == (4, 2, (0.25, 0.75))
    assert list(side) == list(side.sources)
    assert ViewSet.of([np.eye(4), np.eye(4)]).weights == (0.5, 0.5)
    with pytest.raises(ConfigurationError, match="one weight per view"):
        ViewSet.of(np.eye(4), [0.5, 0.5])
    with pytest.raises(ConfigurationError, match="finite"):
        ViewSet.of(np.eye(4), [float("nan")])
    with pytest.raises(InvalidDataError, match="rows"):
        ViewSet.of([np.eye(4), np.eye(3)])
    sub = side.subset(np.array([1, 3]))
    np.testing.assert_array_equal(sub.sources[0].to_array(), np.eye(4, 3)[[1, 3]])
    assert sub.weights == side.weights


def test_view_sets_stack_rows() -> None:
    a = ViewSet.of([np.eye(2, 3), np.ones((2, 2))], [0.25, 0.75])
    b = ViewSet.of([np.zeros((3, 3)), np.full((3, 2), 2.0)], [0.25, 0.75])
    both = ViewSet.stack([a, b])
    assert both.n_rows == 5 and both.weights == a.weights
    np.testing.assert_array_equal(both.sources[1].to_array()[2:], np.full((3, 2), 2.0, np.float32))
    assert ViewSet.stack([a]) is a
    with pytest.raises(ConfigurationError, match="weights"):
        ViewSet.stack([a, ViewSet.of([np.eye(2, 3), np.ones((2, 2))])])


def test_views_check_weights_once_and_rescore_like_score() -> None:
    rng = np.random.default_rng(0)
    q, x = rng.normal(size=(3, 6)), rng.normal(size=(80, 6))
    with pytest.raises(ConfigurationError, match="weights differ"):
        FeatureViews(ViewSet.of(q), ViewSet.of(x, [0.5]))
    views = FeatureViews(ViewSet.of(q), ViewSet.of(x), chunk_rows=10)
    assert views.memory_bytes == memory_budget() and views.weights == (1.0,)
    exclude = np.zeros(80, dtype=bool)
    exclude[[0, 5, 79]] = True
    got = views.rescore(top_k=7, exclude=exclude)
    ref = score(q, x, top_k=7, exclude=exclude)
    np.testing.assert_array_equal(got.topk_indices, ref.topk_indices)
    np.testing.assert_array_equal(got.topk_values, ref.topk_values)
    full = score(q, x).dense()
    chunks = np.concatenate([b.copy() for _, b in views.chunks(4096)], axis=1)
    np.testing.assert_array_equal(chunks, full)
    assert views.provenance(None) == score(q, x).provenance
    candidates_only = FeatureViews(None, ViewSet.of(x))
    assert candidates_only.n_queries is None and candidates_only.n_candidates == 80
    with pytest.raises(ConfigurationError, match="query features"):
        candidates_only.score()


def test_memory_budget_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    assert memory_budget() == DEFAULT_MEMORY_BYTES and window_entries() == 1 << 24
    monkeypatch.setenv(MEMORY_ENV, str(1 << 20))
    assert memory_budget() == 1 << 20 and window_entries() == 1 << 14
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(ConfigurationError, match=MEMORY_ENV):
        memory_budget()
    with pytest.raises(ConfigurationError, match="memory_bytes"):
        memory_budget(0)


def test_random_needs_no_scoring_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import demo_pool_path, demo_query_path
    from targetsel.pipeline import run_selection
    from targetsel.represent import LexicalRepresentation

    pool, query = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    rep = LexicalRepresentation(dim=256)
    scored = run_selection(pool, query, rep, method="round_robin", budgets=[10])
    calls: list[int | None] = []
    original = FeatureViews.score

    def counting(self: FeatureViews, top_k: int | None = None, *, desc: str = "score") -> Scores:
        calls.append(top_k)
        return original(self, top_k, desc=desc)

    monkeypatch.setattr(FeatureViews, "score", counting)
    result = run_selection(pool, query, rep, method="random", budgets=[10])
    assert calls == [] and result.provenance == dict(scored.scores.provenance)
    assert result.summaries[0]["budget"] == 10 and calls == [None]  # scored only when the summary is read


def test_doubly_greedy_query_index_is_the_first_argmax() -> None:
    rng = np.random.default_rng(3)
    s = (rng.integers(0, 5, size=(9, 300)) / 4).astype(np.float32)  # ties in the maxima
    from targetsel.select import select

    r = select(s, "doubly_greedy", budget=300)
    assert r.query_index.tolist() == s[:, r.indices].argmax(axis=0).tolist()
    assert r.indices.tolist() == np.argsort(-s.max(axis=0), kind="stable").tolist()
