"""Typed feature views: the query and candidate features a selector may read besides the scores.

:class:`FeatureViews` replaces the string-keyed context (``candidate_features``, ``query_features``,
``score_options``) that selectors used to unpack by hand: it holds the feature sources of every view,
their weights (checked once: queries and candidates weighted alike), the scoring settings (chunk
rows, device) and the memory budget, and offers what selectors do with them — score again with some
candidates excluded (:meth:`FeatureViews.rescore`), sweep the similarity matrix chunk by chunk
(:meth:`FeatureViews.chunks`), or read unit features of some candidates
(:meth:`FeatureViews.unit_candidates`).

Example:
    >>> import numpy as np
    >>> q, x = np.eye(2, 3), np.eye(5, 3)
    >>> views = FeatureViews.from_encoded([q], [1.0], [x], [1.0])
    >>> views.rescore(top_k=1, exclude=np.array([True, False, False, False, False])).topk_indices.tolist()
    [[1], [1]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score.integer import check_query_dtype
from targetsel.score.scores import Scores
from targetsel.score.similarity import check_same_weights, unit_features
from targetsel.score.stream import FeaturesLike, _as_sources, score, score_chunks, score_provenance
from targetsel.settings import memory_budget
from targetsel.store import FeatureSource, RowSubset

__all__ = ["FeatureViews"]


@dataclass(frozen=True)
class FeatureViews:
    """Query and candidate features (one source per view), their weights and the scoring settings.

    Attributes:
        candidates: One ``(N, d_c)`` candidate source per view.
        weights: One weight per view (the weight rule of :mod:`targetsel.score.similarity`).
        queries: One ``(M, d_c)`` query source per view; empty when only candidate features are
            known (enough for knn's kernel density, not for rescoring).
        chunk_rows: Candidate rows per scoring chunk.
        device: Scoring device (``None``/``cpu`` or ``cuda``).
        memory_bytes: Memory budget (:mod:`targetsel.settings`; default 1 GiB or
            ``$TARGETSEL_MEMORY_BYTES``).
        query_dtype: ``float``, or ``int8``/``bit`` for integer passes over compressed
            candidates (see :func:`targetsel.score.score`).

    Example:
        >>> import numpy as np
        >>> FeatureViews.from_encoded([np.eye(2)], [1.0], [np.eye(2)], [1.0]).score().shape
        (2, 2)
    """

    candidates: tuple[FeatureSource, ...]
    weights: tuple[float, ...]
    queries: tuple[FeatureSource, ...] = ()
    chunk_rows: int = 16384
    device: str | None = None
    memory_bytes: int = field(default_factory=memory_budget)
    query_dtype: str = "float"

    def __post_init__(self) -> None:
        if not self.candidates or len(self.weights) != len(self.candidates):
            raise ConfigurationError(
                f"feature views need one weight per candidate view, got {len(self.weights)} for {len(self.candidates)}"
            )
        if self.queries and len(self.queries) != len(self.candidates):
            raise ConfigurationError(
                f"need one candidate view per query view, got {len(self.queries)} and {len(self.candidates)}"
            )
        n = self.candidates[0].num_rows
        if any(c.num_rows != n for c in self.candidates):
            raise InvalidDataError("the candidate views disagree on the number of candidates")
        memory_budget(self.memory_bytes)  # validated
        check_query_dtype(self.query_dtype)

    @classmethod
    def from_encoded(
        cls,
        queries: FeaturesLike | Sequence[FeaturesLike],
        query_weights: Sequence[float],
        candidates: FeaturesLike | Sequence[FeaturesLike],
        candidate_weights: Sequence[float],
        *,
        chunk_rows: int = 16384,
        device: str | None = None,
        memory_bytes: int | None = None,
        query_dtype: str = "float",
    ) -> FeatureViews:
        """Views from what :meth:`Representation.encode_for_scoring` returned for both roles.

        The one check that queries and candidates are weighted alike lives here.

        Raises:
            ConfigurationError: the query and candidate weights differ.

        Example:
            >>> import numpy as np
            >>> FeatureViews.from_encoded([np.eye(2)], [1.0], [np.eye(2)], [0.5])  # doctest: +IGNORE_EXCEPTION_DETAIL
            Traceback (most recent call last):
            targetsel.errors.ConfigurationError: ...
        """
        check_same_weights(query_weights, candidate_weights)
        return cls(
            candidates=tuple(_as_sources(candidates)),
            weights=tuple(float(w) for w in candidate_weights),
            queries=tuple(_as_sources(queries)),
            chunk_rows=chunk_rows,
            device=device,
            memory_bytes=memory_budget(memory_bytes),
            query_dtype=query_dtype,
        )

    @classmethod
    def from_pairs(
        cls, candidate_features: tuple[Any, Sequence[float]] | None, query_features: tuple[Any, Sequence[float]] | None
    ) -> FeatureViews | None:
        """Views from ``(sources, weights)`` pairs, the keyword form ``rank(..., candidate_features=...)``.

        A single source (not a list) counts as one view of weight 1.

        Example:
            >>> import numpy as np
            >>> FeatureViews.from_pairs(([np.eye(3)], [1.0]), None).n_candidates
            3
        """
        if candidate_features is None:
            return None
        c_src, c_w = candidate_features
        if not isinstance(c_src, (list, tuple)):
            c_src, c_w = [c_src], [1.0]
        if query_features is None:
            return cls(candidates=tuple(_as_sources(list(c_src))), weights=tuple(float(w) for w in c_w))
        q_src, q_w = query_features
        return cls.from_encoded(q_src, q_w, list(c_src), c_w)

    @property
    def n_candidates(self) -> int:
        return int(self.candidates[0].num_rows)

    @property
    def n_queries(self) -> int | None:
        """M, or ``None`` when the views hold no query features."""
        return int(self.queries[0].num_rows) if self.queries else None

    def _need_queries(self, what: str) -> None:
        if not self.queries:
            raise ConfigurationError(
                f"{what} needs query_features and candidate_features (run_selection passes them); "
                "or score without top_k"
            )

    def provenance(self, top_k: int | None) -> dict[str, Any]:
        """What :meth:`score` records in ``Scores.provenance``, without scoring."""
        self._need_queries("provenance")
        return score_provenance(list(self.queries), list(self.candidates), self.weights, top_k, self.query_dtype)

    def score(self, top_k: int | None = None, *, desc: str = "score") -> Scores:
        """Score every query against every candidate (dense, or streaming with ``top_k``)."""
        self._need_queries("scoring")
        return self._score(top_k, desc, None)

    def _ranks(self) -> Any:
        """The rank group scoring these candidates when their rows live on several torchrun ranks, else ``None``
        (see :mod:`targetsel.score.ranks`)."""
        base = self.candidates[0]
        while isinstance(base, RowSubset):
            base = base.base
        return getattr(base, "rank_group", None)

    def _score(self, top_k: int | None, desc: str, exclude: np.ndarray | None) -> Scores:
        ranks = self._ranks()
        if ranks is not None:  # each rank scores its rows; the merge equals this one-process pass
            return ranks.score(self, top_k, desc=desc, exclude=exclude)
        return score(
            list(self.queries),
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
        self._need_queries(desc)
        return self._score(top_k, desc, exclude)

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """The similarity matrix as ``(start, block (M, width))`` column chunks (see ``score_chunks``).

        The block buffer is reused for the next chunk: copy what you keep.
        """
        self._need_queries("a chunked pass over the similarities")
        ranks = self._ranks()
        if ranks is not None:
            return ranks.chunks(self, chunk_rows)
        return score_chunks(
            list(self.queries),
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
