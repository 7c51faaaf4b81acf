"""Typed feature views: the query and candidate features a selector may read besides the scores.

:class:`FeatureViews` is the query side and the candidate side of a scoring run, each a
:class:`~targetsel.store.viewset.ViewSet` (one source per view and the views' weights, what
:meth:`Representation.encode_for_scoring <targetsel.represent.Representation.encode_for_scoring>`
returns; the two sides weighted alike, checked once), with the scoring settings (chunk rows,
device) and the memory budget. It offers what selectors do with them — score again with some
candidates excluded (:meth:`FeatureViews.rescore`), sweep the similarity matrix chunk by chunk
(:meth:`FeatureViews.chunks`), or read unit features of some candidates
(:meth:`FeatureViews.unit_candidates`).

Example:
    >>> import numpy as np
    >>> q, x = np.eye(2, 3), np.eye(5, 3)
    >>> views = FeatureViews(ViewSet.of(q), ViewSet.of(x))
    >>> views.rescore(top_k=1, exclude=np.array([True, False, False, False, False])).topk_indices.tolist()
    [[1], [1]]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score.integer import check_query_dtype
from targetsel.score.scores import Scores
from targetsel.score.similarity import check_same_weights, unit_features
from targetsel.score.stream import score, score_chunks, score_provenance
from targetsel.settings import memory_budget
from targetsel.store import RowSubset
from targetsel.store.viewset import ViewSet

__all__ = ["FeatureViews"]


class _RankScorer(Protocol):
    """What scores views whose candidate rows live on several torchrun ranks (a ``RankGroup``, see
    :mod:`targetsel.score.ranks`)."""

    def score(
        self, views: FeatureViews, top_k: int | None, *, desc: str = ..., exclude: np.ndarray | None = ...
    ) -> Scores: ...

    def chunks(self, views: FeatureViews, chunk_rows: int | None = ...) -> Iterator[tuple[int, np.ndarray]]: ...


@dataclass(frozen=True)
class FeatureViews:
    """The query side and the candidate side of a scoring run, and its settings.

    Attributes:
        queries: The queries' views, ``(M, d_v)`` per view; ``None`` when only candidate features
            are known (enough for knn's kernel density, not for scoring).
        candidates: The candidates' views, ``(N, d_v)`` per view.
        chunk_rows: Candidate rows per scoring chunk.
        device: Scoring device (``None``/``cpu`` or ``cuda``).
        memory_bytes: Memory budget (:mod:`targetsel.settings`; default 1 GiB or
            ``$TARGETSEL_MEMORY_BYTES``).
        query_dtype: ``float``, or ``int8``/``bit`` for integer passes over compressed
            candidates (see :func:`targetsel.score.score`).

    Raises:
        ConfigurationError: the two sides are weighted differently (other views or checkpoints).

    Example:
        >>> import numpy as np
        >>> FeatureViews(ViewSet.of(np.eye(2)), ViewSet.of(np.eye(2))).score().shape
        (2, 2)
        >>> FeatureViews(ViewSet.of(np.eye(2)), ViewSet.of(np.eye(2), [0.5]))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.ConfigurationError: ...
    """

    queries: ViewSet | None
    candidates: ViewSet
    chunk_rows: int = 16384
    device: str | None = None
    memory_bytes: int = field(default_factory=memory_budget)
    query_dtype: str = "float"

    def __post_init__(self) -> None:
        if self.queries is not None:
            check_same_weights(self.queries.weights, self.candidates.weights)
        object.__setattr__(self, "memory_bytes", memory_budget(self.memory_bytes))  # validated; None: the default
        check_query_dtype(self.query_dtype)

    @property
    def weights(self) -> tuple[float, ...]:
        """One weight per view, the same on both sides."""
        return self.candidates.weights

    @property
    def n_candidates(self) -> int:
        """N."""
        return self.candidates.n_rows

    @property
    def n_queries(self) -> int | None:
        """M, or ``None`` when the views hold no query features."""
        return None if self.queries is None else self.queries.n_rows

    def _query_side(self, what: str) -> ViewSet:
        if self.queries is None:
            raise ConfigurationError(
                f"{what} needs the query features besides the candidates' (run_selection passes both); "
                "or score without top_k"
            )
        return self.queries

    def provenance(self, top_k: int | None) -> dict[str, Any]:
        """What :meth:`score` records in ``Scores.provenance``, without scoring."""
        queries = self._query_side("provenance")
        return score_provenance(list(queries), list(self.candidates), self.weights, top_k, self.query_dtype)

    def score(self, top_k: int | None = None, *, desc: str = "score") -> Scores:
        """Score every query against every candidate (dense, or streaming with ``top_k``)."""
        return self._score(self._query_side("scoring"), top_k, desc, None)

    def _ranks(self) -> _RankScorer | None:
        """The rank group scoring these candidates when their rows live on several torchrun ranks, else ``None``
        (see :mod:`targetsel.score.ranks`)."""
        base = self.candidates.sources[0]
        while isinstance(base, RowSubset):
            base = base.base
        return getattr(base, "rank_group", None)

    def _score(self, queries: ViewSet, top_k: int | None, desc: str, exclude: np.ndarray | None) -> Scores:
        ranks = self._ranks()
        if ranks is not None:  # each rank scores its rows; the merge equals this one-process pass
            return ranks.score(self, top_k, desc=desc, exclude=exclude)
        return score(
            list(queries),
            list(self.candidates),
            weights=self.weights,
            top_k=top_k,
            chunk_rows=self.chunk_rows,
            device=self.device,
            desc=desc,
            exclude=exclude,
            query_dtype=self.query_dtype,
        )

    def rescore(self, *, top_k: int, exclude: np.ndarray | None = None, desc: str = "rescore") -> Scores:
        """A streaming scoring pass: each query's best ``top_k`` candidates outside ``exclude``.

        The scores are bit-identical to the first pass (excluded candidates score ``-inf``).

        Args:
            top_k: Candidates kept per query.
            exclude: ``(N,)`` bool, candidates to leave out (already taken).
            desc: Progress bar label.
        """
        return self._score(self._query_side(desc), top_k, desc, exclude)

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """The similarity matrix as ``(start, block (M, width))`` column chunks (see ``score_chunks``).

        The block buffer is reused for the next chunk: copy what you keep.
        """
        queries = self._query_side("a chunked pass over the similarities")
        ranks = self._ranks()
        if ranks is not None:
            return ranks.chunks(self, chunk_rows)
        return score_chunks(
            list(queries),
            list(self.candidates),
            weights=self.weights,
            chunk_rows=self.chunk_rows if chunk_rows is None else chunk_rows,
            device=self.device,
            query_dtype=self.query_dtype,
        )

    def unit_candidates(self, rows: np.ndarray) -> np.ndarray:
        """Unit-norm features of the given candidates (sorted, unique), views weighted and concatenated.

        See :func:`targetsel.score.similarity.unit_features`.
        """
        return unit_features(list(self.candidates), self.weights, rows)
