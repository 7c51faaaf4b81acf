"""The chunk driver: cosine scores of every query against candidate chunks, and streaming top-k.

:func:`score` computes ``S[q, j] = Σ_c w_c · cos(query_c[q], candidate_c[j])`` (the weight rule of
:mod:`targetsel.score.similarity`) over one or more (query, candidate) feature pairs. Candidates are
read in chunks of ``chunk_rows`` rows, so memory is bounded by the chunk (plus the output), never
by reading the whole store. A pass is one :class:`~targetsel.score.passes.ScorePass`, run by
:func:`run_pass`. Every product covers a fixed, absolutely aligned tile of ``_QROWS × BLOCK``
(see :class:`_BlockProducts`), on the CPU and on CUDA (:mod:`targetsel.score.cuda`) alike, so the
scores' bits never depend on ``chunk_rows`` or threads.
Streaming scores keep each query's best candidates with :class:`~targetsel.score.topk.StreamingTopK`.

Example:
    >>> import numpy as np
    >>> q, c = np.eye(2, 3, dtype=np.float32), np.eye(4, 3, dtype=np.float32)
    >>> score(q, c).matrix.tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, cast

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.progress import progress
from targetsel.score.integer import check_query_dtype
from targetsel.score.keys import MAX_CANDIDATES
from targetsel.score.passes import BLOCK, Blocks, ScorePass
from targetsel.score.scores import DenseScores, Scores, StreamingScores
from targetsel.score.similarity import normalize_rows, score_weights, unit_chunk
from targetsel.score.topk import StreamingTopK, use_compiled
from targetsel.store import FeatureSource, InMemoryFeatures

__all__ = ["FeaturesLike", "run_pass", "score", "score_chunks", "score_provenance"]

FeaturesLike = FeatureSource | np.ndarray

#: Query rows per matrix product: with ``BLOCK`` the fixed tile of work one thread computes.
_QROWS = 512


# ------------------------------------------------------------------------------- inputs, threads
def _as_source(x: object) -> FeatureSource:
    if isinstance(x, np.ndarray):
        return InMemoryFeatures(x)
    if not hasattr(x, "read_rows"):
        raise ConfigurationError(f"expected features (array, InMemoryFeatures or FeatureStore), got {type(x).__name__}")
    return cast(FeatureSource, x)  # duck-typed: any object with the reading methods


def _as_sources(x: FeaturesLike | Sequence[FeaturesLike]) -> list[FeatureSource]:
    return [_as_source(v) for v in (x if isinstance(x, (list, tuple)) else [x])]


@contextlib.contextmanager
def _torch_single_thread() -> Iterator[None]:
    """Run torch's CPU ops on the calling thread only, restoring the thread count afterwards.

    In the scoring loop torch only does short memory-bound steps (conversion, group maxima)
    between BLAS products; its idle OpenMP workers spin and slow the next product down, and the
    product's workers slow torch down. On one thread the steps are as fast and nothing contends.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _blas_threads() -> int:
    """Threads the caller allows BLAS (``threadpoolctl`` limits are honoured), at least 1."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return max(1, min(os.cpu_count() or 1, 8))
    counts = [int(i.get("num_threads") or 1) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, max(counts, default=1))


@contextlib.contextmanager
def _blas_single_thread() -> Iterator[None]:
    """BLAS on the calling thread only, for the duration (our own pool runs the blocks)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


class _BlockProducts:
    """Products of fixed, absolutely aligned candidate blocks, each on one BLAS thread.

    Why: OpenBLAS splits a product over its threads, and the tiles at the edges of each thread's
    share take other code paths whose sums round differently (seen with the Haswell kernel: 832 of
    123,500 scores 1 ulp apart between 1 and 2 threads). Here every product has the same shape
    (``(_QROWS, d) @ (d, BLOCK)``, the last query rows and the pool's last block excepted,
    whichever chunking), starts at an absolute multiple of ``BLOCK`` candidates and runs
    single-threaded; the threads run whole tiles side by side. So each score's bits depend only
    on the BLAS kernel, never on ``chunk_rows`` or the thread count.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> _BlockProducts:
        if self.threads > 1:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="targetsel-score")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def run(self, fn: Callable[[Any], None], units: Sequence[Any]) -> None:
        """``fn(unit)`` for every unit, on the pool's threads (in order when single-threaded)."""
        if self._pool is None or len(units) < 2:
            for unit in units:
                fn(unit)
            return
        for fut in [self._pool.submit(fn, unit) for unit in units]:
            fut.result()


