"""Score results: one small protocol, two forms.

:class:`Scores` is what selectors read: per-candidate statistics (maximum, arg-maximum, mean over
queries) and each query's best candidates in exact order (score desc, index asc). Two forms
implement it:

* :class:`DenseScores`: the full ``(n_queries, n_candidates)`` float32 matrix;
* :class:`StreamingScores`: each query's best ``K`` candidates plus the per-candidate statistics,
  computed exactly while streaming (memory ``O(M·K + N)``).

Example:
    >>> import numpy as np
    >>> s = Scores.from_matrix(np.array([[0.1, 0.9], [0.5, 0.2]]))
    >>> type(s).__name__, s.candidate_best().tolist()
    ('DenseScores', [0.5, 0.8999999761581421])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score.topk import column_max_argmax, dense_topk, use_compiled
from targetsel.store.codecs import as_tensor

__all__ = ["DenseScores", "Scores", "StreamingScores"]


class Scores(ABC):
    """Similarities between ``n_queries`` queries and ``n_candidates`` candidates (the protocol).

    Attributes:
        n_queries: M.
        n_candidates: N.
        provenance: Manifests of the inputs, weights and settings.

    Example:
        >>> import numpy as np
        >>> s = Scores.from_matrix(np.array([[0.1, 0.9], [0.5, 0.2]]))
        >>> s.shape, s.is_dense
        ((2, 2), True)
    """

    n_queries: int
    n_candidates: int
    provenance: dict[str, Any]
    #: True for the dense matrix form.
    is_dense: ClassVar[bool]

    @staticmethod
    def from_matrix(matrix: np.ndarray, provenance: dict[str, Any] | None = None) -> DenseScores:
        """Wrap a dense ``(n_queries, n_candidates)`` similarity matrix (validated, float32).

        Raises:
            InvalidDataError: not 2-D, empty, or containing NaN/inf.

        Example:
            >>> Scores.from_matrix(np.zeros((2, 3))).shape
            (2, 3)
        """
        m = np.asarray(matrix)
        if m.ndim != 2:
            raise InvalidDataError(f"scores must be a 2-D (queries, candidates) matrix, got shape {m.shape}")
        if m.shape[0] == 0:
            raise InvalidDataError("the query set is empty: scores have 0 rows")
        if m.shape[1] == 0:
            raise InvalidDataError("the candidate pool is empty: scores have 0 columns")
        m = np.ascontiguousarray(m, dtype=np.float32)
        # one reduction instead of an (M, N) boolean mask: any NaN/inf makes the sum non-finite
        # (a finite sum proves there is none; torch's reduction uses every core); only then look
        # for the first bad entry. (The compiled column pass checks too, but costs twice the sum at
        # (500, 2M): the selectors that need its statistics compute them when they ask.)
        if not np.isfinite(float(as_tensor(m).sum())) and not np.isfinite(m).all():
            q, j = np.argwhere(~np.isfinite(m))[0]
            raise InvalidDataError(f"scores contain NaN or inf (first at query {q}, candidate {j}); check the features")
        return DenseScores(m.shape[0], m.shape[1], matrix=m, provenance=dict(provenance or {}))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_queries, self.n_candidates)

    @property
    def top_k(self) -> int | None:
        """K of the streaming form (``None`` when dense)."""
        return None

    @abstractmethod
    def dense(self) -> np.ndarray:
        """The dense matrix; raises when the scores were computed in streaming form."""

    @abstractmethod
    def candidate_max(self) -> tuple[np.ndarray, np.ndarray]:
        """``(max over queries, argmax query)`` per candidate, shapes ``(N,)``."""

    @abstractmethod
    def candidate_best(self) -> np.ndarray:
        """Max over queries per candidate, shape ``(N,)``."""

    @abstractmethod
    def best_query(self, candidates: np.ndarray) -> np.ndarray:
        """Query reaching each given candidate's maximum (lowest index on ties), ``(len(candidates),)``."""

    @abstractmethod
    def candidate_mean(self) -> np.ndarray:
        """Mean similarity over queries per candidate, shape ``(N,)``."""

    @abstractmethod
    def row_topk(self, rows: np.ndarray | Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Best ``k`` candidates of the given query rows, ordered (score desc, index asc).

        Returns:
            ``(indices (len(rows), k'), values (len(rows), k'), complete)`` where ``k' = min(k, N)``
            in dense form. In streaming form ``k'`` is capped at K and ``complete`` says whether
            the lists are exact prefixes of length ``k`` (false when ``k > K`` and ``K < N``).
        """


@dataclass
class DenseScores(Scores):
    """The full similarity matrix.

    Attributes:
        n_queries: M.
        n_candidates: N.
        matrix: ``(M, N)`` float32.
        provenance: Manifests of the inputs, weights and settings.

    Example:
        >>> import numpy as np
        >>> Scores.from_matrix(np.array([[0.9, 0.8, 0.1]])).row_topk([0], 2)[0].tolist()
        [[0, 1]]
    """

    n_queries: int
    n_candidates: int
    matrix: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    is_dense: ClassVar[bool] = True
    #: Column maxima, computed on first use and kept (doubly-greedy and the pipeline's summaries read them).
    _best: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    #: The first query reaching each column maximum, when computed (with the maxima, or on request).
    _arg: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    #: Column maxima of each block of :attr:`_block_rows` query rows (numpy's form of the maxima), from
    #: which :meth:`best_query` finds a pick's query in one block of rows instead of all of them.
    _block_max: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _block_rows: int = field(default=1, init=False, repr=False, compare=False)

    def dense(self) -> np.ndarray:
        return self.matrix

    def candidate_max(self) -> tuple[np.ndarray, np.ndarray]:
        """``(max over queries, argmax query)`` per candidate; computed once and kept (do not modify them)."""
        if self._arg is None:
            self._best, self._arg = column_max_argmax(self.matrix)
        assert self._best is not None
        return self._best, self._arg

    def candidate_best(self) -> np.ndarray:
        """Max over queries per candidate, ``(N,)``; computed once and kept (do not modify it)."""
        if self._best is None:
            if use_compiled(self.matrix.size):
                return self.candidate_max()[0]  # one compiled pass, the argmax with it
            # the maxima of ~10 blocks of rows, then of those: as fast as one max over all rows
            # (24 ms at (500, 200K) on 2 cores; torch's amax 27-33 ms), and best_query reads one block
            m, n = self.matrix.shape
            rows = -(-m // 10)
            full = m // rows * rows
            parts = [self.matrix[:full].reshape(full // rows, rows, n).max(axis=1)]
            if full < m:
                parts.append(self.matrix[full:].max(axis=0, keepdims=True))
            self._block_max = np.concatenate(parts) if len(parts) > 1 else parts[0]
            self._block_rows = rows
            self._best = self._block_max.max(axis=0)
        return self._best

    def best_query(self, candidates: np.ndarray) -> np.ndarray:
        candidates = np.asarray(candidates, dtype=np.int64)
        self.candidate_best()  # (kept: computed at most once)
        if self._arg is not None:  # the compiled pass, or candidate_max, gave every column's query
            arg: np.ndarray = self._arg[candidates]
            return arg
        assert self._best is not None and self._block_max is not None
        m, rows = self.matrix.shape[0], self._block_rows
        # the first block of rows reaching each column's maximum, then the first row in it: reads
        # block-rows entries per pick, not M; the columns in ascending order (each row read forwards),
        # then put back in order
        perm = np.argsort(candidates, kind="stable")
        cols = candidates[perm]
        best = self._best[cols]
        first_block = (self._block_max[:, cols] == best).argmax(axis=0)
        r = first_block[None, :] * rows + np.arange(rows)[:, None]  # (rows, picks)
        valid = r < m
        hit = (self.matrix[np.minimum(r, m - 1), cols[None, :]] == best[None, :]) & valid
        out = np.empty(candidates.size, dtype=np.int64)
        out[perm] = first_block * rows + hit.argmax(axis=0)
        return out

    def candidate_mean(self) -> np.ndarray:
        mean: np.ndarray = self.matrix.mean(axis=0, dtype=np.float64).astype(np.float32)
        return mean

    def row_topk(self, rows: np.ndarray | Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        idx, val = dense_topk(self.matrix, k, rows)  # a few rows at a time: no (M, N) copy
        return idx, val, True


@dataclass
class StreamingScores(Scores):
    """Each query's best ``K`` candidates and the exact per-candidate statistics.

    Attributes:
        n_queries: M.
        n_candidates: N.
        topk_indices: ``(M, K)`` int64, each row's best candidates (score desc, index asc).
        topk_values: ``(M, K)`` float32, their scores.
        cand_max: ``(N,)`` float32 maximum over queries.
        cand_argmax: ``(N,)`` int64 query reaching it (lowest index on ties).
        cand_mean: ``(N,)`` float32 mean over queries.
        provenance: Manifests of the inputs, weights and settings.

    Example:
        >>> import numpy as np
        >>> s = StreamingScores(1, 3, np.array([[1]]), np.array([[0.9]], np.float32),
        ...                     np.array([0.1, 0.9, 0.2], np.float32), np.zeros(3, np.int64), np.zeros(3, np.float32))
        >>> s.top_k, s.row_topk([0], 2)[2]
        (1, False)
    """

    n_queries: int
    n_candidates: int
    topk_indices: np.ndarray
    topk_values: np.ndarray
    cand_max: np.ndarray
    cand_argmax: np.ndarray
    cand_mean: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    is_dense: ClassVar[bool] = False

    @property
    def top_k(self) -> int | None:
        return int(self.topk_indices.shape[1])

    def dense(self) -> np.ndarray:
        raise ConfigurationError(
            "this method needs the full score matrix, but scores were computed with top_k; "
            "score again without top_k (--top-k 0)"
        )

    def candidate_max(self) -> tuple[np.ndarray, np.ndarray]:
        return self.cand_max, self.cand_argmax

    def candidate_best(self) -> np.ndarray:
        return self.cand_max

    def best_query(self, candidates: np.ndarray) -> np.ndarray:
        best: np.ndarray = self.cand_argmax[candidates]
        return best

    def candidate_mean(self) -> np.ndarray:
        return self.cand_mean

    def row_topk(self, rows: np.ndarray | Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        rows = np.asarray(rows, dtype=np.int64)
        kk = min(k, self.topk_indices.shape[1])
        complete = kk >= k or self.topk_indices.shape[1] >= self.n_candidates
        return self.topk_indices[rows, :kk], self.topk_values[rows, :kk], complete
