"""Integer scoring passes over compressed candidates: ``query_dtype="int8"`` and ``query_dtype="bit"``.

The default (``query_dtype="float"``) scores float32 queries against the decoded candidates — for a
bit store the asymmetric estimator ``q · sign(x) / (‖q‖ √d)``. These two modes compress the queries
too and take exact integer products, for the fastest pass:

``bit`` (bit candidates)
    Queries binarised like the candidates (``q >= 0``). ``S = (d − 2·hamming(q, x)) / d``, the
    cosine of the two sign vectors. Kernels, all giving the same integers: XOR + popcount over
    64-bit words of the packed bytes compiled by numba (``popcount_numba``, the default when numba
    is installed: ``pip install "targetsel[fast]"``; no unpacking), ``int8`` products of the
    unpacked ±1 vectors (``int_mm``: ``torch._int_mm``, int32 sums) or XOR + popcount in numpy
    (``popcount``: ``numpy.bitwise_count``, the reference).

``int8`` (int8 candidates)
    Queries quantised like the candidates (per-row absmax). ``S = q·x / (‖q‖ ‖x‖)`` on the int8
    values (the scales cancel), by ``torch._int_mm``.

Products are exact integers, so the scores' bits never depend on chunking, threads or kernel.
An all-zero row (query or candidate) scores 0, as in the float path.

Example:
    >>> import numpy as np
    >>> from targetsel.store import EncodedFeatures
    >>> x = EncodedFeatures.from_float(np.array([[1.0, -1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, 1.0]]), "bit")
    >>> from targetsel.score import score
    >>> score(np.array([[2.0, -3.0, 1.0, 5.0]]), x, query_dtype="bit").matrix.tolist()
    [[1.0, 0.0]]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score.topk import compiled_kernels
from targetsel.store import FeatureSource, get_codec
from targetsel.store.codecs import sign_rows

if TYPE_CHECKING:
    from targetsel.score.passes import Blocks, ScorePass

__all__ = ["QUERY_DTYPES", "check_query_dtype", "integer_blocks", "popcount_dots"]

#: How queries are scored: ``float`` (default), or compressed with integer products.
QUERY_DTYPES = ("float", "int8", "bit")

#: ``(M, d) int8 @ (W, d)ᵀ int8 → (M, W) int32`` (:func:`_int_mm`).
_IntMM = Callable[[np.ndarray, np.ndarray], np.ndarray]


def check_query_dtype(name: str) -> str:
    """``name`` if it is a query dtype, else a :class:`ConfigurationError` listing them.

    Example:
        >>> check_query_dtype("bit")
        'bit'
    """
    if name not in QUERY_DTYPES:
        raise ConfigurationError(f"query dtype must be one of {', '.join(QUERY_DTYPES)}, got {name!r}")
    return name


def _int_mm() -> _IntMM | None:
    """``(M, d) int8 @ (W, d)ᵀ int8 → (M, W) int32`` by torch, or ``None`` where torch lacks it."""
    import torch

    fn = getattr(torch, "_int_mm", None)
    if fn is None:  # pragma: no cover - every torch this project supports has it
        return None

    def mm(q: np.ndarray, x: np.ndarray) -> np.ndarray:
        dots: np.ndarray = fn(torch.from_numpy(q), torch.from_numpy(x).T).numpy()
        return dots

    return mm


def popcount_dots(q_packed: np.ndarray, x_packed: np.ndarray, dim: int) -> np.ndarray:
    """``±1`` dot products ``d − 2·popcount(q ⊕ x)`` of packed sign bits, ``(M, W)`` int32.

    Args:
        q_packed: ``(M, nbytes)`` uint8 (``numpy.packbits`` rows, zero padding).
        x_packed: ``(W, nbytes)`` uint8.
        dim: Number of features (bits per row).

    Example:
        >>> q = np.packbits(np.array([[1, 0, 1, 1]], dtype=bool), axis=1)
        >>> x = np.packbits(np.array([[1, 0, 1, 1], [0, 0, 0, 1]], dtype=bool), axis=1)
        >>> popcount_dots(q, x, 4).tolist()
        [[4, 0]]
    """
    nbytes = q_packed.shape[1]
    words = -(-nbytes // 8)

    def as_words(a: np.ndarray) -> np.ndarray:
        out = np.zeros((a.shape[0], words * 8), np.uint8)
        out[:, :nbytes] = a
        return out.view(np.uint64)

    qw, xw = as_words(q_packed), as_words(x_packed)
    tmp = np.empty_like(xw)
    counts = np.empty(xw.shape, np.uint8)
    out = np.empty((qw.shape[0], xw.shape[0]), np.int32)
    for i in range(qw.shape[0]):
        np.bitwise_xor(xw, qw[i], out=tmp)
        np.bitwise_count(tmp, out=counts)
        out[i] = counts.sum(axis=1, dtype=np.int32)
    np.multiply(out, -2, out=out)
    out += dim
    return out


def numba_popcount() -> Callable[..., None] | None:
    """The numba-compiled XOR + popcount kernel ``(q words, x words, dim, out)``, or ``None`` without numba.

    Loaded from numba's on-disk cache (compiled on the first use ever); tiles of candidates run in
    parallel (:func:`targetsel.score.compiled.popcount_scores`), one launch at a time
    (:func:`targetsel.score.compiled.launch`).
    """
    kernels = compiled_kernels()
    return None if kernels is None else functools.partial(kernels.launch, kernels.popcount_scores)


def _words(packed: np.ndarray) -> np.ndarray:
    """Packed bit rows as ``(rows, ceil(nbytes / 8))`` uint64 words (zero padding; a view when aligned)."""
    rows, nbytes = packed.shape
    if nbytes % 8 == 0 and packed.flags.c_contiguous:
        return packed.view(np.uint64)
    out = np.zeros((rows, -(-nbytes // 8) * 8), np.uint8)
    out[:, :nbytes] = packed
    return out.view(np.uint64)


def _row_norms(x: np.ndarray) -> np.ndarray:
    """float64 L2 norms of integer rows (exact sums of squares)."""
    xi = x.astype(np.int32)
    norms: np.ndarray = np.sqrt(np.einsum("ij,ij->i", xi, xi).astype(np.float64))
    return norms


def _checked_kernels(
    cs: Sequence[FeatureSource], need: str, kernel: str | None
) -> tuple[Callable[..., None] | None, _IntMM | None]:
    """``(numba popcount, int_mm)``, one of them set, after checking the stores and the kernel name."""
    for i, c in enumerate(cs):
        codec = getattr(c, "codec", None)
        if codec is None or codec.name != need:
            have = getattr(codec, "name", None) or c.manifest.get("dtype", "float32")
            raise ConfigurationError(
                f"query_dtype={need} scores {need} candidate stores, but view {i} is {have}; compress it with "
                f"`targetsel store compress SRC DST --dtype {need}` (or score with query_dtype=float)"
            )
    kernels = ("popcount_numba", "int_mm", "popcount") if need == "bit" else ("int_mm",)
    if kernel is not None and kernel not in kernels:
        raise ConfigurationError(f"query_dtype={need} kernels are {', '.join(kernels)}, got {kernel!r}")
    fast = numba_popcount() if need == "bit" and kernel in (None, "popcount_numba") else None
    if kernel == "popcount_numba" and fast is None:
        raise ConfigurationError('kernel popcount_numba needs numba: pip install "targetsel[fast]"')
    mm = _int_mm() if fast is None and kernel in (None, "int_mm") else None
    if mm is None and need != "bit":  # pragma: no cover - see _int_mm
        raise ConfigurationError("query_dtype=int8 needs torch._int_mm")
    return fast, mm


def _queries(
    q: FeatureSource,
    need: str,
    fast: Callable[..., None] | None,
    mm: _IntMM | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The compressed queries in the kernel's layout and their float32 ``1 / norm`` (0 for a zero row)."""
    m, dim = q.num_rows, q.dim
    x = np.asarray(q.to_array(), dtype=np.float32)
    data, _ = get_codec(need).encode(x)
    if need == "bit":
        if mm is not None:
            ints = sign_rows(data, dim, np.empty((m, dim), np.int8), 1, "int8")
        else:
            ints = _words(data) if fast is not None else data
        norms = np.full(m, np.sqrt(dim)) * (np.abs(x).max(axis=1) > 0)
    else:
        ints, norms = data, _row_norms(data)
    return np.ascontiguousarray(ints), np.divide(1.0, norms, out=np.zeros(m), where=norms > 0).astype(np.float32)


