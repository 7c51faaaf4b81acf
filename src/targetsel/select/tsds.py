"""The TSDS mass rules shared by ``knn_uniform`` and ``knn_kde`` (:mod:`targetsel.select.knn` writes
the rules out): each query's nearest neighbours, the greedy mass assignment, the ranking by mass."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import Scores
from targetsel.select.base import TopKTooSmallError

__all__ = ["rank_by_mass", "tsds_kde_mass"]


def _check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not math.isfinite(float(value)):
        raise ConfigurationError(f"{name} must be a finite {'integer' if integer else 'number'}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")


def _check_alpha_c(alpha: float, c: float) -> None:
    _check_positive("alpha", alpha)
    if alpha >= 1:
        raise ConfigurationError(f"alpha must lie in (0, 1), got {alpha!r}")
    _check_positive("C", c)


def rank_by_mass(mass: np.ndarray, budget: int) -> np.ndarray:
    """The ``budget`` candidates with the most mass, mass descending, ties towards lower index.

    Args:
        mass: ``(N,)`` non-negative mass per candidate.
        budget: How many.

    Returns:
        ``(budget,)`` int64 indices.

    Example:
        >>> rank_by_mass(np.array([0.0, 0.5, 0.0, 0.5, 0.2]), 4).tolist()
        [1, 3, 4, 0]
    """
    pos = np.flatnonzero(mass > 0)
    order = pos[np.lexsort((pos, -mass[pos]))][:budget]
    if order.size < budget:
        rest = np.ones(mass.shape[0], dtype=bool)
        rest[pos] = False
        order = np.concatenate([order, np.flatnonzero(rest)[: budget - order.size]])
    return order.astype(np.int64)


def _neighbours(scores: Scores, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``depth`` nearest candidates (fewer when streaming scores keep fewer):
    ``(indices (M, D), distances (M, D) float64)``."""
    idx, val, _ = scores.row_topk(np.arange(scores.n_queries), depth)
    return idx, 1.0 - val.astype(np.float64)


def _too_few(method: str, depth: int, kept: int) -> TopKTooSmallError:
    # run_selection answers this by scoring again with a 4x larger top_k (recorded in the provenance)
    return TopKTooSmallError(
        f"{method} needs each query's {depth} nearest candidates but the scores keep only {kept}; "
        f"score with top_k >= {depth} (or lower max_neighbors)"
    )


def tsds_kde_mass(
    dist: np.ndarray, rho: np.ndarray, alpha: float, c: float
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """The TSDS greedy mass assignment on sorted neighbour distances and densities.

    Vectorised: the heap of the reference algorithm pops events ``(P_i[k], k, i)`` in
    lexicographic order, and since ``P_i`` increases with ``k`` that is simply the sorted order of
    all events; the running total cost is a cumulative sum of per-event increments.

    Args:
        dist: ``(M, D)`` float64 sorted distances of each query's ``D >= 2`` nearest candidates.
        rho: ``(M, D)`` densities of those candidates (``>= 1``; ones for the uniform variant).
        alpha: TSDS α in (0, 1).
        c: TSDS C > 0.

    Returns:
        ``(probs (M, D), last (M,), level, stopped)``: the mass of each (query, neighbour),
        each query's last saturated neighbour ``K_i`` (``-1`` when none), the level ``s``, and
        whether the stopping rule fired (``False``: the depth ``D`` was exhausted).

    Example:
        >>> d = np.array([[0.1, 0.2, 0.9]])
        >>> p, last, s, stopped = tsds_kde_mass(d, np.ones_like(d), alpha=0.5, c=0.5)
        >>> p.round(3).tolist(), int(last[0]), stopped
        ([[0.5, 0.5, 0.0]], 0, True)
    """
    m, depth = dist.shape
    inv = 1.0 / rho.astype(np.float64)
    levels = np.cumsum(inv[:, : depth - 1], axis=1)  # P_i[k], k = 0..D-2
    wsum = np.cumsum(dist[:, : depth - 1] * inv[:, : depth - 1], axis=1)
    cost = dist[:, 1:depth] * levels - wsum  # cost_i(k)
    delta = np.diff(cost, axis=1, prepend=0.0)
    # events laid out k-major (then query), so a stable sort on the level breaks ties by (k, query)
    qq = np.tile(np.arange(m), depth - 1)
    flat_levels = levels.T.ravel()
    order = np.argsort(flat_levels, kind="stable")
    total = np.cumsum(delta.T.ravel()[order])
    hit = np.flatnonzero((alpha / c) * total >= (1.0 - alpha) * m)
    stopped = hit.size > 0
    b = int(hit[0]) if stopped else order.size
    level = float(flat_levels[order[b if stopped else -1]])
    last = np.bincount(qq[order[:b]], minlength=m) - 1
    probs = np.zeros((m, depth), np.float64)
    cols = np.arange(depth)[None, :]
    full = cols <= last[:, None]
    probs[full] = (inv / (m * level))[full]
    rest = np.maximum(1.0 / m - probs.sum(axis=1), 0.0)
    probs[np.arange(m), last + 1] += rest
    return probs, last, level, stopped