# ---------------------------------------------------------------------------------------- blocks
def run_pass(p: ScorePass) -> Blocks:
    """Yield ``(start, block (M, width), mean over queries or None)`` per candidate chunk of ``p``.

    ``block`` is a view of ``p.out`` when given, else a buffer reused for the next chunk. The
    backend follows from the pass: exact integer products for ``query_dtype`` ``int8``/``bit``
    (:mod:`targetsel.score.integer`, CPU only), torch on a CUDA device
    (:mod:`targetsel.score.cuda`), else numpy/BLAS here. Every float product covers one absolute
    block of :data:`~targetsel.score.passes.BLOCK` candidates (see :class:`_BlockProducts`), on
    the CPU and on CUDA alike, so scores never depend on ``chunk_rows`` or threads.

    Example:
        >>> import numpy as np
        >>> from targetsel.store import InMemoryFeatures
        >>> p = ScorePass.create([InMemoryFeatures(np.eye(2, 3))], [InMemoryFeatures(np.eye(4, 3))])
        >>> [(start, block.tolist()) for start, block, _ in run_pass(p)]
        [(0, [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])]
    """
    if p.query_dtype != "float":
        from targetsel.score.integer import integer_blocks

        if p.on_cuda:
            raise ConfigurationError(f"query_dtype={p.query_dtype} scores on the CPU; use --device cpu")
        return integer_blocks(p)
    if p.on_cuda:
        from targetsel.score.cuda import blocks_cuda

        return blocks_cuda(p)
    return _cpu_blocks(p)


def _cpu_blocks(p: ScorePass) -> Blocks:
    """:func:`run_pass` on the CPU: float32 products of fixed tiles, in a pool of BLAS-single threads."""
    m, n, chunk_rows, exclude = p.n_queries, p.n_candidates, p.chunk_rows, p.exclude
    qn = [normalize_rows(q.to_array(), "query", 0) for q in p.queries]
    qmean = [x.mean(axis=0, dtype=np.float64).astype(np.float32) for x in qn]
    single = len(p.candidates) == 1 and p.weights[0] == 1.0
    wf = [np.float32(x) for x in p.weights]
    block_at = p.block_buffer()
    cand_bufs: dict[int, np.ndarray] = {}  # float32 chunk buffer per view, reused for the next chunk
    threads = _blas_threads()  # read before BLAS is limited to one thread below
    with _torch_single_thread(), _blas_single_thread(), _BlockProducts(threads) as products:
        for start in p.chunk_starts():
            stop = min(n, start + chunk_rows)
            width = stop - start
            block = block_at(start, stop)
            mean = np.zeros(width, np.float32) if p.with_mean else None
            cns: list[np.ndarray] = []
            for v, c in enumerate(p.candidates):
                buf = cand_bufs.setdefault(v, np.empty((min(n, chunk_rows), c.dim), dtype=np.float32))
                cns.append(unit_chunk(c, start, stop, buf[:width]))

            def one_block(
                unit: tuple[int, int],
                block: np.ndarray = block,
                cns: list[np.ndarray] = cns,
                mean: np.ndarray | None = mean,
                start: int = start,
                width: int = width,
            ) -> None:
                r0, b0 = unit
                r1, b1 = min(m, r0 + _QROWS), min(width, b0 + BLOCK)
                out = block[r0:r1, b0:b1]
                if mean is not None and r0 == 0:
                    # mean over queries of q·x = (mean of the queries)·x: one matrix-vector product
                    for i, cn in enumerate(cns):
                        mean[b0:b1] += wf[i] * (cn[b0:b1] @ qmean[i])
                if exclude is not None and exclude[start + b0 : start + b1].all():
                    out[...] = -np.inf
                    return
                for i, cn in enumerate(cns):
                    part = cn[b0:b1].T
                    if single:
                        np.matmul(qn[i][r0:r1], part, out=out)
                    elif i == 0:
                        out[...] = wf[i] * (qn[i][r0:r1] @ part)
                    else:
                        out += wf[i] * (qn[i][r0:r1] @ part)

            products.run(one_block, [(r0, b0) for b0 in range(0, width, BLOCK) for r0 in range(0, m, _QROWS)])
            if exclude is not None:
                np.copyto(block, -np.inf, where=exclude[None, start:stop])  # (boolean column indexing is ~10x slower)
            yield start, block, mean


# ---------------------------------------------------------------------------------------- score
def score_chunks(
    queries: FeaturesLike | Sequence[FeaturesLike],
    candidates: FeaturesLike | Sequence[FeaturesLike],
    *,
    weights: Sequence[float] | None = None,
    chunk_rows: int = 16384,
    device: str | None = None,
    query_dtype: str = "float",
) -> Iterator[tuple[int, np.ndarray]]:
    """The similarity matrix of :func:`score` as ``(start, block (M, width))`` column chunks.

    The same numbers, bit for bit, as ``score(...).matrix[:, start:start + width]``, for
    algorithms that sweep the matrix several times without holding it (e.g. streaming Sinkhorn).
    The block buffer is reused for the next chunk: copy what you keep.

    Example:
        >>> import numpy as np
        >>> q, c = np.eye(2, 3, dtype=np.float32), np.eye(4, 3, dtype=np.float32)
        >>> [(start, block.shape) for start, block in score_chunks(q, c)]
        [(0, (2, 4))]
    """
    p = ScorePass.create(
        _as_sources(queries),
        _as_sources(candidates),
        weights=weights,
        chunk_rows=chunk_rows,
        device=device,
        query_dtype=query_dtype,
    )
    for start, block, _ in run_pass(p):
        yield start, block


