"""Subset–query distances on unit-normalised (multi-view) features: the cost ``(1 - S) / 2``, W1, MMD,
mean nearest-neighbour costs.

Features come as :class:`~targetsel.store.viewset.ViewSet` s (one source per view and the views'
weights); both sides of a distance must be weighted alike.
"""

from __future__ import annotations

import numpy as np

from targetsel.errors import InvalidDataError
from targetsel.score.similarity import check_same_weights, unit_rows, unit_weights, weighted_cosine
from targetsel.store.viewset import ViewSet

__all__ = ["DEFAULT_EXACT_LIMIT", "cost_matrix", "mean_nn_costs", "mmd", "view_arrays", "wasserstein1"]

#: Largest point count (queries or picks) for which the exact EMD is used; Sinkhorn beyond.
DEFAULT_EXACT_LIMIT = 3000


def view_arrays(side: ViewSet) -> list[np.ndarray]:
    """Every view's rows as a float64 array, checked finite.

    Example:
        >>> view_arrays(ViewSet.of(np.eye(2, dtype=np.float32)))[0].dtype
        dtype('float64')
    """
    out = []
    for source in side.sources:
        arr = np.asarray(source.to_array(), dtype=np.float64)
        if not np.isfinite(arr).all():
            raise InvalidDataError("features contain NaN or inf; re-encode the data")
        out.append(arr)
    return out


def cost_matrix(queries: ViewSet, subset: ViewSet) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Cost ``(1 - S) / 2`` between queries and picks, with ``S`` the weighted sum of cosines.

    The weights are rescaled to sum 1 (:func:`~targetsel.score.similarity.unit_weights`).

    Returns:
        ``(cost (n_queries, n_picks), normalised query views, normalised pick views)``.

    Raises:
        ConfigurationError: the two sides are weighted differently (other views or checkpoints).
        InvalidDataError: NaN or inf, or views of different dimensions.

    Example:
        >>> cost_matrix(ViewSet.of(np.eye(2)), ViewSet.of(np.eye(2)))[0].tolist()
        [[0.0, 0.5], [0.5, 0.0]]
    """
    check_same_weights(queries.weights, subset.weights)
    w = unit_weights(len(queries), queries.weights)
    qn, sn = [unit_rows(a) for a in view_arrays(queries)], [unit_rows(a) for a in view_arrays(subset)]
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
        mean: float = total / (n * m)
        return mean

    val = mean_kernel(queries, queries) + mean_kernel(subset, subset) - 2.0 * mean_kernel(queries, subset)
    return float(np.sqrt(max(val, 0.0)))


def mean_nn_costs(cost: np.ndarray) -> tuple[float, float]:
    """``(mean over rows of the row minimum, mean over columns of the column minimum)``.

    Example:
        >>> mean_nn_costs(np.array([[0.0, 0.4], [0.2, 0.6]]))
        (0.1, 0.2)
    """
    return float(cost.min(axis=1).mean()), float(cost.min(axis=0).mean())
