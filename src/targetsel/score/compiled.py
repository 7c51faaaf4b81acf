"""The package's numba-compiled kernels (``pip install "targetsel[fast]"``), in one module.

Imported only where a kernel is used (:func:`targetsel.score.integer.numba_popcount`,
:func:`targetsel.score.topk.column_stats`), so numba is never imported otherwise; importing this
module without numba raises ``ImportError``. The kernels are module-level functions so numba's
on-disk cache (``cache=True``) finds them in the next process: about 0.1 s to load instead of
2-5 s to compile. Each launch uses every core (``parallel=True``).

* :func:`popcount_scores`: ``dim - 2 · popcount(q XOR x)`` for packed sign bits (exact integers);
* :func:`column_stats_kernel`: in one read of a score block, its column maxima, the first row
  reaching each, a finite check, and per row and run of columns how many entries beat the row's
  threshold; :func:`gather_counted` then gathers those entries (the streaming top-k's admission).

Launch them with :func:`launch`, which holds :data:`LAUNCH`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np

__all__ = ["LAUNCH", "column_stats_kernel", "gather_counted", "launch", "popcount_scores"]

_T = TypeVar("_T")

#: Held around every launch of these kernels: numba's fallback threading layer (workqueue, where
#: neither OpenMP nor TBB is present) aborts when two threads launch parallel kernels at once, and
#: each launch uses every core anyway.
LAUNCH = threading.Lock()

_M1, _M2, _M4 = np.uint64(0x5555555555555555), np.uint64(0x3333333333333333), np.uint64(0x0F0F0F0F0F0F0F0F)
_H01, _ONE, _TWO, _FOUR, _S56 = np.uint64(0x0101010101010101), np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)
_ZERO = np.float32(0.0)


@numba.njit(inline="always", cache=True)
def _popcount(v: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    v = v - ((v >> _ONE) & _M1)  # SWAR popcount: LLVM emits the CPU's popcount instruction
    v = (v & _M2) + ((v >> _TWO) & _M2)
    v = (v + (v >> _FOUR)) & _M4
    count: np.uint64 = (v * _H01) >> _S56
    return count


@numba.njit(parallel=True, cache=True, nogil=True)
def popcount_scores(q: np.ndarray, x: np.ndarray, dim: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[i, j] = dim - 2 · popcount(q[i] XOR x[j])`` over uint64 words ``q (m, w)``, ``x (n, w)``."""
    m, w = q.shape
    n = x.shape[0]
    m4 = m // 4 * 4
    # tiles of 16 candidates (16 KB at d = 8192, kept in L1 while every query passes over them):
    # 1.8x faster than one candidate at a time at 500 queries, the same at 64; four queries share
    # each candidate word loaded (14% faster than one at a time at 64 queries)
    for t in numba.prange((n + 15) // 16):
        for i in range(0, m4, 4):
            for j in range(t * 16, min(n, t * 16 + 16)):
                a0 = a1 = a2 = a3 = np.uint64(0)
                for k in range(w):
                    xv = x[j, k]
                    a0 += _popcount(q[i, k] ^ xv)
                    a1 += _popcount(q[i + 1, k] ^ xv)
                    a2 += _popcount(q[i + 2, k] ^ xv)
                    a3 += _popcount(q[i + 3, k] ^ xv)
                out[i, j] = dim - 2 * np.int32(a0)
                out[i + 1, j] = dim - 2 * np.int32(a1)
                out[i + 2, j] = dim - 2 * np.int32(a2)
                out[i + 3, j] = dim - 2 * np.int32(a3)
        for i in range(m4, m):
            for j in range(t * 16, min(n, t * 16 + 16)):
                acc = np.uint64(0)
                for k in range(w):
                    acc += _popcount(q[i, k] ^ x[j, k])
                out[i, j] = dim - 2 * np.int32(acc)


@numba.njit(inline="always", cache=True)
def _column_update(  # pragma: no cover - compiled
    row: np.ndarray, best: np.ndarray, arg: np.ndarray, poison: np.ndarray, i: np.int32, thr: np.float32
) -> np.int32:
    count = np.int32(0)  # (int32 like the float32 lanes: the loop stays vectorised, the count is free)
    for j in range(row.size):
        v = row[j]
        b = best[j]
        poison[j] += v * _ZERO  # NaN once any entry is NaN or infinite
        gt = v > b  # strict: the lowest row wins ties
        best[j] = max(b, v)  # (this form vectorises; a select of v or b does not, 3x slower)
        arg[j] = i if gt else arg[j]
        count += np.int32(v > thr)
    out: np.int32 = count
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def column_stats_kernel(  # pragma: no cover - compiled
    matrix: np.ndarray,
    thr: np.ndarray,
    best: np.ndarray,
    arg: np.ndarray,
    counts: np.ndarray,
    tile: int,
    seg: int,
) -> bool:
    """Column maxima into ``best``, the first row reaching each into ``arg``, and into
    ``counts[r, s]`` how many entries of row ``r`` in columns ``[s·seg, (s+1)·seg)`` are strictly
    above ``thr[r]`` (the streaming top-k's admission); returns whether every entry is finite.
    ``tile`` is a multiple of ``seg``."""
    rows, cols = matrix.shape
    n_tiles = (cols + tile - 1) // tile
    bad = np.zeros(n_tiles, np.bool_)
    # each thread sweeps the rows over its own tile of columns: the tile's running maxima stay in
    # cache while the rows stream past, and every entry is read once
    for t in numba.prange(n_tiles):
        a = t * tile
        e = min(cols, a + tile)
        poison = np.zeros(e - a, np.float32)
        top = matrix[0, a:e].copy()
        first = np.zeros(e - a, np.int32)
        for i in range(rows):
            th = thr[i]
            for s0 in range(a, e, seg):
                s1 = min(e, s0 + seg)
                u, w = s0 - a, s1 - a
                counts[i, s0 // seg] = _column_update(
                    matrix[i, s0:s1], top[u:w], first[u:w], poison[u:w], np.int32(i), th
                )
        best[a:e] = top
        arg[a:e] = first
        for j in range(e - a):
            if poison[j] != _ZERO:
                bad[t] = True
    return not bad.any()


@numba.njit(parallel=True, cache=True, nogil=True)
def gather_counted(  # pragma: no cover - compiled
    matrix: np.ndarray,
    thr: np.ndarray,
    counts: np.ndarray,
    seg: int,
    starts: np.ndarray,
    rows_out: np.ndarray,
    cols_out: np.ndarray,
    vals_out: np.ndarray,
) -> None:
    """The entries :func:`column_stats_kernel` counted, row-major: row ``r``'s from ``starts[r]`` on,
    columns ascending; only the segments with a count are read again."""
    rows, cols = matrix.shape
    for r in numba.prange(rows):
        t = thr[r]
        p = starts[r]
        for s in range(counts.shape[1]):
            if counts[r, s] == 0:
                continue
            for j in range(s * seg, min(cols, s * seg + seg)):
                v = matrix[r, j]
                if v > t:
                    rows_out[p] = r
                    cols_out[p] = j
                    vals_out[p] = v
                    p += 1


def launch(kernel: Callable[..., _T], *args: Any) -> _T:
    """``kernel(*args)`` holding :data:`LAUNCH` (every launch of these kernels goes through here)."""
    with LAUNCH:
        return kernel(*args)
