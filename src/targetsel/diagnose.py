"""Diagnostics of a selection: how far the subset is from the query set, and what it is made of.

The seed paper bounds the loss after training through the 1-Wasserstein distance between the
selected subset and the query set in a representation; for gradient features that distance
predicts the query loss. :func:`diagnose` measures, for every budget (a prefix of the ranking):

* ``w1``: 1-Wasserstein distance between the uniform distributions on the query points and on
  the subset, with the cost ``(1 - cos) / 2`` in ``[0, 1]`` that selection uses (POT: exact
  ``ot.emd2`` while ``max(n_queries, budget) <= exact_limit``, log-domain ``ot.sinkhorn2`` beyond);
* ``mmd``: maximum mean discrepancy with a Gaussian kernel on the unit-normalised features,
  ``k(x, y) = exp(-|x - y|^2 / (2 sigma^2))`` (biased estimator, square root of MMD²);
* ``mean_nn_query``: mean over query points of the cost to their nearest pick, and
  ``mean_nn_subset``: mean over picks of the cost to their nearest query point;
* ``coverage``: picks per query point, from the ranking's ``query_index`` when the algorithm
  recorded one (round-robin), else each pick's nearest query point;
* ``composition``: picks per pool ``source``;
* the **random baseline** (when candidate rows to sample from are given, e.g. the pool): ``w1``
  of ``random_subsets`` seeded random subsets of the same size, as ``random_mean``,
  ``random_std``, ``random_percentile`` (the share of random subsets at most as far from the
  queries as the selection, in %: low is good) and ``random_z`` (``(w1 − mean) / std``: negative
  is closer than chance). It answers "is this subset closer to my task than chance, and by how
  much" without training anything.

With several views (LESS checkpoints) the similarity is the weighted sum of per-view cosines,
as in scoring, with the weights rescaled to sum 1 so that the cost ``(1 - S) / 2`` lies in
``[0, 1]`` (the weight rule of :mod:`targetsel.score.similarity`). The figure of a diagnosis is
drawn by :func:`targetsel.report.figures.plot_diagnosis`.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> q, s = rng.normal(size=(5, 8)), rng.normal(size=(20, 8))
    >>> d = diagnose(q, s, budgets=[10, 20])
    >>> [p.budget for p in d.points], 0.0 <= d.points[0].w1 <= 1.0
    ([10, 20], True)
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.score.similarity import check_same_weights, unit_rows, unit_weights, weighted_cosine
from targetsel.store import FeatureSource, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_EXACT_LIMIT",
    "Diagnosis",
    "DiagnosisPoint",
    "diagnose",
    "diagnose_selection",
    "gather_rows",
    "load_selection",
    "mean_nn_costs",
    "mmd",
    "wasserstein1",
]

#: Largest point count (queries or picks) for which the exact EMD is used; Sinkhorn beyond.
DEFAULT_EXACT_LIMIT = 3000

Views = np.ndarray | FeatureSource | Sequence[np.ndarray | FeatureSource]


@dataclass
class DiagnosisPoint:
    """Distances and coverage of one budget (prefix of the ranking).

    Attributes:
        budget: Number of picks.
        w1: 1-Wasserstein distance between subset and query set (cost ``(1 - S) / 2``).
        w1_solver: ``emd`` (exact) or ``sinkhorn``.
        mmd: Gaussian-kernel MMD (square root of the biased MMD² estimate).
        mean_nn_query: Mean over queries of the cost to the nearest pick.
        mean_nn_subset: Mean over picks of the cost to the nearest query.
        coverage: ``(n_queries,)`` picks per query point.
        covered_fraction: Share of query points with at least one pick.
        composition: Picks per pool ``source`` (empty when the pool has no ``source`` column).
        random_mean, random_std: ``w1`` of seeded random subsets of the same size (mean, std).
        random_percentile: Share (%) of those random subsets with ``w1`` at most the selection's.
        random_z: ``(w1 - random_mean) / random_std`` (negative: closer than chance).
    """

    budget: int
    w1: float
    w1_solver: str
    mmd: float
    mean_nn_query: float
    mean_nn_subset: float
    coverage: list[int]
    covered_fraction: float
    composition: dict[str, int] = field(default_factory=dict)
    random_mean: float | None = None
    random_std: float | None = None
    random_percentile: float | None = None
    random_z: float | None = None


@dataclass
class Diagnosis:
    """The diagnosis of a ranking across budgets.

    Attributes:
        points: One :class:`DiagnosisPoint` per budget, in increasing budget order.
        coverage_from: ``query_index`` (recorded by the algorithm) or ``nearest`` (each pick's
            nearest query point).
        n_queries: Size of the query set.
        info: Provenance (method, representation, settings).

    Example:
        >>> import numpy as np
        >>> d = diagnose(np.eye(2, 4), np.eye(4), budgets=[2])
        >>> d.to_dict()["points"][0]["coverage"]
        [1, 1]
    """

    points: list[DiagnosisPoint]
    coverage_from: str
    n_queries: int
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "n_queries": self.n_queries,
            "coverage_from": self.coverage_from,
            "info": self.info,
            "points": [asdict(p) for p in self.points],
        }

    def save(self, output: str | os.PathLike[str], *, figure: bool = True) -> list[Path]:
        """Write ``diagnosis.json`` (and ``diagnosis.png``) into the folder ``output``, atomically.

        Returns:
            The written paths.
        """
        out = Path(output)
        if out.exists() and not out.is_dir():
            raise ConfigurationError(f"{out} exists and is not a folder; choose another output")
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "diagnosis.json"]
        atomic_write_text(paths[0], json.dumps(self.to_dict(), indent=1) + "\n")
        if figure:
            # drawing lives with the other figures; called from here so ``save`` writes what it always did
            from targetsel.report.figures import plot_diagnosis

            paths.append(plot_diagnosis(self, out / "diagnosis.png"))
        return paths


# ----------------------------------------------------------------------------------------------
# distances


def _views(x: Views) -> list[np.ndarray]:
    items = [x] if isinstance(x, (np.ndarray, FeatureSource)) else list(x)
    out = []
    for item in items:
        arr = np.asarray(item.to_array() if isinstance(item, FeatureSource) else item, dtype=np.float64)
        if arr.ndim != 2:
            raise InvalidDataError(f"features must be 2-D (rows, dim), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise InvalidDataError("features contain NaN or inf; re-encode the data")
        out.append(arr)
    return out


def cost_matrix(
    queries: Views, subset: Views, weights: Sequence[float] | None = None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Cost ``(1 - S) / 2`` between queries and picks, with ``S`` the weighted sum of cosines.

    Returns:
        ``(cost (n_queries, n_picks), normalised query views, normalised pick views)``.

    Example:
        >>> cost_matrix(np.eye(2), np.eye(2))[0].tolist()
        [[0.0, 0.5], [0.5, 0.0]]
    """
    qv, sv = _views(queries), _views(subset)
    if len(qv) != len(sv):
        raise ConfigurationError(f"queries have {len(qv)} views but the subset has {len(sv)}")
    w = unit_weights(len(qv), weights)
    qn, sn = [unit_rows(a) for a in qv], [unit_rows(a) for a in sv]
    for a, b in zip(qn, sn, strict=True):
        if a.shape[1] != b.shape[1]:
            raise InvalidDataError(f"query features have dim {a.shape[1]} but subset features {b.shape[1]}")
    return _unit_cost(qn, sn, w), qn, sn


