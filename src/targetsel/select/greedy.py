"""Score-greedy selectors: round-robin (RR), doubly greedy (DG) and mean similarity.

All three work from either dense scores or the streaming top-k form of :class:`Scores`:

* **round_robin**: cycle through the queries; each takes its most similar unused candidate.
  Instead of rescanning all N candidates per pick (O(B·N)), each query walks down its own
  exactly-ordered top-k list (:func:`targetsel.score.topk_rows`), skipping candidates already
  taken, and the list is doubled on the rare occasions it runs out. Since each list is an exact
  prefix of the query's full order (score desc, index asc), the walk yields the same pick as
  the naive argmax over unused candidates. In streaming form with ``top_k >= budget`` the lists
  never run out: when query ``q`` picks, fewer than ``budget`` candidates are taken, so one of its
  ``budget`` best is free. With smaller lists and the features at hand, a list that runs out is
  refilled by :func:`round_robin_order` (one more scoring pass with the taken candidates
  excluded), so memory stays bounded at any budget, up to ordering the whole pool.
* **doubly_greedy**: rank candidates by their maximum similarity over queries. In streaming
  form the per-candidate maximum is computed exactly during scoring.
* **mean_sim**: rank candidates by their mean similarity over queries.

Ties always go to the lower candidate index.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import Scores, score, topk_rows
from targetsel.select.base import Ranking, Selector, TopKTooSmallError, register_selector

logger = logging.getLogger(__name__)

__all__ = ["DoublyGreedy", "MeanSimilarity", "RoundRobin", "round_robin_order", "window_refill"]


@register_selector
class RoundRobin(Selector):
    """Greedy round-robin over query points (the paper's RR).

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.3]]))
        >>> RoundRobin().rank(s, 3).indices.tolist()
        [0, 2, 1]
    """

    name = "round_robin"
    needs_features = True  # only used on streaming scores, to refill lists that run out
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1) -> int:
        """Each query picks about ``budget / n_queries`` times plus skips over candidates taken by
        others; 4x that (plus a margin) is rarely exhausted, and when it is the pipeline rescores
        with a larger ``top_k`` (``top_k >= budget`` can never run out)."""
        return min(budget, 4 * math.ceil(budget / max(1, n_queries)) + 64)

    def _rank(self, scores: Scores, budget: int, **context: Any) -> Ranking:
        m, n = scores.shape
        if not scores.is_dense and "query_features" in context and "candidate_features" in context:
            # streaming with features at hand: when a list runs out, one rescoring pass that excludes
            # the taken candidates refills every query's list, 4x the scored width (like rescoring
            # with a 4x top_k, but of unused candidates only) up to the window memory bound
            window = max(1024, min(WINDOW_ENTRIES // m, 4 * (scores.top_k or 1)))
            refill = window_refill(scores, context, self.name)
            out_i, out_q, out_v, fills = round_robin_order(m, n, budget, refill, window)
            if fills > 1:
                logger.info("round_robin: %d rescoring pass(es) with the taken candidates excluded", fills - 1)
            return self._ranking(out_i, out_q, out_v, n)
        # the first top-k pass costs about the same for any small k, so start with a generous list
        # (similar queries skip each other's picks); lists that run out grow 4x (one row pass each)
        k0 = min(n, 4 * math.ceil(budget / m) + 64)
        idx, val, _ = scores.row_topk(np.arange(m), k0)
        lists: list[list[int]] = idx.tolist()
        values: list[list[float]] = val.tolist()
        ptr = [0] * m
        exhausted = [False] * m
        used = np.zeros(n, dtype=bool)
        out_i = np.empty(budget, np.int64)
        out_q = np.empty(budget, np.int64)
        out_v = np.empty(budget, np.float32)
        b = 0
        while b < budget:
            for q in range(m):
                if b >= budget:
                    break
                if exhausted[q]:
                    continue
                li, p = lists[q], ptr[q]
                while True:
                    while p < len(li) and used[li[p]]:
                        p += 1
                    if p < len(li):
                        break
                    if len(li) >= n:
                        exhausted[q] = True
                        break
                    ii, vv, _ = scores.row_topk([q], min(n, 4 * len(li)))
                    if ii.shape[1] <= len(li):
                        raise TopKTooSmallError(
                            f"scores keep only the top {scores.top_k} candidates per query, too few for "
                            f"round-robin at budget {budget}; score with top_k >= budget"
                        )
                    lists[q], values[q] = ii[0].tolist(), vv[0].tolist()
                    li = lists[q]
                ptr[q] = p
                if exhausted[q]:
                    continue
                c = li[p]
                used[c] = True
                out_i[b], out_q[b], out_v[b] = c, q, values[q][p]
                ptr[q] = p + 1
                b += 1
        return self._ranking(out_i, out_q, out_v, n)


def _rank_vector(v: np.ndarray, budget: int) -> np.ndarray:
    """Indices of the ``budget`` largest entries, value desc, index asc."""
    return topk_rows(v[None, :], budget)[0][0]


@register_selector
class DoublyGreedy(Selector):
    """Rank candidates by maximum similarity over query points (the paper's DG).

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.3]]))
        >>> DoublyGreedy().rank(s, 2).indices.tolist()
        [0, 1]
    """

    name = "doubly_greedy"
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1) -> int:
        """Exact from the per-candidate statistics of streaming scores; no per-query lists needed."""
        return 1

    def _rank(self, scores: Scores, budget: int, **context: Any) -> Ranking:
        best = scores.candidate_best()
        order = _rank_vector(best, budget)
        return self._ranking(order, scores.best_query(order), best[order], scores.n_candidates)


@register_selector
class MeanSimilarity(Selector):
    """Rank candidates by mean similarity over query points.

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.3]]))
        >>> MeanSimilarity().rank(s, 3).indices.tolist()
        [0, 1, 2]
    """

    name = "mean_sim"
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1) -> int:
        """Exact from the per-candidate statistics of streaming scores; no per-query lists needed."""
        return 1

    def _rank(self, scores: Scores, budget: int, **context: Any) -> Ranking:
        mean = scores.candidate_mean()
        order = _rank_vector(mean, budget)
        return self._ranking(order, None, mean[order], scores.n_candidates)


#: Entries held in round-robin windows (``n_queries × window``) by :func:`round_robin_order`:
#: 16M int64 indices + float32 scores ≈ 200 MB, about 4x that at the peak of a refill pass.
WINDOW_ENTRIES = 1 << 24

Refill = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def round_robin_order(
    n_queries: int, n_candidates: int, budget: int, refill: Refill, window: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Round-robin over queries for ``budget`` picks, up to the whole pool, in bounded memory.

    Each query walks a *window*: its ``window`` best candidates among those unused when the window
    was filled (``refill(window, used)`` returns them per query, ordered score desc, index asc;
    used candidates may trail with score ``-inf``). Candidates taken since are skipped (a
    vectorised scan). When some query's window holds no unused candidate, every window is filled
    again from the current ``used`` mask (one more pass over the scores or the features).

    Exact: a window is a prefix of the query's order restricted to the candidates unused at fill
    time; any candidate outside it ranks below every window entry, so the first unused window
    entry is the query's best unused candidate — the naive round-robin pick. Once the unused
    candidates fit in a window, no further fill is needed.

    Args:
        n_queries: M.
        n_candidates: N.
        budget: Number of picks (``<= N``).
        refill: ``(window, used (N,) bool) -> (indices (M, w), scores (M, w))``.
        window: Entries per query per fill (default: ``WINDOW_ENTRIES / M``, at least 1024).

    Returns:
        ``(indices, query_index, scores, fills)`` of the picks, and how many fills it took.

    Example:
        >>> s = np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.3]], dtype=np.float32)
        >>> def refill(w, used):
        ...     m = np.where(used[None, :], -np.inf, s).astype(np.float32)
        ...     return topk_rows(m, w)
        >>> round_robin_order(2, 3, 3, refill, window=1)[0].tolist()
        [0, 2, 1]
    """
    m, n = n_queries, n_candidates
    w = min(n, window if window is not None else max(1024, WINDOW_ENTRIES // max(1, m)))
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


def window_refill(scores: Scores, context: dict[str, Any], method: str) -> Refill:
    """The ``refill`` of :func:`round_robin_order` for ``scores``.

    Dense scores: each query's best unused candidates from the matrix (a few rows at a time, no
    ``M × N`` copy). Streaming scores: the first fill is the lists the scores already hold (an exact
    prefix is a valid window, whatever its width); later fills are streaming scoring passes over
    ``context["query_features"]``/``context["candidate_features"]`` with the used candidates
    excluded, using ``context["score_options"]`` (chunk rows, device) when given.
    """
    m, n = scores.shape
    if scores.is_dense:
        matrix = scores.dense()

        def dense(w: int, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            idx = np.empty((m, min(w, n)), np.int64)
            val = np.empty((m, min(w, n)), np.float32)
            for a in range(0, m, 16):
                sub = matrix[a : a + 16].copy()
                sub[:, used] = -np.inf
                idx[a : a + 16], val[a : a + 16] = topk_rows(sub, w)
            return idx, val

        return dense
    qf, cf = context.get("query_features"), context.get("candidate_features")
    if qf is None or cf is None:
        raise ConfigurationError(
            f"{method} on streaming (top-k) scores needs query_features and candidate_features "
            "(run_selection passes them); or score without top_k"
        )
    (q_src, _), (c_src, c_w) = qf, cf
    options = dict(context.get("score_options") or {})
    first = [True]

    def stream(w: int, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if first[0]:
            first[0] = False
            idx, val, _ = scores.row_topk(np.arange(m), w)
            return idx, val
        s = score(q_src, c_src, weights=c_w, top_k=w, exclude=used, desc=f"{method}: rescore", **options)
        assert s.topk_indices is not None and s.topk_values is not None
        return s.topk_indices, s.topk_values

    return stream
