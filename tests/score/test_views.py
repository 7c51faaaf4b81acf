"""Feature views, the two score forms behind one protocol, the memory-budget setting, and what the
pipeline does with a selector's declared needs."""

from __future__ import annotations

import numpy as np
import pytest

from targetsel.errors import ConfigurationError
from targetsel.score import DenseScores, FeatureViews, Scores, StreamingScores, score
from targetsel.settings import DEFAULT_MEMORY_BYTES, MEMORY_ENV, memory_budget, window_entries


def test_scores_constructor_builds_the_matching_form() -> None:
    dense = Scores(1, 2, matrix=np.zeros((1, 2), np.float32))
    assert isinstance(dense, DenseScores) and dense.is_dense and dense.top_k is None
    stream = Scores(
        1,
        2,
        topk_indices=np.zeros((1, 1), np.int64),
        topk_values=np.zeros((1, 1), np.float32),
        cand_max=np.zeros(2, np.float32),
        cand_argmax=np.zeros(2, np.int64),
        cand_mean=np.zeros(2, np.float32),
    )
    assert isinstance(stream, StreamingScores) and not stream.is_dense and stream.top_k == 1
    with pytest.raises(ConfigurationError, match="top_k"):
        stream.dense()


def test_views_check_weights_once_and_rescore_like_score() -> None:
    rng = np.random.default_rng(0)
    q, x = rng.normal(size=(3, 6)), rng.normal(size=(80, 6))
    with pytest.raises(ConfigurationError, match="weights differ"):
        FeatureViews.from_encoded([q], [1.0], [x], [0.5])
    views = FeatureViews.from_encoded([q], [1.0], [x], [1.0], chunk_rows=10)
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
