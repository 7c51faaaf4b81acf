"""The features of one set of examples in one or more views, with the views' weights.

A representation gives each example one vector per *view* (LESS: one per warmup checkpoint; the
other representations: one) and each view a weight (:mod:`targetsel.score.similarity` states the
weight rule). :class:`ViewSet` carries both together wherever multi-view features travel: it is what
:meth:`Representation.encode_for_scoring <targetsel.represent.Representation.encode_for_scoring>`
returns, the query side and the candidate side of :class:`targetsel.score.FeatureViews`, and what
:mod:`targetsel.diagnose` measures distances between.

Example:
    >>> import numpy as np
    >>> side = ViewSet.of([np.eye(4, 3), np.ones((4, 2))], [0.25, 0.75])
    >>> side.n_rows, len(side), side.weights
    (4, 2, (0.25, 0.75))
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.store.memory import FeatureSource, InMemoryFeatures
from targetsel.store.rows import RowSubset

__all__ = ["ViewSet"]

#: One view's features: a source, or an array held in memory as it is.
_Features = FeatureSource | np.ndarray


@dataclass(frozen=True)
class ViewSet:
    """One feature source per view of the same rows, and one weight per view.

    A ViewSet is a sequence of its sources: ``len(side)`` is the number of views and iterating
    gives the sources in view order.

    Attributes:
        sources: One ``(n_rows, d_v)`` source per view.
        weights: One finite weight per view.

    Raises:
        ConfigurationError: no view, or not one finite weight per view.
        InvalidDataError: the views disagree on the number of rows.

    Example:
        >>> import numpy as np
        >>> ViewSet((InMemoryFeatures(np.eye(3)),), (1.0,)).n_rows
        3
        >>> ViewSet.of([np.eye(3), np.eye(2)])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.InvalidDataError: ...
    """

    sources: tuple[FeatureSource, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if not self.sources or len(self.weights) != len(self.sources):
            raise ConfigurationError(
                f"features need one weight per view, got {len(self.weights)} for {len(self.sources)} view(s)"
            )
        if not all(math.isfinite(w) for w in self.weights):
            raise ConfigurationError(f"view weights must be finite, got {list(self.weights)}")
        n = self.sources[0].num_rows
        if any(s.num_rows != n for s in self.sources):
            rows = [s.num_rows for s in self.sources]
            raise InvalidDataError(f"the views of one set of examples disagree on its rows: {rows}")

    @classmethod
    def of(
        cls,
        features: _Features | list[_Features] | tuple[_Features, ...],
        weights: Sequence[float] | None = None,
    ) -> ViewSet:
        """Views from an array or source (one view) or a list of them (one per view).

        Args:
            features: ``(n_rows, d)`` array or feature source, or one per view; arrays are held
                as they are (:class:`~targetsel.store.InMemoryFeatures`).
            weights: One weight per view; ``None``: equal weights summing to 1.

        Example:
            >>> import numpy as np
            >>> ViewSet.of(np.eye(3)).weights, ViewSet.of([np.eye(3), np.eye(3)]).weights
            ((1.0,), (0.5, 0.5))
        """
        items: list[_Features] = list(features) if isinstance(features, (list, tuple)) else [features]
        sources: tuple[FeatureSource, ...] = tuple(
            InMemoryFeatures(x) if isinstance(x, np.ndarray) else x for x in items
        )
        if weights is None:
            weights = [1.0 / len(sources)] * len(sources) if sources else []
        return cls(sources, tuple(weights))

    @classmethod
    def stack(cls, sides: Sequence[ViewSet]) -> ViewSet:
        """The rows of several sets one after another, per view (float32, in memory).

        Each view keeps the first set's manifest; one set is returned as it is.

        Raises:
            ConfigurationError: the sets have different views or weights.

        Example:
            >>> import numpy as np
            >>> ViewSet.stack([ViewSet.of(np.eye(2)), ViewSet.of(np.ones((3, 2)))]).n_rows
            5
        """
        if not sides:
            raise ConfigurationError("no features to stack")
        first = sides[0]
        for other in sides[1:]:
            if other.weights != first.weights:
                raise ConfigurationError(
                    f"features of different views or weights ({list(first.weights)} vs {list(other.weights)}); "
                    "encode every set with the same representation and checkpoints"
                )
        if len(sides) == 1:
            return first
        stacked = []
        for per_view in zip(*(side.sources for side in sides), strict=True):
            rows = np.concatenate([np.asarray(s.to_array(), dtype=np.float32) for s in per_view])
            stacked.append(InMemoryFeatures(rows, per_view[0].manifest))
        return cls(tuple(stacked), first.weights)

    @property
    def n_rows(self) -> int:
        """The number of examples (rows of every view)."""
        return int(self.sources[0].num_rows)

    def subset(self, rows: np.ndarray) -> ViewSet:
        """Rows ``rows`` (strictly increasing) of every view, read in place (:class:`~targetsel.store.RowSubset`).

        Example:
            >>> import numpy as np
            >>> ViewSet.of(np.eye(5)).subset(np.array([1, 3])).n_rows
            2
        """
        return ViewSet(tuple(RowSubset(s, rows) for s in self.sources), self.weights)

    def __len__(self) -> int:
        return len(self.sources)

    def __iter__(self) -> Iterator[FeatureSource]:
        return iter(self.sources)
