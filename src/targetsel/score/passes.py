"""One scoring pass as a value: the sources, weights and settings every backend of the chunk driver reads.

A :class:`ScorePass` is built once per pass (:meth:`ScorePass.create` validates the inputs and
fixes the chunk size) and handed whole to the backend that runs it: the numpy/BLAS path of
:mod:`targetsel.score.stream`, the CUDA path of :mod:`targetsel.score.cuda` or the exact integer
path of :mod:`targetsel.score.integer`. Each backend yields ``(start, block (M, width), mean over
queries or None)`` per candidate chunk (:func:`targetsel.score.stream.run_pass` picks it).

Example:
    >>> import numpy as np
    >>> from targetsel.store import InMemoryFeatures
    >>> p = ScorePass.create([InMemoryFeatures(np.eye(2, 3))], [InMemoryFeatures(np.eye(5, 3))], chunk_rows=10)
    >>> p.n_queries, p.n_candidates, p.chunk_rows, p.weights.tolist()
    (2, 5, 4096, [1.0])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score.similarity import score_weights
from targetsel.settings import chunk_copy_bytes
from targetsel.store import FeatureSource

__all__ = ["BLOCK", "Blocks", "ScorePass", "chunk_size"]

#: Candidate rows per matrix product. Products start at absolute multiples of ``BLOCK`` whatever
#: the chunk size, so a score's bits never depend on ``chunk_rows``.
BLOCK = 4096

#: What a backend yields per candidate chunk: ``(start, block (M, width), (width,) mean over queries or None)``.
Blocks = Iterator[tuple[int, np.ndarray, np.ndarray | None]]


def chunk_size(chunk_rows: int, dim: int) -> int:
    """The chunk size a pass uses for ``chunk_rows`` requested over ``dim``-wide candidates.

    The float32 copy of a chunk is bounded by the memory budget's share
    (:func:`~targetsel.settings.chunk_copy_bytes`) for wide features, then rounded up to whole
    :data:`BLOCK` s so block boundaries stay absolute.

    Raises:
        ConfigurationError: ``chunk_rows`` is not positive.

    Example:
        >>> chunk_size(1, 8), chunk_size(5000, 8)
        (4096, 8192)
    """
    if chunk_rows <= 0:
        raise ConfigurationError(f"chunk size must be positive, got {chunk_rows}")
    chunk_rows = min(chunk_rows, max(BLOCK, chunk_copy_bytes() // (4 * max(1, dim))))
    return -(-chunk_rows // BLOCK) * BLOCK


@dataclass(frozen=True, eq=False)
class ScorePass:
    """What one pass of the chunk driver over every candidate row needs.

    Build it with :meth:`create`, which validates the sources and fixes the chunk size; a pass
    built directly is checked the same way (``dataclasses.replace`` included).

    Attributes:
        queries: Query sources, one per view, ``M`` rows each.
        candidates: Candidate sources aligned with ``queries``, ``N`` rows each.
        weights: ``(n_views,)`` float64 view weights of ``S = Σ_c w_c cos_c``.
        chunk_rows: Candidate rows per chunk, a positive multiple of :data:`BLOCK`.
        device: ``None`` or ``cpu`` (numpy/BLAS), or ``cuda``/``cuda:N`` (torch).
        query_dtype: ``float``, or ``int8``/``bit`` for exact integer products
            (:mod:`targetsel.score.integer`).
        kernel: The integer kernel (``popcount_numba``, ``int_mm``, ``popcount``); ``None`` picks one.
        exclude: ``(N,)`` bool: candidates that score ``-inf``; ``None``: none.
        out: ``(M, N)`` float32 matrix the chunks are written into (each block is a view of it);
            ``None``: one buffer, reused for the next chunk.
        with_mean: Also yield each chunk's ``(width,)`` mean over queries.

    Example:
        >>> import numpy as np
        >>> from targetsel.store import InMemoryFeatures
        >>> q, c = InMemoryFeatures(np.eye(2, 3)), InMemoryFeatures(np.eye(4, 3))
        >>> ScorePass.create([q, q], [c, c], weights=[0.3, 0.7]).weights.tolist()
        [0.3, 0.7]
    """

    queries: tuple[FeatureSource, ...]
    candidates: tuple[FeatureSource, ...]
    weights: np.ndarray
    chunk_rows: int
    device: str | None = None
    query_dtype: str = "float"
    kernel: str | None = None
    exclude: np.ndarray | None = None
    out: np.ndarray | None = None
    with_mean: bool = False

    @classmethod
    def create(
        cls,
        queries: Iterable[FeatureSource],
        candidates: Iterable[FeatureSource],
        *,
        weights: Sequence[float] | None = None,
        chunk_rows: int = 16384,
        device: str | None = None,
        query_dtype: str = "float",
        kernel: str | None = None,
        exclude: np.ndarray | None = None,
        out: np.ndarray | None = None,
        with_mean: bool = False,
    ) -> ScorePass:
        """A validated pass: weights as :func:`~targetsel.score.similarity.score_weights` reads them
        (default uniform), the chunk size as :func:`chunk_size` fixes it.

        Raises:
            ConfigurationError: not one candidate source per query source, bad weights or chunk size.
            InvalidDataError: empty inputs, sources of different row counts or dimensions.

        Example:
            >>> import numpy as np
            >>> from targetsel.store import InMemoryFeatures
            >>> ScorePass.create([InMemoryFeatures(np.eye(2))], [InMemoryFeatures(np.eye(3))], weights=[1, 2])
            Traceback (most recent call last):
            ...
            targetsel.errors.ConfigurationError: need 1 finite weights, got [1, 2]
        """
        qs, cs = tuple(queries), tuple(candidates)
        if len(qs) != len(cs) or not qs:
            raise ConfigurationError(f"need one candidate source per query source, got {len(qs)} and {len(cs)}")
        return cls(
            queries=qs,
            candidates=cs,
            weights=score_weights(weights, len(qs)),
            chunk_rows=chunk_size(chunk_rows, max(c.dim for c in cs)),
            device=device,
            query_dtype=query_dtype,
            kernel=kernel,
            exclude=None if exclude is None else np.asarray(exclude, dtype=bool),
            out=out,
            with_mean=with_mean,
        )

    def __post_init__(self) -> None:
        qs, cs = self.queries, self.candidates
        if len(qs) != len(cs) or not qs:
            raise ConfigurationError(f"need one candidate source per query source, got {len(qs)} and {len(cs)}")
        if self.weights.shape != (len(qs),):
            raise ConfigurationError(f"need {len(qs)} weights, got {self.weights.tolist()}")
        m, n = qs[0].num_rows, cs[0].num_rows
        if m == 0:
            raise InvalidDataError("the query set is empty")
        if n == 0:
            raise InvalidDataError("the candidate pool is empty")
        for i, (q, c) in enumerate(zip(qs, cs, strict=True)):
            if q.num_rows != m or c.num_rows != n:
                raise InvalidDataError(f"feature pair {i} has {q.num_rows}×{c.num_rows} rows, expected {m}×{n}")
            if q.dim != c.dim:
                raise InvalidDataError(
                    f"feature pair {i}: queries have dimension {q.dim} but candidates {c.dim}; "
                    "encode both with the same representation and settings"
                )
        if self.chunk_rows <= 0 or self.chunk_rows % BLOCK:
            raise ConfigurationError(f"a pass's chunk size must be a multiple of {BLOCK}, got {self.chunk_rows}")
        if self.exclude is not None and self.exclude.shape != (n,):
            raise ConfigurationError(f"exclude must have shape ({n},), got {self.exclude.shape}")
        if self.out is not None and self.out.shape != (m, n):
            raise ConfigurationError(f"the output matrix must have shape ({m}, {n}), got {self.out.shape}")

    @property
    def n_queries(self) -> int:
        """M, the query rows."""
        return int(self.queries[0].num_rows)

    @property
    def n_candidates(self) -> int:
        """N, the candidate rows."""
        return int(self.candidates[0].num_rows)

    @property
    def on_cuda(self) -> bool:
        """Whether the pass runs on a CUDA device.

        Example:
            >>> import numpy as np
            >>> from targetsel.store import InMemoryFeatures
            >>> x = InMemoryFeatures(np.eye(2))
            >>> ScorePass.create([x], [x], device="cuda:1").on_cuda
            True
        """
        return self.device is not None and self.device.startswith("cuda")

    def chunk_starts(self) -> range:
        """The first candidate row of every chunk."""
        return range(0, self.n_candidates, self.chunk_rows)

    def block_buffer(self) -> Callable[[int, int], np.ndarray]:
        """``(start, stop) -> (M, stop - start)`` float32 block the chunk's scores go into.

        A view of :attr:`out` when given, else of one buffer that every chunk reuses.

        Example:
            >>> import numpy as np
            >>> from targetsel.store import InMemoryFeatures
            >>> p = ScorePass.create([InMemoryFeatures(np.eye(2))], [InMemoryFeatures(np.eye(5, 2))])
            >>> p.block_buffer()(0, 5).shape
            (2, 5)
        """
        m, out = self.n_queries, self.out
        if out is not None:
            return lambda start, stop: out[:, start:stop]
        buf = np.empty(m * min(self.n_candidates, self.chunk_rows), dtype=np.float32)
        return lambda start, stop: buf[: m * (stop - start)].reshape(m, stop - start)
