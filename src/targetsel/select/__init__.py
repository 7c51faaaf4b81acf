"""Selection algorithms: each turns query × candidate scores into a ranking of the pool.

One registry (``SELECTORS``) holds every algorithm; :func:`select` runs one by name.
"""

from __future__ import annotations

from targetsel.select.base import SELECTORS, Ranking, Selector, get_selector, register_selector, select
from targetsel.select.greedy import DoublyGreedy, MeanSimilarity, RoundRobin
from targetsel.select.random import RandomSelector

__all__ = [
    "SELECTORS",
    "DoublyGreedy",
    "MeanSimilarity",
    "RandomSelector",
    "Ranking",
    "RoundRobin",
    "Selector",
    "get_selector",
    "register_selector",
    "select",
]
