"""The diagnosis of a ranking's prefixes: distances, coverage, composition, and the random baseline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np

from targetsel.diagnose.distances import (
    DEFAULT_EXACT_LIMIT,
    _unit_cost,
    cost_matrix,
    mean_nn_costs,
    mmd,
    view_arrays,
    wasserstein1,
)
from targetsel.diagnose.result import Diagnosis, DiagnosisPoint
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.progress import progress
from targetsel.score.similarity import check_same_weights, unit_rows, unit_weights
from targetsel.store.viewset import ViewSet

__all__ = ["MAX_RANDOM_SUBSETS", "check_random_subsets", "diagnose"]

#: Most random subsets per budget. The baseline reports the mean, the spread, the percentile of the
#: selection among the draws and its z-score: at 10,000 draws the percentile is resolved to 0.01%
#: and the mean is known to 1% of the spread (1/sqrt(n)), so more draws change nothing that is
#: shown; each draw is one transport solve (up to a second at a few thousand points), so 10,000
#: draws per budget is already hours of work, and the pool sample they are drawn from grows with
#: ``random_subsets × largest budget`` rows.
MAX_RANDOM_SUBSETS = 10_000


class _Baseline(TypedDict, total=False):
    """The random-subset fields of a :class:`DiagnosisPoint` (none without a baseline)."""

    random_mean: float | None
    random_std: float | None
    random_percentile: float | None
    random_z: float | None


def check_random_subsets(n: int, what: str = "random_subsets") -> int:
    """``n`` when it lies in ``0..MAX_RANDOM_SUBSETS``, else one :class:`ConfigurationError` line.

    Example:
        >>> check_random_subsets(20)
        20
        >>> check_random_subsets(10**12, "--random-subsets")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: --random-subsets must lie in 0..10000, got 1000000000000
    """
    if not 0 <= n <= MAX_RANDOM_SUBSETS:
        raise ConfigurationError(f"{what} must lie in 0..{MAX_RANDOM_SUBSETS}, got {n}")
    return n


def diagnose(
    query_features: ViewSet,
    subset_features: ViewSet,
    *,
    budgets: Sequence[int] | None = None,
    query_index: Sequence[int | None] | np.ndarray | None = None,
    sources: Sequence[str] | None = None,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    sinkhorn_reg: float = 0.01,
    mmd_sigma: float = 1.0,
    info: dict[str, Any] | None = None,
    random_from: ViewSet | None = None,
    random_subsets: int = 20,
    seed: int = 0,
) -> Diagnosis:
    """Distances, coverage and composition of a ranking's prefixes, against random subsets.

    Args:
        query_features: The queries' views, ``(n_queries, dim_v)`` per view, and their weights.
        subset_features: The picks' views **in ranking order**, ``(n_picks, dim_v)`` per view,
            weighted as the queries'.
        budgets: Prefix lengths to evaluate (default: all picks).
        query_index: ``(n_picks,)`` query that chose each pick (``-1``/``None`` when unknown); when
            every pick has one, coverage counts them, else each pick counts for its nearest query.
        sources: ``(n_picks,)`` pool ``source`` labels of the picks, for the composition.
        exact_limit: Exact EMD up to this many points, Sinkhorn beyond.
        sinkhorn_reg: Sinkhorn regularisation.
        mmd_sigma: MMD kernel bandwidth.
        info: Provenance copied into the result.
        random_from: Candidate features to draw random subsets from (the pool, or a uniform
            sample of it covering the draws), weighted as the queries'; ``None``: no random baseline.
        random_subsets: Random subsets per budget (``0``: none; at most :data:`MAX_RANDOM_SUBSETS`),
            drawn under a progress bar (off with ``--quiet``).
        seed: Seed of the random subsets (each budget draws from ``(seed, budget)``).

    Returns:
        A :class:`Diagnosis`.

    Example:
        >>> import numpy as np
        >>> d = diagnose(ViewSet.of(np.eye(2, 3)), ViewSet.of(np.eye(3)), sources=["a", "b", "a"], budgets=[3])
        >>> d.points[0].composition
        {'a': 2, 'b': 1}
    """
    full_cost, qn, sn = cost_matrix(query_features, subset_features)
    w = unit_weights(len(qn), query_features.weights)
    n_q, n_picks = full_cost.shape
    if n_q == 0 or n_picks == 0:
        raise InvalidDataError("diagnose needs at least one query point and one pick")
    bs = _budget_list(budgets, n_picks)
    if sources is not None and len(sources) != n_picks:
        raise InvalidDataError(f"got {len(sources)} source labels for {n_picks} picks")
    qidx, coverage_from = _pick_queries(query_index, full_cost)
    rand = _random_views(random_from, random_subsets, query_features, qn)
    points = []
    draws = len(bs) * random_subsets if rand is not None else 0
    with progress(total=draws, desc="random subsets", unit="subset", enabled=None if draws else False) as bar:
        for b in bs:
            cost = full_cost[:, :b]
            w1, solver = wasserstein1(cost, exact_limit=exact_limit, reg=sinkhorn_reg)
            baseline: _Baseline = {}
            if rand is not None:
                baseline = _random_baseline(w1, qn, rand, w, b, random_subsets, seed, exact_limit, sinkhorn_reg, bar)
            nn_q, nn_s = mean_nn_costs(cost)
            cov = np.bincount(qidx[:b], minlength=n_q)
            comp = dict(Counter(str(s) for s in sources[:b]).most_common()) if sources is not None else {}
            points.append(
                DiagnosisPoint(
                    budget=b,
                    w1=w1,
                    w1_solver=solver,
                    mmd=mmd(qn, [v[:b] for v in sn], w, mmd_sigma),
                    mean_nn_query=nn_q,
                    mean_nn_subset=nn_s,
                    coverage=[int(c) for c in cov],
                    covered_fraction=float((cov > 0).mean()),
                    composition=comp,
                    **baseline,
                )
            )
    settings = {"exact_limit": exact_limit, "sinkhorn_reg": sinkhorn_reg, "mmd_sigma": mmd_sigma, "cost": "(1-S)/2"}
    if rand is not None:
        settings["random_baseline"] = {"subsets": random_subsets, "seed": seed, "drawn_from": int(rand[0].shape[0])}
    return Diagnosis(points, coverage_from, n_q, {**(info or {}), "settings": settings})


def _budget_list(budgets: Sequence[int] | None, n_picks: int) -> list[int]:
    """The distinct budgets in increasing order (default: all picks), each in ``1..n_picks``."""
    bs = sorted({int(b) for b in (budgets or [n_picks])})
    if bs[0] <= 0 or bs[-1] > n_picks:
        raise ConfigurationError(f"budgets must lie in 1..{n_picks} (the number of picks), got {bs}")
    return bs


def _pick_queries(
    query_index: Sequence[int | None] | np.ndarray | None, full_cost: np.ndarray
) -> tuple[np.ndarray, str]:
    """The query of every pick and where it comes from: ``query_index`` when every pick has one,
    else ``nearest`` (each pick's nearest query point)."""
    n_q, n_picks = full_cost.shape
    if query_index is not None:
        raw = [(-1 if v is None else int(v)) for v in query_index]
        if len(raw) != n_picks:
            raise InvalidDataError(f"got {len(raw)} query indices for {n_picks} picks")
        if all(0 <= v < n_q for v in raw):
            return np.asarray(raw, dtype=np.int64), "query_index"
    return full_cost.argmin(axis=0), "nearest"  # ties -> lower query index


def _random_views(
    random_from: ViewSet | None, random_subsets: int, queries: ViewSet, qn: list[np.ndarray]
) -> list[np.ndarray] | None:
    """The unit-normalised views random subsets are drawn from, checked against the queries' (``None``: no baseline)."""
    check_random_subsets(random_subsets)
    if random_from is None or random_subsets == 0:
        return None
    check_same_weights(queries.weights, random_from.weights)
    rand = [unit_rows(v) for v in view_arrays(random_from)]
    if len(rand) != len(qn) or any(r.shape[1] != q.shape[1] for r, q in zip(rand, qn, strict=True)):
        raise InvalidDataError("random-baseline features must have the query features' views and dimensions")
    return rand


def _random_baseline(
    w1: float,
    qn: list[np.ndarray],
    rand: list[np.ndarray],
    weights: np.ndarray,
    budget: int,
    n_subsets: int,
    seed: int,
    exact_limit: int,
    reg: float,
    bar: Any = None,
) -> _Baseline:
    """``w1`` of ``n_subsets`` seeded uniform random subsets of size ``budget`` of ``rand`` (``bar`` counts them)."""
    n = rand[0].shape[0]
    size = min(budget, n)
    rng = np.random.default_rng([seed, budget])
    dists = []
    for _ in range(n_subsets):
        rows = np.sort(rng.choice(n, size=size, replace=False))
        d, _ = wasserstein1(_unit_cost(qn, [r[rows] for r in rand], weights), exact_limit=exact_limit, reg=reg)
        dists.append(d)
        if bar is not None:
            bar.update(1)
    arr = np.asarray(dists, dtype=np.float64)
    mean, std = float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {
        "random_mean": mean,
        "random_std": std,
        "random_percentile": float(100.0 * (arr <= w1).mean()),
        "random_z": (w1 - mean) / std if std > 0 else None,
    }
