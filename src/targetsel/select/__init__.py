"""Selection algorithms: each turns query × candidate scores into a ranking of the pool.

One registry (``SELECTORS``) holds every algorithm; :func:`select` runs one by name.
"""

from __future__ import annotations

from targetsel.select.base import SELECTORS, Ranking, Selector, get_selector, register_selector, select
from targetsel.select.greedy import DoublyGreedy, MeanSimilarity, RoundRobin
from targetsel.select.knn import KNNKDE, KNNUniform
from targetsel.select.quantiles import QuantileSelector
from targetsel.select.random import RandomSelector
from targetsel.select.transport import UnbalancedOT

__all__ = [
    "KNNKDE",
    "SELECTORS",
    "DoublyGreedy",
    "KNNUniform",
    "MeanSimilarity",
    "QuantileSelector",
    "RandomSelector",
    "Ranking",
    "RoundRobin",
    "Selector",
    "UnbalancedOT",
    "get_selector",
    "register_selector",
    "select",
]