def _similarities(
    dots: np.ndarray, need: str, dim: int, q_scale: np.ndarray, aux: Any, x_ints: Any, out: np.ndarray
) -> None:
    """``out`` = cosines from the exact integer ``dots`` (``(d − 2h)/d`` for bits, one rounding)."""
    out[...] = dots  # exact: |dots| <= d < 2**24
    if need == "bit":  # zero rows and columns score 0
        out /= np.float32(dim)
        out[q_scale == 0] = 0.0
        x_zero = np.asarray(aux) == 0
        if x_zero.any():
            out[:, x_zero] = 0.0
    else:
        x_norm = _row_norms(x_ints)
        out *= q_scale[:, None]
        out *= np.divide(1.0, x_norm, out=np.zeros(out.shape[1]), where=x_norm > 0).astype(np.float32)[None, :]


def integer_blocks(p: ScorePass) -> Blocks:
    """:func:`targetsel.score.stream.run_pass` for ``p.query_dtype`` ``int8`` or ``bit`` (see the module docstring).

    ``p.kernel``: ``popcount_numba``, ``int_mm`` or ``popcount`` (the last two: ``bit`` only);
    ``None`` picks ``popcount_numba`` for bits when numba is installed, else ``int_mm``.

    Example:
        >>> from targetsel.score.passes import ScorePass
        >>> from targetsel.store import EncodedFeatures, InMemoryFeatures
        >>> x = EncodedFeatures.from_float(np.array([[1.0, -1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, 1.0]]), "bit")
        >>> q = InMemoryFeatures(np.array([[2.0, -3.0, 1.0, 5.0]]))
        >>> p = ScorePass.create([q], [x], query_dtype="bit", kernel="popcount")
        >>> [block.tolist() for _, block, _ in integer_blocks(p)]
        [[[1.0, 0.0]]]
    """
    need = check_query_dtype(p.query_dtype)
    cs, chunk_rows, exclude = p.candidates, p.chunk_rows, p.exclude
    fast, mm = _checked_kernels(cs, need, p.kernel)
    m, n = p.n_queries, p.n_candidates
    queries, q_scale = zip(*(_queries(q, need, fast, mm) for q in p.queries), strict=True)
    wf = [np.float32(x) for x in p.weights]
    rows = min(n, chunk_rows)
    block_at = p.block_buffer()
    int_bufs: dict[int, np.ndarray] = {}
    dots_buf = np.empty(m * rows, dtype=np.int32)
    sim_buf = np.empty(m * rows, dtype=np.float32) if len(cs) > 1 or wf[0] != 1.0 else None
    for start in p.chunk_starts():
        stop = min(n, start + chunk_rows)
        width = stop - start
        block = block_at(start, stop)
        for v, c in enumerate(cs):
            data, aux = c.read_encoded(start, stop)  # type: ignore[attr-defined]  # compressed: _checked_kernels
            data = np.ascontiguousarray(data)
            if fast is not None:
                dots = dots_buf[: m * width].reshape(m, width)
                fast(queries[v], _words(data), c.dim, dots)
            elif mm is None:  # bits only: _checked_kernels refuses int8 without int_mm
                dots = popcount_dots(queries[v], data, c.dim)
            elif need == "bit":
                buf = int_bufs.setdefault(v, np.empty((rows, c.dim), np.int8))
                dots = mm(queries[v], sign_rows(data, c.dim, buf[:width], 1, "int8"))
            else:
                dots = mm(queries[v], data)
            sim = block if sim_buf is None else sim_buf[: m * width].reshape(m, width)
            _similarities(dots, need, c.dim, q_scale[v], aux, data, sim)
            if sim_buf is not None:
                if v == 0:
                    np.multiply(sim, wf[v], out=block)
                else:
                    block += wf[v] * sim
        mean = block.mean(axis=0, dtype=np.float64).astype(np.float32) if p.with_mean else None
        if exclude is not None:
            np.copyto(block, -np.inf, where=exclude[None, start:stop])
        yield start, block, mean
