"""TSDS kernel densities ``Σ max(0, 1 − ‖x − y‖²/σ²)`` of unit candidate features: a FAISS search
(exact ``flat``, or ``ivf`` / ``hnsw``), and a symmetric blocked Gram product for every row at once."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError

__all__ = ["kernel_density", "kernel_density_all"]


def kernel_density(
    queries: np.ndarray,
    base: np.ndarray,
    sigma: float,
    k: int,
    *,
    index: str = "flat",
    nprobe: int = 16,
    self_rows: np.ndarray | None = None,
) -> np.ndarray:
    """TSDS kernel density ``Σ max(0, 1 − ‖x − y‖²/σ²)`` over the ``k`` nearest rows of ``base``.

    Uses FAISS inner-product search on unit features (``‖x − y‖² = 2 − 2⟨x, y⟩``); each kernel
    value is rounded to 1e-6, and a row's own term (``self_rows``) is exactly 1: its distance to
    itself is 0 by definition, not the float32 ``2 − 2⟨x, x⟩`` (a few 1e-7, which the rounding
    grid may or may not absorb depending on the SIMD kernel). With the exact ``flat`` index and
    ``σ < 1.18`` it runs a range search for the pairs above the kernel's support threshold
    ``1 − σ²/2`` (same result as the k-NN search: neighbours below it add 0), keeping the ``k``
    largest per row.

    Args:
        queries: ``(R, D)`` float32 unit rows whose density is wanted (rows of ``base``).
        base: ``(B, D)`` float32 unit rows the density is estimated from.
        sigma: Kernel bandwidth (> 0).
        k: Neighbours per row (capped at ``B``).
        index: ``flat`` (exact), ``ivf`` or ``hnsw`` (approximate, for very large ``B``).
        nprobe: IVF cells probed.
        self_rows: ``(R,)`` row of ``base`` that each query is (or ``-1``), for the exact self term.

    Returns:
        ``(R,)`` float64 densities.

    Example:
        >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> kernel_density(x, x, 0.75, 3).tolist()
        [2.0, 2.0, 1.0]
    """
    k = int(min(k, base.shape[0]))
    ix = _faiss_index(index, base, k, nprobe)
    out = np.empty(queries.shape[0], np.float64)
    step = 4096
    thr = 1.0 - sigma**2 / 2.0  # kernel > 0 exactly when the inner product exceeds this
    if index == "flat" and thr > 0.3:
        # Exact and cheaper than a k-NN search: only neighbours above the kernel threshold count, so
        # a range search finds them (no k-heaps); rows with more than k of them keep their k best.
        for start in range(0, queries.shape[0], step):
            lims, sims, labels = ix.range_search(queries[start : start + step], thr)
            rows = None if self_rows is None else self_rows[start : start + lims.size - 1]
            out[start : start + lims.size - 1] = _range_sums(lims, sims, labels, sigma, k, rows)
        return out
    for start in range(0, queries.shape[0], step):
        sims, labels = ix.search(queries[start : start + step], k)
        d2 = np.maximum(0.0, 2.0 - 2.0 * sims.astype(np.float64))
        # rounded so that float32 noise in the inner products (a self-similarity of 0.99999994)
        # cannot break ties between candidates whose densities are equal in exact arithmetic
        kern = np.where(labels >= 0, np.round(np.maximum(0.0, 1.0 - d2 / sigma**2), 6), 0.0)
        if self_rows is not None:
            kern[labels == self_rows[start : start + labels.shape[0], None]] = 1.0
        out[start : start + step] = kern.sum(axis=1)
    return out


def kernel_density_all(base: np.ndarray, sigma: float, k: int, block: int = 2048) -> np.ndarray:
    """:func:`kernel_density` of every row of ``base`` against ``base``, using the symmetry.

    Each pair is computed once (blocks ``j >= i`` of the Gram matrix, BLAS), halving the work of
    a search of ``base`` against itself; same result as
    ``kernel_density(base, base, sigma, k, self_rows=np.arange(len(base)))``.

    Args:
        base: ``(B, D)`` float32 unit rows.
        sigma: Kernel bandwidth (``σ < 1.18``, so the kernel's support is an inner product > 0.3).
        k: Neighbours per row.
        block: Rows per Gram block.

    Returns:
        ``(B,)`` float64 densities.

    Example:
        >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> kernel_density_all(x, 0.75, 3).tolist()
        [2.0, 2.0, 1.0]
    """
    n = base.shape[0]
    k = int(min(k, n))
    thr = np.float32(1.0 - sigma**2 / 2.0)
    rows_hit: list[np.ndarray] = []
    kern_hit: list[np.ndarray] = []
    for i0 in range(0, n, block):
        bi = base[i0 : i0 + block]
        for j0 in range(i0, n, block):
            g = bi @ base[j0 : j0 + block].T
            r, c = np.nonzero(g > thr)
            if not r.size:
                continue
            d2 = np.maximum(0.0, 2.0 - 2.0 * g[r, c].astype(np.float64))
            kern = np.round(np.maximum(0.0, 1.0 - d2 / sigma**2), 6)
            if j0 == i0:
                kern[r == c] = 1.0  # a row's own term: distance 0 exactly (see kernel_density)
            rows_hit.append(r + i0)
            kern_hit.append(kern)
            if j0 != i0:  # the mirrored pairs
                rows_hit.append(c + j0)
                kern_hit.append(kern)
    if not rows_hit:
        return np.zeros(n)
    rows = np.concatenate(rows_hit)
    kern = np.concatenate(kern_hit)
    counts = np.bincount(rows, minlength=n)
    out = np.bincount(rows, weights=kern, minlength=n)
    over = np.flatnonzero(counts > k)
    if over.size:  # rows with more than k neighbours in the kernel's support keep their k largest
        order = np.lexsort((-kern, rows))
        rows, kern = rows[order], kern[order]
        starts = np.searchsorted(rows, over)
        for row, a in zip(over, starts, strict=True):
            out[row] = kern[a : a + k].sum()
    return out


def _faiss_index(index: str, base: np.ndarray, k: int, nprobe: int) -> Any:
    """A FAISS inner-product index of kind ``index`` holding the rows of ``base``."""
    import faiss

    dim = base.shape[1]
    if index == "flat":
        ix: Any = faiss.IndexFlatIP(dim)
    elif index == "ivf":
        nlist = max(1, int(math.sqrt(base.shape[0])))
        ix = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ix.train(base)
        ix.nprobe = nprobe
    elif index == "hnsw":
        ix = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efSearch = max(64, k)
    else:
        raise ConfigurationError(f"kde index must be flat, ivf or hnsw, got {index!r}")
    ix.add(base)
    return ix


def _range_sums(
    lims: np.ndarray, sims: np.ndarray, labels: np.ndarray, sigma: float, k: int, self_rows: np.ndarray | None
) -> np.ndarray:
    """Per-row kernel sums of one FAISS range-search result (rows with more than ``k`` hits keep
    their ``k`` largest); ``self_rows`` as in :func:`kernel_density`, for these rows."""
    lims = lims.astype(np.int64)
    d2 = np.maximum(0.0, 2.0 - 2.0 * sims.astype(np.float64))
    kern = np.round(np.maximum(0.0, 1.0 - d2 / sigma**2), 6)
    counts = np.diff(lims)
    if self_rows is not None:
        owner = np.repeat(self_rows, counts)
        kern[labels.astype(np.int64) == owner] = 1.0
    sums = np.add.reduceat(np.append(kern, 0.0), lims[:-1])  # padded: empty last rows stay in range
    sums = np.where(counts > 0, sums, 0.0)
    for r in np.flatnonzero(counts > k):
        row = kern[lims[r] : lims[r + 1]]
        sums[r] = np.sort(row)[-k:].sum()
    return sums