def score_provenance(
    queries: FeaturesLike | Sequence[FeaturesLike],
    candidates: FeaturesLike | Sequence[FeaturesLike],
    weights: Sequence[float] | None,
    top_k: int | None,
    query_dtype: str = "float",
) -> dict[str, Any]:
    """The ``provenance`` :func:`score` records (input manifests, weights, settings), without scoring.

    Example:
        >>> import numpy as np
        >>> score_provenance(np.eye(2), np.eye(2), None, None)["weights"]
        [1.0]
    """
    qs, cs = _as_sources(queries), _as_sources(candidates)
    w = score_weights(weights, len(qs))
    k = None if top_k is None else min(top_k, cs[0].num_rows)
    out = {
        "queries": [q.manifest for q in qs],
        "candidates": [c.manifest for c in cs],
        "weights": w.tolist(),
        "similarity": "cosine",
        "top_k": k,
    }
    if check_query_dtype(query_dtype) != "float":  # recorded only when set (float outputs stay as they were)
        out["query_dtype"] = query_dtype
    return out


def score(
    queries: FeaturesLike | Sequence[FeaturesLike],
    candidates: FeaturesLike | Sequence[FeaturesLike],
    *,
    weights: Sequence[float] | None = None,
    top_k: int | None = None,
    chunk_rows: int = 16384,
    device: str | None = None,
    desc: str = "score",
    exclude: np.ndarray | None = None,
    query_dtype: str = "float",
) -> Scores:
    """Cosine similarity of every query to every candidate, streamed over candidate chunks.

    Args:
        queries: Query features ``(M, d)``, or a list of them (one per checkpoint).
        candidates: Candidate features ``(N, d)``, or a list aligned with ``queries``.
        weights: One weight per (query, candidate) pair, used as given; default uniform ``1 / n_pairs``.
        top_k: Keep only each query's best ``top_k`` candidates (:class:`StreamingScores`);
            ``None`` keeps the dense matrix (:class:`DenseScores`).
        chunk_rows: Candidate rows per chunk (bounds memory); rounded up to a multiple of 4096.
            Scores are bit-identical for every chunk size and BLAS thread count on one machine.
        device: ``cpu`` (numpy/BLAS), ``cuda`` (torch), or ``None`` (cpu).
        desc: Progress bar label.
        exclude: Optional ``(N,)`` boolean mask (streaming form only): these candidates score
            ``-inf``, so each query's top-k lists the others first. Products are still taken in
            the same absolute blocks (a block with every row excluded is skipped), so the other
            scores are bit-identical to an unmasked pass.
        query_dtype: ``float`` (default: float32 queries against the decoded candidates; for bit
            stores the asymmetric estimator), or ``int8`` / ``bit``: queries compressed like the
            int8 / bit candidates and scored by exact integer products (the fastest pass;
            :mod:`targetsel.score.integer`).

    Returns:
        :class:`Scores` with provenance (input manifests, weights).

    Raises:
        InvalidDataError: empty inputs, dimension mismatch, NaN/inf features.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> s = score(rng.normal(size=(3, 8)), rng.normal(size=(100, 8)), top_k=5)
        >>> s.topk_indices.shape
        (3, 5)
    """
    qs, cs = _as_sources(queries), _as_sources(candidates)
    p = ScorePass.create(qs, cs, weights=weights, chunk_rows=chunk_rows, device=device, query_dtype=query_dtype)
    m, n = p.n_queries, p.n_candidates
    if top_k is not None and top_k <= 0:
        raise ConfigurationError(f"top_k must be positive, got {top_k}")
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if top_k is None or exclude.shape != (n,):
            raise ConfigurationError(f"exclude needs streaming scores (top_k) and shape ({n},), got {exclude.shape}")
    if top_k is not None and n >= MAX_CANDIDATES:
        raise ConfigurationError(f"streaming top-k supports fewer than {MAX_CANDIDATES:,} candidates, got {n:,}")
    provenance = score_provenance(qs, cs, p.weights.tolist(), top_k, query_dtype)
    if top_k is None:
        matrix = np.empty((m, n), dtype=np.float32)
        with progress(total=n, desc=desc, unit="cand") as bar:
            for _, block, _ in run_pass(replace(p, out=matrix)):
                bar.update(block.shape[1])
        return DenseScores(m, n, matrix=matrix, provenance=provenance)
    use_compiled(m * n)  # a pass large enough loads the compiled kernels, which each chunk then uses
    topk = StreamingTopK(m, min(top_k, n))
    cmax, cmean, cargmax = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.int64)
    with progress(total=n, desc=desc, unit="cand") as bar:
        for start, block, cmean_part in run_pass(replace(p, exclude=exclude, with_mean=True)):
            stop = start + block.shape[1]
            cmean[start:stop] = cmean_part
            cmax[start:stop], cargmax[start:stop] = topk.add_with_column_max(block, start)
            bar.update(stop - start)
    top_i, top_v = topk.result()
    return StreamingScores(m, n, top_i, top_v, cmax, cargmax, cmean, provenance=provenance)
