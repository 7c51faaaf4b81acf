"""The seeded uniform random baseline (always report it).

It reads neither scores nor features (``requires_scores = False``): the pipeline does not score
for it, and only the pool size is needed.
"""

from __future__ import annotations

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import FeatureViews, Scores
from targetsel.select.base import Ranking, Selector, register_selector

__all__ = ["RandomSelector"]


@register_selector
class RandomSelector(Selector):
    """A seeded random permutation of the pool: every prefix is a uniform sample.

    Args:
        seed: Random seed (numpy ``default_rng``); same seed, same order, for every budget.

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.zeros((1, 5)))
        >>> RandomSelector(seed=1).rank(s, 5).indices.tolist() == RandomSelector(seed=1).rank(s, 5).indices.tolist()
        True
    """

    name = "random"
    label = "RANDOM"
    requires_scores = False
    supports_streaming = True

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Random ignores the scores."""
        return 1

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigurationError(f"random seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        if scores is not None:
            n = scores.n_candidates
        else:
            assert features is not None  # Selector.rank refuses a call with neither
            n = features.n_candidates
        order = np.random.default_rng(self.seed).permutation(n)[:budget]
        return self._ranking(order, None, None, n)
