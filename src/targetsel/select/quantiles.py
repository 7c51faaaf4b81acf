"""``quantiles``: stratify the round-robin order of the whole pool into distance quantiles.

The seed paper's quantile experiment: order the entire pool by round-robin (RR); since RR picks
ever less similar candidates, position in that order is a distance rank. Cut the order into ``q``
equal-count bins (bin ``b`` holds positions ``[⌊b·N/q⌋, ⌊(b+1)·N/q⌋)``) and take the first ``n`` of
each bin in RR order. With ``focus=True`` the first bin is split again into ``q`` sub-bins (the
"focus on quantile 0" variant) and the ``n`` best of each sub-bin are taken.

The ranking lists the ``q`` subsets one after the other (bin 0's ``n`` picks, then bin 1's, ...),
so its prefix of length ``q·n`` is exactly the experiment's selection, and then the rest of the
pool in RR order; ``extra["quantile"]`` holds each pick's bin (``-1`` outside the bins, in the
focus variant) and ``extra["quantile_rank"]`` its position inside its bin.
:func:`quantile_subsets` splits a ranking back into the ``q`` subsets.

This needs the RR order of the *whole* pool. It is computed by the round-robin engine
(:func:`targetsel.select.engine.round_robin_order`, the one ``round_robin`` runs on) in bounded
memory: each query walks a window of its best candidates among the unused ones, and all windows
are filled again (one pass over the dense matrix, or one streaming scoring pass over the feature
views with the used candidates excluded) whenever one of them runs dry. Memory is
``O(M·window + N)`` beyond the dense matrix, or ``O(M·window + N + chunk)`` on streaming scores
(no ``M × N`` matrix at all).
"""

from __future__ import annotations

import logging

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import FeatureViews, Scores
from targetsel.select.base import Ranking, Selector, register_selector
from targetsel.select.engine import default_window, round_robin_order, window_refill

logger = logging.getLogger(__name__)

__all__ = ["QuantileSelector", "quantile_edges", "quantile_subsets"]


def quantile_edges(n: int, q: int, focus: bool = False) -> np.ndarray:
    """Bin boundaries (``q + 1`` positions) of an order of length ``n``.

    Example:
        >>> quantile_edges(10, 3).tolist(), quantile_edges(30, 3, focus=True).tolist()
        ([0, 3, 6, 10], [0, 3, 6, 10])
    """
    span = n // q if focus else n
    return (np.arange(q + 1, dtype=np.int64) * span) // q


@register_selector
class QuantileSelector(Selector):
    """The RR order cut into ``q`` distance quantiles, the top ``n`` of each first.

    Args:
        q: Number of quantiles.
        n: Picks per quantile.
        focus: Split the first quantile into ``q`` sub-quantiles instead.
        window: Candidates each query holds at a time on its round-robin walk (``None``: from the
            memory budget, :func:`~targetsel.select.engine.default_window`); the order does not depend on it.

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]]))
        >>> r = QuantileSelector(q=3, n=1).rank(s, 6)
        >>> r.indices.tolist(), r.extra["quantile"].tolist()
        ([0, 2, 4, 1, 3, 5], [0, 1, 2, 0, 1, 2])
    """

    name = "quantiles"
    label = "RR"
    requires_features = "streaming"  # rescoring passes refill the windows
    supports_streaming = True

    def __init__(self, q: int = 10, n: int = 500, focus: bool = False, window: int | None = None) -> None:
        for key, val in (("q", q), ("n", n), ("window", 1 if window is None else window)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
                raise ConfigurationError(f"quantiles: {key} must be a positive integer, got {val!r}")
        if not isinstance(focus, bool):
            raise ConfigurationError(f"quantiles: focus must be true or false, got {focus!r}")
        self.q = int(q)
        self.n = int(n)
        self.focus = focus
        self.window = None if window is None else int(window)

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """The first round-robin window (later ones come from rescoring with used candidates excluded)."""
        return self.window or default_window(n_queries, memory_bytes)

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        n_cand = scores.n_candidates
        span = n_cand // self.q if self.focus else n_cand
        if span < self.q:
            raise ConfigurationError(
                f"quantiles: cannot cut {span} candidates into {self.q} quantiles; lower q (or turn off focus)"
            )
        window = self.window or default_window(scores.n_queries, None if features is None else features.memory_bytes)
        refill = window_refill(scores, features, self.name)
        full_i, full_q, full_v, fills = round_robin_order(scores.n_queries, n_cand, n_cand, refill, window)
        logger.info("quantiles: round-robin order of %d candidates in %d window fill(s)", n_cand, fills)
        edges = quantile_edges(n_cand, self.q, self.focus)
        pos_bin = np.full(n_cand, -1, np.int64)
        pos_rank = np.arange(n_cand, dtype=np.int64) - edges[-1]
        for b in range(self.q):
            pos_bin[edges[b] : edges[b + 1]] = b
            pos_rank[edges[b] : edges[b + 1]] = np.arange(edges[b + 1] - edges[b])
        head = np.zeros(n_cand, dtype=bool)
        for b in range(self.q):
            head[edges[b] : min(edges[b] + self.n, edges[b + 1])] = True
        # picks of the q subsets first (bin by bin), then the rest of the pool in RR order
        in_bin = pos_bin >= 0
        key_group = np.where(head, 0, np.where(in_bin, 1, 2))
        key_bin = np.where(key_group == 2, 0, pos_bin)
        order = np.lexsort((np.arange(n_cand), key_bin, key_group))[:budget]
        return self._ranking(
            full_i[order],
            full_q[order],
            full_v[order],
            n_cand,
            {"fills": fills},
            quantile=pos_bin[order],
            quantile_rank=pos_rank[order],
        )


def quantile_subsets(ranking: Ranking) -> dict[int, np.ndarray]:
    """The per-quantile subsets of a ``quantiles`` ranking: ``{bin: candidate indices}``.

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> r = QuantileSelector(q=2, n=1).rank(Scores.from_matrix(np.array([[0.9, 0.8, 0.7, 0.6]])), 4)
        >>> {b: v.tolist() for b, v in quantile_subsets(r).items()}
        {0: [0], 1: [2]}
    """
    if "quantile" not in ranking.extra or "n" not in ranking.params:
        raise ConfigurationError("not a quantiles ranking (no quantile column); select with method='quantiles'")
    n = int(ranking.params["n"])
    qb, qr = ranking.extra["quantile"], ranking.extra["quantile_rank"]
    out: dict[int, np.ndarray] = {}
    for b in range(int(ranking.params["q"])):
        sel = (qb == b) & (qr < n)
        out[b] = ranking.indices[sel]
    return out
