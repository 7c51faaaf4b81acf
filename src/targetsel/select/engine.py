"""The round-robin engine: the window walk with refills, for dense and streaming scores alike.

Round-robin (RR) cycles through the queries; each takes its most similar unused candidate. Instead
of rescanning all N candidates per pick (O(B·N)), each query walks a *window*: its best candidates
among those unused when the window was filled, in exact order (score desc, index asc). Candidates
taken since are skipped. When some query's window holds no unused candidate, every window is
filled again from the current ``used`` mask — one pass over the dense matrix, or one streaming
scoring pass over the feature views with the used candidates excluded
(:meth:`~targetsel.score.FeatureViews.rescore`). It is the one refill mechanism of ordered
windows: ``round_robin`` (any budget) and ``quantiles`` (the whole pool) both run on it. (The knn
selectors' neighbour lists are not windows: when streaming scores keep too few neighbours,
:func:`targetsel.pipeline.run_selection` scores again with a larger ``top_k``.)

Example:
    >>> import numpy as np
    >>> from targetsel.score import Scores
    >>> s = Scores.from_matrix(np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.3]]))
    >>> round_robin_order(2, 3, 3, window_refill(s, None, "demo"), window=1)[0].tolist()
    [0, 2, 1]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from targetsel.score import FeatureViews, Scores, dense_topk
from targetsel.select.base import TopKTooSmallError
from targetsel.settings import window_entries

__all__ = ["Refill", "default_window", "round_robin_order", "window_refill"]

#: ``(window, used (N,) bool) -> (indices (M, w), scores (M, w))`` per query, ordered.
Refill = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def default_window(n_queries: int, memory_bytes: int | None = None) -> int:
    """Entries per query per fill: the memory budget's window entries over M, at least 1024.

    Example:
        >>> default_window(500)
        33554
    """
    return max(1024, window_entries(memory_bytes) // max(1, n_queries))


def round_robin_order(
    n_queries: int,
    n_candidates: int,
    budget: int,
    refill: Refill,
    window: int | None = None,
    *,
    growth: int = 1,
    max_window: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Round-robin over queries for ``budget`` picks, up to the whole pool, in bounded memory.

    Each query walks its window (``refill(window, used)``: its ``window`` best candidates among the
    unused, ordered score desc, index asc; used candidates may trail with score ``-inf``), skipping
    candidates taken since (a vectorised scan). When some query's window holds no unused candidate,
    every window is filled again from the current ``used`` mask, ``growth`` times wider (up to
    ``max_window``).

    Exact: a window is a prefix of the query's order restricted to the candidates unused at fill
    time; any candidate outside it ranks below every window entry, so the first unused window
    entry is the query's best unused candidate — the naive round-robin pick — whatever the widths.
    Once the unused candidates fit in a window, no further fill is needed.

    Args:
        n_queries: M.
        n_candidates: N.
        budget: Number of picks (``<= N``).
        refill: ``(window, used (N,) bool) -> (indices (M, w), scores (M, w))``.
        window: Entries per query of the first fill (default :func:`default_window`).
        growth: Each refill asks for ``growth`` times the previous width.
        max_window: Cap of the grown width (default: no cap beyond N).

    Returns:
        ``(indices, query_index, scores, fills)`` of the picks, and how many fills it took.

    Example:
        >>> s = np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.3]], dtype=np.float32)
        >>> def refill(w, used):
        ...     return dense_topk(np.where(used[None, :], -np.inf, s).astype(np.float32), w)
        >>> round_robin_order(2, 3, 3, refill, window=1)[0].tolist()
        [0, 2, 1]
    """
    m, n = n_queries, n_candidates
    w = min(n, window if window is not None else default_window(m))
    cap = n if max_window is None else max(w, min(n, max_window))
    used = np.zeros(n, dtype=bool)
    out_i = np.empty(budget, np.int64)
    out_q = np.empty(budget, np.int64)
    out_v = np.empty(budget, np.float32)
    idx, val = refill(w, used)
    fills = 1
    covered = idx.shape[1] >= n  # the windows hold every unused candidate: never filled again
    ptr = np.zeros(m, dtype=np.int64)
    b = 0
    scan = 256
    while b < budget:
        for q in range(m):
            if b >= budget:
                break
            while True:
                row, p, width = idx[q], int(ptr[q]), idx.shape[1]
                while p < width and used[row[p]]:  # skip taken entries, a block at a time
                    free = np.flatnonzero(~used[row[p : p + scan]])
                    p = p + int(free[0]) if free.size else p + scan
                if p < width:
                    break
                if covered:
                    raise AssertionError("round-robin: a query has no unused candidate left before the budget")
                del idx, val, row  # release the old windows before the refill pass allocates new ones
                w = min(cap, w * growth)
                idx, val = refill(w, used)
                fills += 1
                covered = int(n - b) <= w
                ptr[:] = 0
            c = int(row[p])
            used[c] = True
            out_i[b], out_q[b], out_v[b] = c, q, val[q, p]
            ptr[q] = p + 1
            b += 1
    return out_i, out_q, out_v, fills


def window_refill(scores: Scores, features: FeatureViews | None, method: str) -> Refill:
    """The ``refill`` of :func:`round_robin_order` for ``scores``.

    Dense scores: each query's best unused candidates from the matrix (a few rows at a time, no
    ``M × N`` copy). Streaming scores: the first fill is the lists the scores already hold (an exact
    prefix is a valid window, whatever its width); later fills are streaming scoring passes over the
    feature views with the used candidates excluded. Without feature views a streaming refill
    raises :class:`~targetsel.select.base.TopKTooSmallError`.
    """
    m, n = scores.shape
    if scores.is_dense:
        matrix = scores.dense()

        def dense(w: int, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if not used.any():
                return dense_topk(matrix, w)
            idx = np.empty((m, min(w, n)), np.int64)
            val = np.empty((m, min(w, n)), np.float32)
            for a in range(0, m, 16):
                sub = matrix[a : a + 16].copy()
                np.copyto(sub, -np.inf, where=used[None, :])
                idx[a : a + 16], val[a : a + 16] = dense_topk(sub, w)
            return idx, val

        return dense
    first = [True]

    def stream(w: int, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if first[0]:
            first[0] = False
            idx, val, _ = scores.row_topk(np.arange(m), w)
            return idx, val
        if features is None or features.queries is None:
            raise TopKTooSmallError(
                f"scores keep only the top {scores.top_k} candidates per query, too few for {method} here; "
                "pass the feature views with the query features (features=FeatureViews(...); run_selection "
                "does) to refill them, or score with top_k >= budget"
            )
        s = features.rescore(top_k=w, exclude=used, desc=f"{method}: rescore")
        idx, val, _ = s.row_topk(np.arange(m), w)
        return idx, val

    return stream
