"""Exact top-k kernels: every top-k of the package, ordered by value desc, then index asc.

* :func:`topk_rows`: the top-``k`` of every row of a block (the one implementation);
* :func:`dense_topk`: the same over the rows of a dense matrix, a few rows at a time (no copy of
  the matrix), used by the dense :class:`~targetsel.score.Scores` and by the knn selectors;
* :func:`gather_groups`: the group gather shared by :func:`topk_rows` and
  :class:`~targetsel.score.StreamingTopK` (the entries of the 64-column groups that pass a threshold);
* :class:`StreamingTopK`: the top-``k`` of every row over column chunks that arrive in order (the
  streaming scores' lists);
* :func:`column_max_argmax`: per-column maximum and first row reaching it;
* :func:`column_stats`: the same and a finite check in one compiled pass (numba, optional).

Each equals the reference definition (a stable full sort of each row, truncated to ``k``; numpy's
``argmax`` with its lowest-index tie rule) bit for bit.

Example:
    >>> import numpy as np
    >>> dense_topk(np.array([[0.1, 0.3, 0.3], [0.5, 0.0, 0.2]], np.float32), 2)[0].tolist()
    [[1, 2], [0, 2]]
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from targetsel.score.keys import PAD_KEY, decode_keys, encode_keys
from targetsel.settings import temp_entries
from targetsel.store.codecs import as_tensor

__all__ = [
    "COMPILED_MIN_ENTRIES",
    "GROUP",
    "StreamingTopK",
    "column_max_argmax",
    "column_stats",
    "compiled_kernels",
    "dense_topk",
    "gather_groups",
    "group_max",
    "topk_rows",
    "use_compiled",
]

#: Columns per group of the group-maximum pass.
GROUP = 64

#: Work (score entries) from which loading the compiled kernels pays off: loading them takes about
#: 1 s in a new process (numba's import, its disk cache, its threads) and they save about 0.6 ns per
#: entry on 2 cores (column statistics, top-k admission) against numpy.
COMPILED_MIN_ENTRIES = 1 << 30


def use_compiled(entries: int) -> bool:
    """Whether to run the compiled kernels (:mod:`targetsel.score.compiled`) on work of ``entries``
    score entries: when numba is installed and either they are loaded in this process already (any
    size: a large pass or bit queries loaded them) or the work pays for loading them
    (:data:`COMPILED_MIN_ENTRIES`). A scoring pass asks with its whole size first, so each chunk
    of a large pass uses them.

    Example:
        >>> use_compiled(0) in (True, False)
        True
    """
    if "targetsel.score.compiled" in sys.modules:
        return True
    return entries >= COMPILED_MIN_ENTRIES and compiled_kernels() is not None


def topk_rows(block: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of every row of ``block``, ordered by value desc then column asc.

    Ties are broken towards the lower column, so the result equals a stable full sort of each row
    truncated to ``k`` (the reference definition), without sorting whole rows: for small ``k`` it
    takes the maximum of each group of 64 columns (one pass), keeps the groups whose maximum
    reaches the k-th largest group maximum (every element ``>=`` that threshold lives in such a
    group, and at least ``k`` elements do), and sorts only those; for large ``k`` it partitions.

    Args:
        block: ``(rows, cols)`` float32 scores.
        k: How many per row (``<= cols``).
        offset: Added to the returned column indices (the block's first global column).

    Returns:
        ``(indices, values)``, both ``(rows, k)``; indices int64.

    Example:
        >>> import numpy as np
        >>> topk_rows(np.array([[0.5, 0.9, 0.5, 0.1]], dtype=np.float32), 3)[0].tolist()
        [[1, 0, 2]]
    """
    rows, cols = block.shape
    k = int(min(k, cols))
    if k <= 0 or rows == 0:
        return np.empty((rows, 0), np.int64), np.empty((rows, 0), np.float32)
    n_groups = -(-cols // GROUP)
    groups = k * GROUP * 4 <= cols and k < n_groups  # small k: temporaries O(rows · k · 64)
    slab = max(1, temp_entries() // cols)  # else rows per slab: bounds the temporaries
    if not groups and rows > slab:
        parts = [topk_rows(block[a : a + slab], k, offset) for a in range(0, rows, slab)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if groups:
        idx, val = _topk_groups(block, k)
    elif k < cols:
        idx, val = _topk_partition(block, k)
    else:  # whole rows: sort exact order keys (an integer sort, much faster than a stable argsort)
        keys = encode_keys(block, np.arange(cols)[None, :])
        keys.sort(axis=1)
        idx, val = decode_keys(keys[:, ::-1])
    if offset:
        idx = idx + offset
    return idx, np.ascontiguousarray(val, dtype=np.float32)


def dense_topk(
    matrix: np.ndarray, k: int, rows: Sequence[int] | np.ndarray | None = None, rows_per_block: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk_rows` of the given rows of a dense ``(M, N)`` matrix, ``rows_per_block`` at a time.

    Consecutive rows are read as views (no copy); extra memory is ``O(rows_per_block · N)``.

    Args:
        matrix: ``(M, N)`` float32 scores.
        k: How many per row (capped at ``N``).
        rows: Row indices (default all).
        rows_per_block: Rows per :func:`topk_rows` call.

    Returns:
        ``(indices (R, k'), values (R, k'))`` with ``k' = min(k, N)``.

    Example:
        >>> dense_topk(np.array([[0.5, 0.9, 0.5, 0.1]], dtype=np.float32), 2)[0].tolist()
        [[1, 0]]
    """
    r = np.arange(matrix.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    k = min(k, matrix.shape[1])
    idx = np.empty((r.size, k), np.int64)
    val = np.empty((r.size, k), np.float32)
    consecutive = r.size > 0 and bool((np.diff(r) == 1).all())
    for a in range(0, r.size, rows_per_block):
        b = min(r.size, a + rows_per_block)
        sub = matrix[r[a] : r[a] + (b - a)] if consecutive else matrix[r[a:b]]
        idx[a:b], val[a:b] = topk_rows(np.asarray(sub, dtype=np.float32), k)
    return idx, val


def _topk_partition(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = block.shape
    kth = np.partition(block, cols - k, axis=1)[:, cols - k]
    gt = block > kth[:, None]
    eq = block == kth[:, None]
    need = k - gt.sum(axis=1)
    keep = gt | (eq & (np.cumsum(eq, axis=1) <= need[:, None]))
    r, flat = np.nonzero(keep)
    c = flat.reshape(rows, k)
    v = block[r, c.ravel()].reshape(rows, k)
    keys = encode_keys(v, c)  # exact, tie-free order keys: a plain (SIMD) integer sort orders them
    keys.sort(axis=1)
    return decode_keys(keys[:, ::-1])


def group_max(block: np.ndarray) -> np.ndarray:
    """Maximum of each run of 64 columns, shape ``(rows, ceil(cols / 64))``.

    Computed with torch's vectorised, multi-threaded reduction over a zero-copy view (about 3x
    faster than ``np.maximum.reduceat`` and faster than a numpy max pass); a maximum is exact
    whatever the thread count.

    Example:
        >>> group_max(np.arange(70, dtype=np.float32)[None, :]).tolist()
        [[63.0, 69.0]]
    """
    rows, cols = block.shape
    if block.strides[1] != block.itemsize:
        block = np.ascontiguousarray(block)
    full = cols // GROUP * GROUP
    out = np.empty((rows, -(-cols // GROUP)), dtype=np.float32)
    if full:
        view = as_tensor(block)[:, :full].view(rows, full // GROUP, GROUP)
        out[:, : full // GROUP] = view.amax(dim=2).numpy()
    if full < cols:
        out[:, -1] = block[:, full:].max(axis=1)
    return out


def gather_groups(
    block: np.ndarray, passing: np.ndarray, thr: np.ndarray, *, strict: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of the passing 64-column groups that reach each row's threshold.

    Args:
        block: ``(rows, cols)`` float32 scores.
        passing: ``(rows, n_groups)`` bool, the groups to look into.
        thr: ``(rows,)`` threshold per row.
        strict: Keep entries ``> thr`` (else ``>= thr``).

    Returns:
        ``(row, column, value)`` of the kept entries, row-major (rows ascending, then columns).

    Example:
        >>> b = np.array([[0.1, 0.9, 0.5]], np.float32)
        >>> [x.tolist() for x in gather_groups(b, np.array([[True]]), np.array([0.5], np.float32), strict=False)]
        [[0, 0], [1, 2], [0.8999999761581421, 0.5]]
    """
    cols = block.shape[1]
    r, g = np.divmod(np.flatnonzero(passing), passing.shape[1])  # (2-D nonzero is ~10x slower)
    c = g[:, None] * GROUP + np.arange(GROUP)[None, :]
    valid = c < cols
    c = np.minimum(c, cols - 1)
    rr = np.broadcast_to(r[:, None], c.shape)
    v = block[rr, c]
    t = thr[r][:, None]
    keep = valid & ((v > t) if strict else (v >= t))
    return rr[keep], c[keep], v[keep]


def _kth_largest(x: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value of each row (``np.partition``'s answer; torch's top-k is ~3x faster)."""
    import torch

    top = torch.topk(as_tensor(np.ascontiguousarray(x)), k, dim=1, sorted=False).values
    return top.amin(dim=1).numpy()


def _topk_groups(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = block.shape[0]
    gmax = group_max(block)  # (rows, n_groups)
    thr = _kth_largest(gmax, k)
    rr, c, v = gather_groups(block, gmax >= thr[:, None], thr, strict=False)
    order = np.lexsort((c, -v, rr))
    rr, c, v = rr[order], c[order], v[order]
    counts = np.bincount(rr, minlength=rows)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pos = first[:, None] + np.arange(k)[None, :]  # every row has >= k entries above threshold
    return c[pos].astype(np.int64), v[pos]


def column_max_argmax(matrix: np.ndarray, group: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Per-column maximum and first row reaching it, for a row-major ``(rows, cols)`` matrix.

    Where :func:`use_compiled` says so (numba installed, work large enough or the kernels loaded),
    one compiled pass does both (:func:`column_stats`). Otherwise numpy: numpy's
    ``argmax(axis=0)`` walks each column with a stride (slow), so instead the maximum of each run
    of ``group`` rows (elementwise maxima of whole rows, vectorised), the column maximum from those,
    the first group reaching it (a short loop over groups), then the first row of that group
    reaching it (``group`` gathers). Same answer as ``argmax(axis=0)`` (the lowest row index on
    ties) either way.

    Example:
        >>> column_max_argmax(np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32))[1].tolist()
        [1, 0]
    """
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    stats = column_stats(matrix) if use_compiled(matrix.size) else None
    if stats is not None:
        return stats[0], stats[1]
    rows, cols = matrix.shape
    n_groups = -(-rows // group)
    gmax = matrix[::group].copy()  # (n_groups, cols): row g*group, then the max with the others
    for i in range(1, group):
        part = matrix[i::group]
        np.maximum(gmax[: part.shape[0]], part, out=gmax[: part.shape[0]])
    best = gmax.max(axis=0)
    first = np.zeros(cols, dtype=np.int64)
    for g in range(n_groups - 1, -1, -1):  # descending, so the lowest group reaching the max wins
        first[gmax[g] == best] = g
    base = first * group
    flat = matrix.reshape(-1)
    col = np.arange(cols, dtype=np.int64)
    arg = base.copy()
    for i in range(group - 1, 0, -1):
        r = base + i
        valid = r < rows
        hit = (flat.take(np.minimum(r, rows - 1) * cols + col) == best) & valid
        arg[hit] = r[hit]
    # row ``base`` itself wins over the later rows of its group when it reaches the max
    hit0 = flat.take(base * cols + col) == best
    arg[hit0] = base[hit0]
    return best, arg


def compiled_kernels() -> ModuleType | None:
    """:mod:`targetsel.score.compiled` (which loads it), or ``None`` without numba.

    Ask :func:`use_compiled` first where loading must pay off; launch each kernel with the
    module's ``launch`` (one launch at a time).
    """
    try:
        return importlib.import_module("targetsel.score.compiled")
    except ImportError:
        return None


#: Columns per run of the compiled admission's counts: a row's run with no entry above its
#: threshold is not read again.
_SEG = 512


def _compiled_column_pass(
    kernels: ModuleType, matrix: np.ndarray, thr: np.ndarray, seg: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(column maxima, first row reaching each, counts (rows, runs of seg columns) above thr, finite)``
    in one compiled read of ``matrix``; ``seg=None``: one run per thread's tile of columns."""
    import numba

    rows, cols = matrix.shape
    tile = max(1024, -(-cols // numba.get_num_threads()))  # measured: 1024 to one tile per thread alike
    seg = tile if seg is None else seg
    tile = -(-tile // seg) * seg
    best, arg = np.empty(cols, np.float32), np.empty(cols, np.int64)
    counts = np.empty((rows, -(-cols // seg)), np.int32)
    thr = np.ascontiguousarray(thr, dtype=np.float32)
    finite = kernels.launch(kernels.column_stats_kernel, matrix, thr, best, arg, counts, tile, seg)
    return best, arg, counts, bool(finite)


def column_stats(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """``(column maxima, first row reaching each, whether every entry is finite)`` of a C-contiguous
    float32 ``(rows, cols)`` matrix in one compiled pass, or ``None`` without numba.

    The maxima are the entries at the returned rows, and the rows equal ``argmax(axis=0)`` (the
    lowest row on ties). With a NaN or an infinity anywhere the finite flag is false (and the
    first two are unspecified). At (500, 200K) on 2 cores: 18-21 ms, where numpy's ``max(axis=0)``
    alone takes about 23 ms and the grouped numpy form of :func:`column_max_argmax` about 80 ms.

    Example:
        >>> out = column_stats(np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32))
        >>> out is None or (out[0].tolist(), out[1].tolist(), out[2]) == ([3.0, 5.0], [1, 0], True)
        True
    """
    rows, cols = matrix.shape
    kernels = compiled_kernels() if rows and cols else None
    if kernels is None:
        return None
    if matrix.dtype != np.float32 or not matrix.flags.c_contiguous:
        raise ValueError("column_stats takes a C-contiguous float32 matrix")
    no_threshold = np.full(rows, np.inf, np.float32)  # nothing to count: one run per tile
    best, arg, _, finite = _compiled_column_pass(kernels, matrix, no_threshold, None)
    return best, arg, finite


class StreamingTopK:
    """Exact per-row top-``k`` over column chunks that arrive in increasing column order.

    State: each row's best ``k`` so far as ascending int64 keys (:func:`encode_keys`), and a
    pending list of keys admitted since the last merge. A chunk entry is admitted when its score is
    strictly above the row's k-th score *at the last merge*; merges happen only when the pending
    width reaches ``k`` (one stable sort per row: the runs are already sorted, so it is a merge).

    Why this is exact: thresholds only grow, so every entry of the final top-k beats the stale
    threshold it met and was admitted; an entry equal to a stale k-th score has a higher index
    than the ``k`` entries that were at least as good, so it can never enter. Sorting keys is
    exact and tie-free, so the result equals a stable full sort of each row, truncated to ``k``.
    Merging lazily makes the per-chunk cost one group-maximum pass plus the few admitted entries;
    about ``log2(N / chunk)`` merges happen over a whole stream.

    Example:
        >>> t = StreamingTopK(1, 2)
        >>> t.add(np.array([[0.1, 0.9, 0.5]], np.float32), 0)
        >>> t.add(np.array([[0.9, 0.2]], np.float32), 3)
        >>> t.result()[0].tolist()
        [[1, 3]]
    """

    def __init__(self, rows: int, k: int) -> None:
        self.k = k
        self._keys = np.empty((rows, 0), dtype=np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_width = 0
        self._thr = np.full(rows, -np.inf, dtype=np.float32)

    def add(self, block: np.ndarray, offset: int) -> None:
        """Offer a chunk of scores, ``(rows, cols)`` float32 for columns ``offset...``."""
        self._add(block, offset)

    def add_with_column_max(self, block: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`add`, returning the chunk's :func:`column_max_argmax` too.

        With the compiled kernels (:func:`use_compiled`) one read of the chunk gives both: the
        column pass counts each row's entries above its threshold on the way, and only the runs of
        columns holding some are read again. (Three reads before: the column pass, a count, a gather.)
        """
        stats = self._add(block, offset, column_max=True)
        assert stats is not None
        return stats

    def _add(self, block: np.ndarray, offset: int, column_max: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        rows, cols = block.shape
        if self._keys.shape[1] < self.k:  # lists not full yet (first chunks): the chunk's own top-k
            stats = column_max_argmax(block) if column_max else None
            bi, bv = topk_rows(block, self.k, offset=offset)
            self._pending.append(encode_keys(bv[:, ::-1], bi[:, ::-1]))  # ascending
            self._merge()
            return stats
        kernels = compiled_kernels() if use_compiled(block.size) and rows and cols else None
        if kernels is not None:
            return self._add_compiled(kernels, np.ascontiguousarray(block, dtype=np.float32), offset)
        stats = column_max_argmax(block) if column_max else None
        # Only groups (runs of 64 columns) whose maximum beats the row's threshold can hold an
        # admitted entry: one cheap pass, then gather just those groups' columns.
        gmax = group_max(block)
        passing = gmax > self._thr[:, None]
        n_pass = int(np.count_nonzero(passing))
        if n_pass == 0:
            return stats
        dense = n_pass * 8 > gmax.size  # many groups pass (early chunks, large k): comparison passes
        if dense:
            block = np.ascontiguousarray(block)
        # a slab of rows at a time bounds the temporaries whatever the chunk and k
        slab = max(1, temp_entries() // cols)
        parts = []
        for a in range(0, rows, slab):
            b = min(rows, a + slab)
            thr = self._thr[a:b]
            if dense:  # (flat indices then divmod: numpy's 2-D nonzero is ~10x slower)
                flat = np.flatnonzero(block[a:b] > thr[:, None])
                rr, c = np.divmod(flat, cols)
                v = block[a:b].reshape(-1)[flat]
            else:
                rr, c, v = gather_groups(block[a:b], passing[a:b], thr, strict=True)  # rows ascending
            parts.append(self._row_keys(rr, c + offset, v, b - a))
        self._push(parts, rows)
        return stats

    def _add_compiled(self, kernels: ModuleType, block: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """The admission in one compiled read of ``block`` (with its column statistics), then a
        gather of the counted entries, a slab of rows at a time (bounded temporaries)."""
        best, arg, counts, _ = _compiled_column_pass(kernels, block, self._thr, _SEG)
        entries = counts.sum(axis=1, dtype=np.int64)
        if not entries.any():
            return best, arg
        rows, cols = block.shape
        slab = max(1, temp_entries() // cols)  # as the numpy form: the same bound on the temporaries
        parts = []
        for a in range(0, rows, slab):
            b = min(rows, a + slab)
            n = entries[a:b]
            starts = np.cumsum(n) - n
            total = int(n.sum())
            rr, c, v = np.empty(total, np.int64), np.empty(total, np.int64), np.empty(total, np.float32)
            if total:
                thr = np.ascontiguousarray(self._thr[a:b])
                kernels.launch(kernels.gather_counted, block[a:b], thr, counts[a:b], _SEG, starts, rr, c, v)
            parts.append(self._row_keys(rr, c + offset, v, b - a))
        self._push(parts, rows)
        return best, arg

    def _push(self, parts: list[np.ndarray], rows: int) -> None:
        """Queue the admitted keys of consecutive row slabs; merge when enough are pending."""
        width = max(p.shape[1] for p in parts)
        if width == 0:  # nothing beat a threshold
            return
        keys = np.full((rows, width), PAD_KEY, dtype=np.int64)
        a = 0
        for part in parts:  # right-aligned: each row stays ascending, padding first
            keys[a : a + part.shape[0], width - part.shape[1] :] = part
            a += part.shape[0]
        self._pending.append(keys)
        self._pending_width += keys.shape[1]
        if self._pending_width >= max(self.k, 64):
            self._merge()

    @staticmethod
    def _row_keys(rr: np.ndarray, c: np.ndarray, v: np.ndarray, rows: int) -> np.ndarray:
        """``(rows, width)`` ascending keys of the admitted entries (row-major input), padded in front."""
        if rr.size == 0:
            return np.full((rows, 0), PAD_KEY, dtype=np.int64)
        counts = np.bincount(rr, minlength=rows)
        pos = np.arange(rr.size) - np.repeat(np.cumsum(counts) - counts, counts)
        part = np.full((rows, int(counts.max())), PAD_KEY, dtype=np.int64)
        part[rr, pos] = encode_keys(v, c)
        part.sort(axis=1)  # ascending: padding first
        return part

    def _merge(self) -> None:
        if not self._pending:
            return
        allk = np.concatenate([self._keys, *self._pending], axis=1)
        self._keys, self._pending = allk[:, :0], []  # release the inputs before sorting
        allk.sort(axis=1, kind="stable")  # sorted runs: a merge, not a full sort
        # full lists hold k real keys per row, so padding (the smallest key) is always cut off here;
        # before that (first chunks) nothing is padded
        self._keys = np.ascontiguousarray(allk[:, -self.k :])
        self._pending, self._pending_width = [], 0
        if self._keys.shape[1] >= self.k:
            self._thr = decode_keys(self._keys[:, 0])[1]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indices (rows, k') int64, values (rows, k') float32)``, each row best first."""
        self._merge()
        idx, val = decode_keys(self._keys[:, ::-1])
        return np.ascontiguousarray(idx), np.ascontiguousarray(val)
