"""Score-greedy selectors: round-robin (RR), doubly greedy (DG) and mean similarity.

All three work from either dense scores or the streaming top-k form of :class:`Scores`:

* **round_robin**: cycle through the queries; each takes its most similar unused candidate. It
  runs on the round-robin engine (:func:`targetsel.select.engine.round_robin_order`): each query
  walks an exactly ordered window of its best candidates, skipping those already taken, and all
  windows are refilled (4x wider on dense scores; by a rescoring pass with the taken candidates
  excluded on streaming scores, given the feature views) on the rare occasions one runs dry. So the
  walk yields the same picks as the naive argmax over unused candidates, in bounded memory at any
  budget. In streaming form with ``top_k >= budget`` the lists never run out: when query ``q``
  picks, fewer than ``budget`` candidates are taken, so one of its ``budget`` best is free.
* **doubly_greedy**: rank candidates by their maximum similarity over queries. In streaming
  form the per-candidate maximum is computed exactly during scoring.
* **mean_sim**: rank candidates by their mean similarity over queries.

Ties always go to the lower candidate index.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from targetsel.score import FeatureViews, Scores, topk_rows
from targetsel.select.base import Ranking, Selector, register_selector
from targetsel.select.engine import default_window, round_robin_order, window_refill

logger = logging.getLogger(__name__)

__all__ = ["DoublyGreedy", "MeanSimilarity", "RoundRobin"]


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
    label = "RR"
    requires_features = "streaming"  # to refill streaming lists that run out
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Each query picks about ``budget / n_queries`` times plus skips over candidates taken by
        others; 4x that (plus a margin) is rarely exhausted, and when it is the lists are refilled
        by one rescoring pass (``top_k >= budget`` can never run out)."""
        return min(budget, 4 * math.ceil(budget / max(1, n_queries)) + 64)

    def features_needed(self, scores: Scores) -> bool:
        """Never up front: streaming lists that suffice need no features (a dry list without them
        raises :class:`~targetsel.select.base.TopKTooSmallError`)."""
        return False

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        m, n = scores.shape
        memory = None if features is None else features.memory_bytes
        cap = default_window(m, memory)
        if scores.is_dense:
            # the first top-k pass costs about the same for any small k, so start with a generous
            # window (similar queries skip each other's picks); each refill is 4x wider
            window, growth = min(n, self.required_top_k(budget, m)), 4
        else:
            # the first windows are the stored lists; a refill pass scores 4x their width (like
            # rescoring with a 4x top_k, but of unused candidates only) up to the window memory bound
            window, growth = max(1024, min(cap, 4 * (scores.top_k or 1))), 1
        refill = window_refill(scores, features, self.name)
        out_i, out_q, out_v, fills = round_robin_order(
            m, n, budget, refill, window, growth=growth, max_window=max(cap, window)
        )
        if fills > 1:
            logger.info("round_robin: %d window refill(s)", fills - 1)
        return self._ranking(out_i, out_q, out_v, n)


def _rank_vector(v: np.ndarray, budget: int) -> np.ndarray:
    """Indices of the ``budget`` largest entries, value desc, index asc."""
    order: np.ndarray = topk_rows(v[None, :], budget)[0][0]
    return order


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
    label = "DG"
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Exact from the per-candidate statistics of streaming scores; no per-query lists needed."""
        return 1

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        # the column maxima, kept by the scores (compiled: one pass that also yields each column's
        # best query; numpy: the maxima of row blocks, and each pick's query from its block)
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
    label = "MEAN"
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Exact from the per-candidate statistics of streaming scores; no per-query lists needed."""
        return 1

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        mean = scores.candidate_mean()
        order = _rank_vector(mean, budget)
        return self._ranking(order, None, mean[order], scores.n_candidates)
