"""Query × candidate similarity: cosine, streamed over feature stores in chunks.

:func:`score` computes ``S[q, j] = Σ_c w_c · cos(query_c[q], candidate_c[j])`` over one or more
(query, candidate) feature pairs (several LESS checkpoints, each weighted by its learning rate).
Candidates are read in chunks of ``chunk_rows`` rows, so memory is bounded by the chunk (plus the
output), never by reading the whole store.

Two outputs:

* **dense** (``top_k=None``): the full ``(n_queries, n_candidates)`` float32 matrix;
* **streaming** (``top_k=K``): for each query its ``K`` best candidates, ordered by score
  (ties → lower candidate index), plus per-candidate maximum, arg-maximum and mean over
  queries. Memory ``O(M·K + N)``. This is all that round-robin, doubly-greedy and mean
  similarity need for budgets up to ``K`` (see :mod:`targetsel.select`).

Example:
    >>> import numpy as np
    >>> q, c = np.eye(2, 3, dtype=np.float32), np.eye(4, 3, dtype=np.float32)
    >>> score(q, c).matrix.tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.progress import progress
from targetsel.store import FeatureSource, InMemoryFeatures

logger = logging.getLogger(__name__)

__all__ = [
    "Scores",
    "StreamingTopK",
    "column_max_argmax",
    "decode_keys",
    "encode_keys",
    "score",
    "score_chunks",
    "topk_rows",
]

FeaturesLike = FeatureSource | np.ndarray


def _tensor(x: np.ndarray) -> Any:
    """A torch CPU tensor sharing ``x``'s memory (no copy); ``x`` must be contiguous.

    torch warns about read-only (e.g. memory-mapped) arrays; the callers only read them.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(x)


def _total(matrix: np.ndarray) -> float:
    """Sum of a contiguous float32 array (multi-threaded through torch)."""
    return float(_tensor(matrix).sum())