def _unit_cost(qn: list[np.ndarray], sn: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    """``(1 - S) / 2`` of unit-normalised views, ``S`` the ``w``-weighted sum of their products."""
    return np.clip((1.0 - weighted_cosine(qn, sn, w)) / 2.0, 0.0, 1.0)


def wasserstein1(cost: np.ndarray, *, exact_limit: int = DEFAULT_EXACT_LIMIT, reg: float = 0.01) -> tuple[float, str]:
    """1-Wasserstein distance between uniform distributions on the rows and columns of ``cost``.

    Args:
        cost: ``(n, m)`` ground cost.
        exact_limit: Exact network-simplex EMD (``ot.emd2``) while ``max(n, m) <= exact_limit``;
            entropic ``ot.sinkhorn2`` (log domain, regularisation ``reg``) beyond.
        reg: Sinkhorn regularisation (relative to a cost in ``[0, 1]``).

    Returns:
        ``(distance, solver)`` with solver ``emd`` or ``sinkhorn``.

    Example:
        >>> wasserstein1(np.array([[0.0, 1.0], [1.0, 0.0]]))
        (0.0, 'emd')
    """
    import ot

    n, m = cost.shape
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    c = np.ascontiguousarray(cost, dtype=np.float64)
    if max(n, m) <= exact_limit:
        return float(ot.emd2(a, b, c, numItermax=max(100_000, 50 * n * m))), "emd"
    return float(ot.sinkhorn2(a, b, c, reg, method="sinkhorn_log", numItermax=2000)), "sinkhorn"


def mmd(queries: list[np.ndarray], subset: list[np.ndarray], weights: np.ndarray, sigma: float = 1.0) -> float:
    """Gaussian-kernel MMD between two samples of unit-normalised (multi-view) features.

    The squared distance between two points is the weighted sum over views of ``|x - y|^2 =
    2 - 2 cos``. Blocks of 4096 rows keep memory bounded for large subsets.

    Args:
        queries: Normalised views, each ``(n_queries, dim_v)``.
        subset: Normalised views, each ``(n_picks, dim_v)``.
        weights: ``(n_views,)`` summing to 1.
        sigma: Kernel bandwidth.

    Example:
        >>> x = [np.eye(2)]
        >>> mmd(x, x, np.ones(1))
        0.0
    """

    def mean_kernel(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
        total, n, m = 0.0, xs[0].shape[0], ys[0].shape[0]
        for start in range(0, n, 4096):
            sim = weighted_cosine([x[start : start + 4096] for x in xs], ys, weights)
            total += float(np.exp(-(2.0 - 2.0 * sim) / (2.0 * sigma**2)).sum())
        return total / (n * m)

    val = mean_kernel(queries, queries) + mean_kernel(subset, subset) - 2.0 * mean_kernel(queries, subset)
    return float(np.sqrt(max(val, 0.0)))


def mean_nn_costs(cost: np.ndarray) -> tuple[float, float]:
    """``(mean over rows of the row minimum, mean over columns of the column minimum)``.

    Example:
        >>> mean_nn_costs(np.array([[0.0, 0.4], [0.2, 0.6]]))
        (0.1, 0.2)
    """
    return float(cost.min(axis=1).mean()), float(cost.min(axis=0).mean())


# ----------------------------------------------------------------------------------------------
# diagnose


def diagnose(
    query_features: Views,
    subset_features: Views,
    *,
    budgets: Sequence[int] | None = None,
    query_index: Sequence[int] | np.ndarray | None = None,
    sources: Sequence[str] | None = None,
    weights: Sequence[float] | None = None,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    sinkhorn_reg: float = 0.01,
    mmd_sigma: float = 1.0,
    info: dict[str, Any] | None = None,
    random_from: Views | None = None,
    random_subsets: int = 20,
    seed: int = 0,
) -> Diagnosis:
    """Distances, coverage and composition of a ranking's prefixes, against random subsets.

    Args:
        query_features: ``(n_queries, dim)`` features (array or feature source), or one per view.
        subset_features: ``(n_picks, dim)`` features of the picks **in ranking order**, or one per view.
        budgets: Prefix lengths to evaluate (default: all picks).
        query_index: ``(n_picks,)`` query that chose each pick (``-1``/``None`` when unknown); when
            every pick has one, coverage counts them, else each pick counts for its nearest query.
        sources: ``(n_picks,)`` pool ``source`` labels of the picks, for the composition.
        weights: Per-view weights (default equal).
        exact_limit: Exact EMD up to this many points, Sinkhorn beyond.
        sinkhorn_reg: Sinkhorn regularisation.
        mmd_sigma: MMD kernel bandwidth.
        info: Provenance copied into the result.
        random_from: Candidate features to draw random subsets from (the pool, or a uniform
            sample of it covering the draws), one per view; ``None``: no random baseline.
        random_subsets: Random subsets per budget (``0``: none).
        seed: Seed of the random subsets (each budget draws from ``(seed, budget)``).

    Returns:
        A :class:`Diagnosis`.

    Example:
        >>> import numpy as np
        >>> d = diagnose(np.eye(2, 3), np.eye(3), sources=["a", "b", "a"], budgets=[3])
        >>> d.points[0].composition
        {'a': 2, 'b': 1}
    """
    full_cost, qn, sn = cost_matrix(query_features, subset_features, weights)
    w = unit_weights(len(qn), weights)
    n_q, n_picks = full_cost.shape
    if n_q == 0 or n_picks == 0:
        raise InvalidDataError("diagnose needs at least one query point and one pick")
    bs = sorted({int(b) for b in (budgets or [n_picks])})
    if bs[0] <= 0 or bs[-1] > n_picks:
        raise ConfigurationError(f"budgets must lie in 1..{n_picks} (the number of picks), got {bs}")
    if sources is not None and len(sources) != n_picks:
        raise InvalidDataError(f"got {len(sources)} source labels for {n_picks} picks")
    qidx = None
    if query_index is not None:
        raw = [(-1 if v is None else int(v)) for v in query_index]
        if len(raw) != n_picks:
            raise InvalidDataError(f"got {len(raw)} query indices for {n_picks} picks")
        if all(0 <= v < n_q for v in raw):
            qidx = np.asarray(raw, dtype=np.int64)
    coverage_from = "query_index" if qidx is not None else "nearest"
    if qidx is None:
        qidx = full_cost.argmin(axis=0)  # ties -> lower query index
    if random_subsets < 0:
        raise ConfigurationError(f"random_subsets must be >= 0, got {random_subsets}")
    rand = None
    if random_from is not None and random_subsets > 0:
        rand = [unit_rows(v) for v in _views(random_from)]
        if len(rand) != len(qn) or any(r.shape[1] != q.shape[1] for r, q in zip(rand, qn, strict=True)):
            raise InvalidDataError("random-baseline features must have the query features' views and dimensions")
    points = []
    for b in bs:
        cost = full_cost[:, :b]
        w1, solver = wasserstein1(cost, exact_limit=exact_limit, reg=sinkhorn_reg)
        baseline: dict[str, float | None] = {}
        if rand is not None:
            baseline = _random_baseline(w1, qn, rand, w, b, random_subsets, seed, exact_limit, sinkhorn_reg)
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
) -> dict[str, float | None]:
    """``w1`` of ``n_subsets`` seeded uniform random subsets of size ``budget`` of ``rand``."""
    n = rand[0].shape[0]
    size = min(budget, n)
    rng = np.random.default_rng([seed, budget])
    dists = []
    for _ in range(n_subsets):
        rows = np.sort(rng.choice(n, size=size, replace=False))
        d, _ = wasserstein1(_unit_cost(qn, [r[rows] for r in rand], weights), exact_limit=exact_limit, reg=reg)
        dists.append(d)
    arr = np.asarray(dists, dtype=np.float64)
    mean, std = float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {
        "random_mean": mean,
        "random_std": std,
        "random_percentile": float(100.0 * (arr <= w1).mean()),
        "random_z": (w1 - mean) / std if std > 0 else None,
    }


def gather_rows(source: np.ndarray | FeatureSource, indices: Sequence[int] | np.ndarray, chunk_rows: int = 16384):
    """Rows ``indices`` (in that order) of a feature source, streaming over it chunk by chunk.

    Returns:
        ``(len(indices), dim)`` array.

    Example:
        >>> gather_rows(np.arange(6).reshape(3, 2), [2, 0]).tolist()
        [[4, 5], [0, 1]]
    """
    idx = np.asarray(indices, dtype=np.int64)
    if isinstance(source, np.ndarray):
        return source[idx]
    n = source.num_rows if hasattr(source, "num_rows") else None
    if n is not None and idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InvalidDataError(f"pick index out of range for {n} feature rows")
    out: np.ndarray | None = None
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    for start, chunk in source.iter_chunks(chunk_rows):
        lo, hi = np.searchsorted(sorted_idx, [start, start + chunk.shape[0]])
        if out is None:
            out = np.empty((idx.size, chunk.shape[1]), dtype=chunk.dtype)
        if hi > lo:
            out[order[lo:hi]] = chunk[sorted_idx[lo:hi] - start]
    if out is None:
        raise InvalidDataError("the feature source is empty")
    return out


def load_selection(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``selection.json`` (or the folder holding it), as written by :func:`targetsel.export.export`.

    Example:
        >>> load_selection("missing-dir")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.MissingArtifactError: ...
    """
    p = Path(path)
    if p.is_dir():
        p = p / "selection.json"
    if not p.is_file():
        raise MissingArtifactError(
            f"{p}: no selection.json; pass the output folder of `targetsel select` (or its selection.json)"
        )
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidDataError(f"{p}: not valid JSON ({exc.msg}); re-run the selection") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("picks"), list) or not meta["picks"]:
        raise InvalidDataError(f"{p}: no `picks` list; is this a selection.json written by targetsel?")
    return meta


def _pick_indices(meta: dict[str, Any], pool: ExampleSet) -> np.ndarray:
    """Pool row of every pick, by id (robust to a reordered pool) with the stored index as a check."""
    pos = {ex_id: i for i, ex_id in enumerate(pool.ids)}
    out = []
    for p in meta["picks"]:
        if p.get("id") in pos:
            out.append(pos[p["id"]])
        else:
            raise InvalidDataError(
                f"pick {p.get('rank')} has id {p.get('id')!r}, which is not in the pool {pool.source}; "
                "pass the pool the selection was made from"
            )
    return np.asarray(out, dtype=np.int64)


def diagnose_selection(
    selection: str | os.PathLike[str] | dict[str, Any],
    pool: ExampleSet,
    queries: ExampleSet,
    representation: Any,
    *,
    budgets: Sequence[int] | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    sinkhorn_reg: float = 0.01,
    mmd_sigma: float = 1.0,
    random_subsets: int = 20,
    seed: int = 0,
) -> Diagnosis:
    """Diagnose an exported selection in a representation, against random subsets of the pool.

    With ``store_dir`` the whole pool is encoded into (or reused from) a feature store there and
    the picks' rows are read from it; without it only the picked rows are encoded, in memory.
    The random baseline draws its subsets from a seeded uniform sample of the pool of
    ``random_subsets × largest budget`` rows (or the whole pool if smaller), read from the store or
    encoded in memory without one.

    Args:
        selection: A ``selection.json`` path, its folder, or its parsed content.
        pool: The pool the selection was made from.
        queries: The query set.
        representation: A :class:`targetsel.represent.Representation`.
        budgets: Prefix lengths (default: the selection's budget).
        store_dir: Feature-store cache folder.
        exact_limit: See :func:`diagnose`.
        sinkhorn_reg: See :func:`diagnose`.
        mmd_sigma: See :func:`diagnose`.
        random_subsets: Random subsets per budget for the baseline (``0``: none).
        seed: Seed of the pool sample and of the random subsets.

    Example:
        >>> from targetsel.demo import demo_pool_path, demo_query_path
        >>> from targetsel.data import load_pool, load_queries
        >>> from targetsel.represent import LexicalRepresentation
        >>> from targetsel.pipeline import run_selection
        >>> from targetsel.export import selection_metadata
        >>> pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
        >>> rep = LexicalRepresentation(dim=256)
        >>> r = run_selection(pool, q, rep, budgets=[40]).ranking
        >>> d = diagnose_selection(selection_metadata(pool, r), pool, q, rep, budgets=[20, 40])
        >>> d.coverage_from, len(d.points)
        ('query_index', 2)
    """
    meta = selection if isinstance(selection, dict) else load_selection(selection)
    idx = _pick_indices(meta, pool)
    q_src, q_w = representation.encode_for_scoring(queries, role="query", store_dir=store_dir)
    if store_dir is not None:
        c_src, c_w = representation.encode_for_scoring(pool, role="candidate", store_dir=store_dir)
        subset = [gather_rows(s, idx) for s in c_src]
    else:
        c_src, c_w = representation.encode_for_scoring(pool.select(idx), role="candidate")
        subset = [s.to_array() for s in c_src]
    check_same_weights(q_w, c_w)
    random_from = None
    if random_subsets > 0:
        largest = max(budgets) if budgets else len(idx)
        rows = np.random.default_rng(seed).choice(
            len(pool), size=min(len(pool), random_subsets * largest), replace=False
        )
        rows = np.sort(rows)
        if store_dir is not None:
            random_from = [gather_rows(s, rows) for s in c_src]
        else:
            r_src, _ = representation.encode_for_scoring(pool.select(rows), role="candidate")
            random_from = [s.to_array() for s in r_src]
    src_col = pool.column("source")
    sources = [str(src_col[int(i)]) for i in idx] if src_col is not None else None
    info = {
        "method": meta.get("method"),
        "params": meta.get("params"),
        "selection_representation": (meta.get("representation") or {}).get("queries", meta.get("representation")),
        "representation": representation.name,
        "n_picks": len(idx),
    }
    return diagnose(
        [s.to_array() if isinstance(s, FeatureSource) else s for s in q_src],
        subset,
        budgets=budgets,
        query_index=[p.get("query_index") for p in meta["picks"]],
        sources=sources,
        weights=q_w,
        exact_limit=exact_limit,
        sinkhorn_reg=sinkhorn_reg,
        mmd_sigma=mmd_sigma,
        info=info,
        random_from=random_from,
        random_subsets=random_subsets,
        seed=seed,
    )