@dataclass
class Scores:
    """Similarities between ``n_queries`` queries and ``n_candidates`` candidates.

    Exactly one of two forms is filled: ``matrix`` (dense), or the streaming form
    (``topk_indices``/``topk_values`` plus the per-candidate statistics).

    Attributes:
        n_queries: M.
        n_candidates: N.
        matrix: ``(M, N)`` float32, or ``None`` in streaming form.
        topk_indices: ``(M, K)`` int64, each row's best candidates (score desc, index asc).
        topk_values: ``(M, K)`` float32, their scores.
        cand_max: ``(N,)`` float32 maximum over queries.
        cand_argmax: ``(N,)`` int64 query reaching it (lowest index on ties).
        cand_mean: ``(N,)`` float32 mean over queries.
        provenance: Manifests of the inputs, weights and settings.

    Example:
        >>> import numpy as np
        >>> s = Scores.from_matrix(np.array([[0.1, 0.9], [0.5, 0.2]]))
        >>> s.shape, s.is_dense
        ((2, 2), True)
    """

    n_queries: int
    n_candidates: int
    matrix: np.ndarray | None = None
    topk_indices: np.ndarray | None = None
    topk_values: np.ndarray | None = None
    cand_max: np.ndarray | None = None
    cand_argmax: np.ndarray | None = None
    cand_mean: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, provenance: dict[str, Any] | None = None) -> Scores:
        """Wrap a dense ``(n_queries, n_candidates)`` similarity matrix (validated, float32).

        Raises:
            InvalidDataError: not 2-D, empty, or containing NaN/inf.
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
        # for the first bad entry
        if not np.isfinite(_total(m)) and not np.isfinite(m).all():
            q, j = np.argwhere(~np.isfinite(m))[0]
            raise InvalidDataError(f"scores contain NaN or inf (first at query {q}, candidate {j}); check the features")
        return cls(m.shape[0], m.shape[1], matrix=m, provenance=dict(provenance or {}))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_queries, self.n_candidates)

    @property
    def is_dense(self) -> bool:
        return self.matrix is not None

    @property
    def top_k(self) -> int | None:
        """K of the streaming form (``None`` when dense)."""
        return None if self.topk_indices is None else int(self.topk_indices.shape[1])

    def dense(self) -> np.ndarray:
        """The dense matrix; raises when the scores were computed in streaming form."""
        if self.matrix is None:
            raise ConfigurationError(
                "this method needs the full score matrix, but scores were computed with top_k; "
                "score again without top_k (--top-k 0)"
            )
        return self.matrix

    def candidate_max(self) -> tuple[np.ndarray, np.ndarray]:
        """``(max over queries, argmax query)`` per candidate, shapes ``(N,)``."""
        if self.matrix is not None:
            return column_max_argmax(self.matrix)
        assert self.cand_max is not None and self.cand_argmax is not None
        return self.cand_max, self.cand_argmax

    def candidate_best(self) -> np.ndarray:
        """Max over queries per candidate, shape ``(N,)`` (one plain pass when dense)."""
        if self.matrix is not None:
            return self.matrix.max(axis=0)
        assert self.cand_max is not None
        return self.cand_max

    def best_query(self, candidates: np.ndarray) -> np.ndarray:
        """Query reaching each given candidate's maximum (lowest index on ties), shape ``(len(candidates),)``."""
        if self.matrix is not None:
            return np.ascontiguousarray(self.matrix[:, candidates].T).argmax(axis=1).astype(np.int64)
        assert self.cand_argmax is not None
        return self.cand_argmax[candidates]

    def candidate_mean(self) -> np.ndarray:
        """Mean similarity over queries per candidate, shape ``(N,)``."""
        if self.matrix is not None:
            return self.matrix.mean(axis=0, dtype=np.float64).astype(np.float32)
        assert self.cand_mean is not None
        return self.cand_mean

    def row_topk(self, rows: np.ndarray | Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Best ``k`` candidates of the given query rows, ordered (score desc, index asc).

        Returns:
            ``(indices (len(rows), k'), values (len(rows), k'), complete)`` where ``k' = min(k, N)``
            in dense form. In streaming form ``k'`` is capped at K and ``complete`` says whether
            the lists are exact prefixes of length ``k`` (false when ``k > K`` and ``K < N``).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if self.matrix is not None:
            # a few rows at a time, as views when the rows are consecutive: no (M, N) copy
            k = min(k, self.n_candidates)
            idx = np.empty((rows.size, k), np.int64)
            val = np.empty((rows.size, k), np.float32)
            step = 16
            consecutive = rows.size > 0 and bool((np.diff(rows) == 1).all())
            for a in range(0, rows.size, step):
                b = min(rows.size, a + step)
                sub = self.matrix[rows[a] : rows[a] + (b - a)] if consecutive else self.matrix[rows[a:b]]
                idx[a:b], val[a:b] = topk_rows(sub, k)
            return idx, val, True
        assert self.topk_indices is not None and self.topk_values is not None
        kk = min(k, self.topk_indices.shape[1])
        complete = kk >= k or self.topk_indices.shape[1] >= self.n_candidates
        return self.topk_indices[rows, :kk], self.topk_values[rows, :kk], complete


# ---------------------------------------------------------------------------------------- top-k
_GROUP = 64
#: Candidate rows per matrix product (see ``score``): results do not depend on ``chunk_rows``.
_BLOCK = 4096
#: Query rows per matrix product: with ``_BLOCK`` the fixed tile of work one thread computes.
_QROWS = 512


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
    n_groups = -(-cols // _GROUP)
    groups = k * _GROUP * 4 <= cols and k < n_groups  # small k: temporaries O(rows · k · 64)
    slab = max(1, (1 << 22) // cols)  # else rows per slab: bounds the temporaries (~4M entries each)
    if not groups and rows > slab:
        parts = [topk_rows(block[a : a + slab], k, offset) for a in range(0, rows, slab)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if groups:
        idx, val = _topk_groups(block, k, n_groups)
    elif k < cols:
        idx, val = _topk_partition(block, k)
    else:  # whole rows: sort exact order keys (an integer sort, much faster than a stable argsort)
        keys = encode_keys(block, np.arange(cols)[None, :])
        keys.sort(axis=1)
        idx, val = decode_keys(keys[:, ::-1])
    if offset:
        idx = idx + offset
    return idx, np.ascontiguousarray(val, dtype=np.float32)


def _topk_partition(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = block.shape
    kth = np.partition(block, cols - k, axis=1)[:, cols - k]
    gt = block > kth[:, None]
    eq = block == kth[:, None]
    need = k - gt.sum(axis=1)
    keep = gt | (eq & (np.cumsum(eq, axis=1) <= need[:, None]))
    r, c = np.nonzero(keep)
    c = c.reshape(rows, k)
    v = block[r, c.ravel()].reshape(rows, k)
    keys = encode_keys(v, c)  # exact, tie-free order keys: a plain (SIMD) integer sort orders them
    keys.sort(axis=1)
    return decode_keys(keys[:, ::-1])


def _group_max(block: np.ndarray) -> np.ndarray:
    """Maximum of each run of 64 columns, shape ``(rows, ceil(cols / 64))``.

    Computed with torch's vectorised, multi-threaded reduction over a zero-copy view (about 3x
    faster than ``np.maximum.reduceat`` and faster than a numpy max pass); a maximum is exact
    whatever the thread count.
    """
    rows, cols = block.shape
    if block.strides[1] != block.itemsize:
        block = np.ascontiguousarray(block)
    full = cols // _GROUP * _GROUP
    out = np.empty((rows, -(-cols // _GROUP)), dtype=np.float32)
    if full:
        view = _tensor(block)[:, :full].view(rows, full // _GROUP, _GROUP)
        out[:, : full // _GROUP] = view.amax(dim=2).numpy()
    if full < cols:
        out[:, -1] = block[:, full:].max(axis=1)
    return out


def _kth_largest(x: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value of each row (``np.partition``'s answer; torch's top-k is ~3x faster)."""
    import torch

    top = torch.topk(_tensor(np.ascontiguousarray(x)), k, dim=1, sorted=False).values
    return top.amin(dim=1).numpy()


def _topk_groups(block: np.ndarray, k: int, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = block.shape
    gmax = _group_max(block)  # (rows, n_groups)
    thr = _kth_largest(gmax, k)
    r, g = np.divmod(np.flatnonzero(gmax >= thr[:, None]), n_groups)  # (2-D nonzero is ~10x slower)
    c = g[:, None] * _GROUP + np.arange(_GROUP)[None, :]
    valid = c < cols
    c = np.minimum(c, cols - 1)
    rr = np.broadcast_to(r[:, None], c.shape)
    v = block[rr, c]
    keep = valid & (v >= thr[r][:, None])
    rr, c, v = rr[keep], c[keep], v[keep]
    order = np.lexsort((c, -v, rr))
    rr, c, v = rr[order], c[order], v[order]
    counts = np.bincount(rr, minlength=rows)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pos = first[:, None] + np.arange(k)[None, :]  # every row has >= k entries above threshold
    return c[pos].astype(np.int64), v[pos]


def column_max_argmax(matrix: np.ndarray, group: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Per-column maximum and first row reaching it, for a row-major ``(rows, cols)`` matrix.

    numpy's ``argmax(axis=0)`` walks each column with a stride (slow). Instead: the maximum of each
    run of ``group`` rows (elementwise maxima of whole rows, vectorised), the column maximum from
    those, the first group reaching it (a short loop over groups), then the first row of that
    group reaching it (``group`` gathers). Same answer as ``argmax(axis=0)`` (the lowest row index
    on ties), ~2.5x faster than a running best over all rows.

    Example:
        >>> column_max_argmax(np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32))[1].tolist()
        [1, 0]
    """
    rows, cols = matrix.shape
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
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


#: Low 32 bits of a top-k key: ``_IDX_MASK - candidate index`` (so a lower index is a larger key).
_IDX_MASK = np.int64(0xFFFFFFFF)
#: Pads rows of key arrays; below every real key (a real key's high half is never -2**31, which
#: would be a NaN).
_PAD_KEY = np.iinfo(np.int64).min
#: Most candidates a key can index.
MAX_CANDIDATES = 1 << 32


def encode_keys(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """One int64 per (score, candidate index) that sorts as the top-k order.

    The high 32 bits are the float32 score mapped to an order-preserving integer (sign-magnitude
    to two's complement; -0.0 is taken as +0.0), the low 32 bits ``2**32 - 1 - index``. So
    ``key_a > key_b`` exactly when ``a`` comes first in "score desc, index asc" order; keys of
    distinct candidates never tie, so any sort of keys gives the one exact order.

    Example:
        >>> k = encode_keys(np.array([0.5, 0.5, -1.0], np.float32), np.array([3, 1, 0]))
        >>> np.argsort(-k).tolist()  # 0.5@1, 0.5@3, -1.0@0
        [1, 0, 2]
    """
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.int32)
    np.bitwise_xor(bits, np.int32(0x7FFFFFFF), out=bits, where=bits < 0)
    keys = bits.astype(np.int64)
    del bits
    keys <<= 32
    # (o << 32) | (MASK - i) == (o << 32) + MASK - i, since the low half of o << 32 is zero:
    # in place, without index-sized temporaries
    keys += _IDX_MASK
    keys -= np.asarray(indices, dtype=np.int64)
    return keys


def decode_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_keys`: ``(indices int64, values float32)``."""
    ordered = (keys >> 32).astype(np.int32)
    values = np.where(ordered < 0, ordered ^ np.int32(0x7FFFFFFF), ordered).view(np.float32)
    return _IDX_MASK - (keys & _IDX_MASK), values


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
        rows, cols = block.shape
        if self._keys.shape[1] < self.k:  # lists not full yet (first chunks): the chunk's own top-k
            bi, bv = topk_rows(block, self.k, offset=offset)
            self._pending.append(encode_keys(bv[:, ::-1], bi[:, ::-1]))  # ascending
            self._merge()
            return
        # Only groups (runs of 64 columns) whose maximum beats the row's threshold can hold an
        # admitted entry: one cheap pass, then gather just those groups' columns.
        gmax = _group_max(block)
        passing = gmax > self._thr[:, None]
        n_pass = int(np.count_nonzero(passing))
        if n_pass == 0:
            return
        dense = n_pass * 8 > gmax.size  # many groups pass (early chunks, large k): comparison passes
        if dense:
            block = np.ascontiguousarray(block)
        # a slab of rows at a time bounds the temporaries (~4M entries) whatever the chunk and k
        slab = max(1, (1 << 22) // cols)
        parts = []
        for a in range(0, rows, slab):
            b = min(rows, a + slab)
            thr = self._thr[a:b]
            # (flat indices then divmod: numpy's 2-D nonzero is ~10x slower than flatnonzero)
            if dense:
                flat = np.flatnonzero(block[a:b] > thr[:, None])
                rr, c = np.divmod(flat, cols)
                v = block[a:b].reshape(-1)[flat]
            else:
                gr, gg = np.divmod(np.flatnonzero(passing[a:b]), gmax.shape[1])
                c = gg[:, None] * _GROUP + np.arange(_GROUP)[None, :]
                valid = c < cols
                c = np.minimum(c, cols - 1)
                rr = np.broadcast_to(gr[:, None], c.shape)
                v = block[a:b][rr, c]
                keep = valid & (v > thr[gr][:, None])
                rr, c, v = rr[keep], c[keep], v[keep]  # row-major: rows ascending
            if rr.size == 0:
                parts.append(np.full((b - a, 0), _PAD_KEY, dtype=np.int64))
                continue
            counts = np.bincount(rr, minlength=b - a)
            pos = np.arange(rr.size) - np.repeat(np.cumsum(counts) - counts, counts)
            part = np.full((b - a, int(counts.max())), _PAD_KEY, dtype=np.int64)
            c += offset
            part[rr, pos] = encode_keys(v, c)
            part.sort(axis=1)  # ascending: padding first
            parts.append(part)
        width = max(p.shape[1] for p in parts)
        keys = np.full((rows, width), _PAD_KEY, dtype=np.int64)
        a = 0
        for part in parts:  # right-aligned: each row stays ascending, padding first
            keys[a : a + part.shape[0], width - part.shape[1] :] = part
            a += part.shape[0]
        self._pending.append(keys)
        self._pending_width += keys.shape[1]
        if self._pending_width >= max(self.k, 64):
            self._merge()

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


# ---------------------------------------------------------------------------------------- score
def _as_source(x: FeaturesLike) -> FeatureSource:
    if isinstance(x, np.ndarray):
        return InMemoryFeatures(x)
    if not hasattr(x, "read_rows"):
        raise ConfigurationError(f"expected features (array, InMemoryFeatures or FeatureStore), got {type(x).__name__}")
    return x


def _to_float32(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float32 copy of ``block`` (into ``out`` when given, shape ``block.shape``).

    Goes through torch's vectorised conversion: float16 → float32 is ~20x faster than numpy's
    (which converts element by element); the values are the same (conversion is exact).
    """
    if out is None:
        out = np.empty(block.shape, dtype=np.float32)
    src = np.asarray(block)
    if src.dtype in (np.float16, np.float32, np.float64) and src.ndim == 2:
        _tensor(out).copy_(_tensor(np.ascontiguousarray(src)))
    else:
        out[...] = src
    return out


def _normalize(block: np.ndarray, what: str, start: int, out: np.ndarray | None = None) -> np.ndarray:
    """Row-normalised float32 copy (into ``out`` when given); a NaN/inf row is an error, found
    through its norm: no extra pass."""
    x = _to_float32(block, out)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    if not np.isfinite(norms).all():
        bad_rows = ~np.isfinite(x).all(axis=1)
        if bad_rows.any():
            raise InvalidDataError(
                f"{what} features of row {int(np.flatnonzero(bad_rows)[0]) + start} contain NaN or inf"
            )
        norms = np.linalg.norm(x.astype(np.float64), axis=1).astype(np.float32)  # finite but huge values
    np.divide(x, np.maximum(norms, np.float32(1e-12))[:, None], out=x)
    return x


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


def _prepare(
    queries: FeaturesLike | Sequence[FeaturesLike],
    candidates: FeaturesLike | Sequence[FeaturesLike],
    weights: Sequence[float] | None,
    chunk_rows: int,
) -> tuple[list[FeatureSource], list[FeatureSource], np.ndarray, int]:
    """Validated sources, weights and the effective chunk size (see :func:`score`)."""
    qs = [_as_source(q) for q in (queries if isinstance(queries, (list, tuple)) else [queries])]
    cs = [_as_source(c) for c in (candidates if isinstance(candidates, (list, tuple)) else [candidates])]
    if len(qs) != len(cs) or not qs:
        raise ConfigurationError(f"need one candidate source per query source, got {len(qs)} and {len(cs)}")
    w = np.full(len(qs), 1.0 / len(qs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(qs),) or not np.isfinite(w).all():
        raise ConfigurationError(f"need {len(qs)} finite weights, got {weights!r}")
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
    if chunk_rows <= 0:
        raise ConfigurationError(f"chunk size must be positive, got {chunk_rows}")
    # Bound the float32 copy of a chunk (~64 MiB) for wide features, then round to whole blocks so
    # block boundaries stay absolute.
    dim = max(c.dim for c in cs)
    chunk_rows = min(chunk_rows, max(_BLOCK, (64 << 20) // (4 * max(1, dim))))
    chunk_rows = -(-chunk_rows // _BLOCK) * _BLOCK
    return qs, cs, w, chunk_rows


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
    (``(_QROWS, d) @ (d, _BLOCK)``, the last query rows and the pool's last block excepted,
    whichever chunking), starts at an absolute multiple of ``_BLOCK`` candidates and runs
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

    def run(self, fn: Any, units: Sequence[Any]) -> None:
        """``fn(unit)`` for every unit, on the pool's threads (in order when single-threaded)."""
        if self._pool is None or len(units) < 2:
            for unit in units:
                fn(unit)
            return
        for fut in [self._pool.submit(fn, unit) for unit in units]:
            fut.result()


def _blocks(
    qs: list[FeatureSource],
    cs: list[FeatureSource],
    w: np.ndarray,
    chunk_rows: int,
    device: str | None,
    exclude: np.ndarray | None = None,
    matrix: np.ndarray | None = None,
    with_mean: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Yield ``(start, block (M, width), mean over queries or None)`` per candidate chunk.

    ``block`` is a view of ``matrix`` when given, else a buffer reused for the next chunk.
    Every product covers one absolute block of ``_BLOCK`` candidates (see :class:`_BlockProducts`),
    on the CPU and on CUDA alike, so scores never depend on ``chunk_rows`` or threads.
    """
    if device is not None and device.startswith("cuda"):
        yield from _blocks_cuda(qs, cs, w, chunk_rows, device, exclude, matrix, with_mean)
        return
    m, n = qs[0].num_rows, cs[0].num_rows
    qn = [_normalize(q.to_array(), "query", 0) for q in qs]
    qmean = [x.mean(axis=0, dtype=np.float64).astype(np.float32) for x in qn]
    single = len(cs) == 1 and w[0] == 1.0
    wf = [np.float32(x) for x in w]
    block_buf = np.empty(m * min(n, chunk_rows), dtype=np.float32) if matrix is None else None
    cand_bufs: dict[int, np.ndarray] = {}  # float32 chunk buffer per view, reused for the next chunk
    threads = _blas_threads()
    with _torch_single_thread(), _blas_single_thread(), _BlockProducts(threads) as products:
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            width = stop - start
            if block_buf is not None:
                block = block_buf[: m * width].reshape(m, width)
            else:
                assert matrix is not None
                block = matrix[:, start:stop]
            mean = np.zeros(width, np.float32) if with_mean else None
            cns = []
            for v, c in enumerate(cs):
                buf = cand_bufs.setdefault(v, np.empty((min(n, chunk_rows), c.dim), dtype=np.float32))
                cns.append(_normalize(c.read_rows(start, stop), "candidate", start, out=buf[:width]))

            def one_block(unit: tuple[int, int], block=block, cns=cns, mean=mean, start=start, width=width) -> None:
                r0, b0 = unit
                r1, b1 = min(m, r0 + _QROWS), min(width, b0 + _BLOCK)
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

            products.run(one_block, [(r0, b0) for b0 in range(0, width, _BLOCK) for r0 in range(0, m, _QROWS)])
            if exclude is not None:
                np.copyto(block, -np.inf, where=exclude[None, start:stop])  # (boolean column indexing is ~10x slower)
            yield start, block, mean


def _blocks_cuda(
    qs: list[FeatureSource],
    cs: list[FeatureSource],
    w: np.ndarray,
    chunk_rows: int,
    device: str,
    exclude: np.ndarray | None,
    matrix: np.ndarray | None,
    with_mean: bool,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """:func:`_blocks` with the conversion, normalisation and products on a CUDA device.

    Candidate rows travel in their stored dtype (float16 stores: half the bytes) through a pinned
    host buffer; they are converted to float32 and normalised on the device, and multiplied in the
    same absolute ``_BLOCK``-candidate blocks as on the CPU (TF32 off: full float32 products), so
    two runs on one GPU give the same bits whatever ``chunk_rows``. The next chunk is read from
    the store by a background thread while the device works on this one.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} was asked for but CUDA is not available; use --device cpu")
    m, n = qs[0].num_rows, cs[0].num_rows
    qn_t = [torch.from_numpy(_normalize(q.to_array(), "query", 0)).to(dev) for q in qs]
    qmean_t = [x.double().mean(dim=0).float() for x in qn_t]
    block_buf = np.empty(m * min(n, chunk_rows), dtype=np.float32) if matrix is None else None
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False

    # two pinned host buffers per view, filled in turn (pinning memory per chunk costs more than
    # the copy): the reader fills one while the device's copy from the other is in flight
    pinned: dict[tuple[int, int], torch.Tensor] = {}

    def read(start: int) -> list[torch.Tensor]:
        stop = min(n, start + chunk_rows)
        slot = (start // chunk_rows) % 2
        out = []
        for v, c in enumerate(cs):
            raw = np.asarray(c.read_rows(start, stop))
            if raw.dtype not in (np.float16, np.float32):
                raw = raw.astype(np.float32)
            dtype = torch.from_numpy(raw[:0]).dtype
            buf = pinned.get((slot, v))
            if buf is None or buf.dtype != dtype:
                buf = torch.empty((min(n, chunk_rows), c.dim), dtype=dtype, pin_memory=dev.type == "cuda")
                pinned[(slot, v)] = buf
            dst = buf[: stop - start]
            dst.numpy()[...] = raw
            out.append(dst)
        return out

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="targetsel-read") as reader:
            nxt = reader.submit(read, 0)
            for start in range(0, n, chunk_rows):
                stop = min(n, start + chunk_rows)
                width = stop - start
                host = nxt.result()
                if stop < n:
                    nxt = reader.submit(read, stop)
                out_t = torch.empty((m, width), dtype=torch.float32, device=dev)
                mean_t = torch.zeros(width, dtype=torch.float32, device=dev) if with_mean else None
                for i, h in enumerate(host):
                    x = h.to(dev, non_blocking=True).float()
                    norms = torch.linalg.vector_norm(x, dim=1)
                    if not bool(torch.isfinite(norms).all()):  # as in _normalize
                        bad_rows = ~torch.isfinite(x).all(dim=1)
                        if bool(bad_rows.any()):
                            bad = int(torch.nonzero(bad_rows)[0, 0]) + start
                            raise InvalidDataError(f"candidate features of row {bad} contain NaN or inf")
                        norms = torch.linalg.vector_norm(x.double(), dim=1).float()  # finite but huge values
                    x /= norms.clamp_min(1e-12)[:, None]
                    if mean_t is not None:
                        mean_t += float(w[i]) * (x @ qmean_t[i])
                    for b0 in range(0, width, _BLOCK):
                        b1 = min(width, b0 + _BLOCK)
                        prod = qn_t[i] @ x[b0:b1].T
                        if i == 0:
                            out_t[:, b0:b1] = prod if float(w[i]) == 1.0 else float(w[i]) * prod
                        else:
                            out_t[:, b0:b1] += float(w[i]) * prod
                if exclude is not None:
                    ex = torch.from_numpy(np.ascontiguousarray(exclude[start:stop])).to(dev)
                    out_t.masked_fill_(ex[None, :], float("-inf"))
                if block_buf is not None:
                    block = block_buf[: m * width].reshape(m, width)
                    torch.from_numpy(block).copy_(out_t)
                else:
                    assert matrix is not None
                    block = matrix[:, start:stop]
                    block[...] = out_t.cpu().numpy()
                mean = None if mean_t is None else mean_t.cpu().numpy()
                yield start, block, mean
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32


def score_chunks(
    queries: FeaturesLike | Sequence[FeaturesLike],
    candidates: FeaturesLike | Sequence[FeaturesLike],
    *,
    weights: Sequence[float] | None = None,
    chunk_rows: int = 16384,
    device: str | None = None,
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
    qs, cs, w, chunk_rows = _prepare(queries, candidates, weights, chunk_rows)
    for start, block, _ in _blocks(qs, cs, w, chunk_rows, device):
        yield start, block


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
) -> Scores:
    """Cosine similarity of every query to every candidate, streamed over candidate chunks.

    Args:
        queries: Query features ``(M, d)``, or a list of them (one per checkpoint).
        candidates: Candidate features ``(N, d)``, or a list aligned with ``queries``.
        weights: One weight per (query, candidate) pair; default uniform ``1 / n_pairs``.
        top_k: Keep only each query's best ``top_k`` candidates (streaming form); ``None`` keeps
            the dense matrix.
        chunk_rows: Candidate rows per chunk (bounds memory); rounded up to a multiple of 4096.
            Scores are bit-identical for every chunk size and BLAS thread count on one machine.
        device: ``cpu`` (numpy/BLAS), ``cuda`` (torch), or ``None`` (cpu).
        desc: Progress bar label.
        exclude: Optional ``(N,)`` boolean mask (streaming form only): these candidates score
            ``-inf``, so each query's top-k lists the others first. Products are still taken in
            the same absolute blocks (a block with every row excluded is skipped), so the other
            scores are bit-identical to an unmasked pass.

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
    qs, cs, w, chunk_rows = _prepare(queries, candidates, weights, chunk_rows)
    m, n = qs[0].num_rows, cs[0].num_rows
    if top_k is not None and top_k <= 0:
        raise ConfigurationError(f"top_k must be positive, got {top_k}")
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if top_k is None or exclude.shape != (n,):
            raise ConfigurationError(f"exclude needs streaming scores (top_k) and shape ({n},), got {exclude.shape}")
    if top_k is not None and n >= MAX_CANDIDATES:
        raise ConfigurationError(f"streaming top-k supports fewer than {MAX_CANDIDATES:,} candidates, got {n:,}")
    k = None if top_k is None else min(top_k, n)
    matrix = np.empty((m, n), dtype=np.float32) if k is None else None
    topk = StreamingTopK(m, k) if k is not None else None
    cmax = cmean = cargmax = None
    if k is not None:
        cmax, cmean, cargmax = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.int64)
    with progress(total=n, desc=desc, unit="cand") as bar:
        for start, block, cmean_part in _blocks(qs, cs, w, chunk_rows, device, exclude, matrix, cmean is not None):
            stop = start + block.shape[1]
            if matrix is None:
                assert cmax is not None and cmean is not None and cargmax is not None and topk is not None
                cmean[start:stop] = cmean_part
                cmax[start:stop], cargmax[start:stop] = column_max_argmax(block)
                topk.add(block, start)
            bar.update(stop - start)
    provenance = {
        "queries": [q.manifest for q in qs],
        "candidates": [c.manifest for c in cs],
        "weights": w.tolist(),
        "similarity": "cosine",
        "top_k": k,
    }
    if matrix is not None:
        return Scores(m, n, matrix=matrix, provenance=provenance)
    assert topk is not None
    top_i, top_v = topk.result()
    return Scores(
        m,
        n,
        topk_indices=top_i,
        topk_values=top_v,
        cand_max=cmax,
        cand_argmax=cargmax,
        cand_mean=cmean,
        provenance=provenance,
    )
