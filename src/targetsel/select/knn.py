"""TSDS nearest-neighbour selectors: ``knn_uniform`` and ``knn_kde``.

Our reading of TSDS (Liu, Karbasi and Rekatsinas, *TSDS: Data Selection for Task-Specific Model
Finetuning*, NeurIPS 2024) and of the seed paper's use of it, written out so that the code can be
checked against it:

* Every query ``i`` of the ``M`` queries owns probability mass ``1/M`` and spreads it over its
  nearest candidates, by cosine distance ``d = 1 − S`` (``S`` the, possibly checkpoint-weighted,
  cosine similarity). ``d_i[0] <= d_i[1] <= ...`` are query ``i``'s sorted distances to its ``L``
  nearest candidates (``L = min(max_neighbors, N)``; ties go to the lower candidate index).
* **knn_uniform** (TSDS with σ = 0): one ``K`` for all queries, the smallest ``K`` in
  ``1 .. L−1`` with

  ``(α / C) · Σ_i Σ_{k<K} (d_i[K] − d_i[k]) >= (1 − α) · M``

  (the marginal transport cost of spreading every query over one more neighbour outweighs the
  diversity gain), or ``K = L`` when no ``K`` below ``L`` satisfies it. Each (query, neighbour)
  pair among the ``K`` nearest gets mass ``1 / (K·M)``.
* **knn_kde**: every prefetched candidate ``x`` gets a kernel density
  ``ρ(x) = Σ_y max(0, 1 − ‖x − y‖² / σ²)`` over its ``kde_neighbors`` nearest prefetched
  candidates ``y`` (itself included, so ``ρ >= 1``), with ``‖x − y‖² = 2 (1 − s(x, y))`` for
  unit features (``s`` the same weighted cosine as the scores). A query fills its neighbours
  in order, each neighbour ``k`` receiving ``1 / (M·s·ρ_i[k])`` at a common level ``s`` — near-
  duplicates (large ``ρ``) get less. The level grows greedily over the events
  ``P_i[k] = Σ_{k'<=k} 1/ρ_i[k']`` taken in increasing order (ties: lower ``k``, then lower
  query); at each event the cost of query ``i`` is
  ``Σ_{k'<=k} (d_i[k+1] − d_i[k']) / ρ_i[k']`` and the greedy stops at the first event where
  ``(α / C) · Σ_i cost_i >= (1 − α) · M``, the level ``s`` being that event's ``P``. Neighbours
  ``0..K_i`` of query ``i`` (``K_i`` its last event before the stop) get ``1 / (M·s·ρ_i[k])``,
  neighbour ``K_i + 1`` the remainder of ``1/M``. A query with no event before the stop puts its
  whole ``1/M`` on its nearest neighbour (TSDS's reference code would overfill it; this can only
  happen when the rule stops at the very first event). With ``σ = 0`` (``ρ = 1``) this is
  ``knn_uniform`` up to the cap at ``L``.
* Both rank the pool by received mass (descending), ties and zero-mass candidates towards the
  lower index; no sampling, so there are no duplicates. TSDS samples with replacement from the
  mass; its ranking is what the seed paper used.

Kernel values are rounded to 1e-6, so float32 noise in inner products (a self-similarity of
0.99999994) cannot break mass ties between candidates that are equal in exact arithmetic.

Exactness of the streaming form: the rules only read each query's nearest neighbours up to the
stopping depth. Given scores that keep each query's top ``K'`` candidates, the uniform result
equals the full-matrix result when the rule stops before any query needs neighbour ``K'``
(checked; :class:`~targetsel.select.base.TopKTooSmallError` asks for a larger ``top_k``
otherwise, and :func:`targetsel.pipeline.run_selection` scores again with one). KDE densities are
estimated among all ``L`` prefetched neighbours of every query, so ``knn_kde`` needs
``top_k >= L`` (its ``required_top_k``). The
same argument lets us compute densities only for candidates up to a depth ``D`` (starting at
the uniform ``K``, a lower bound, and doubling ``D`` until no query reaches it), with FAISS
searching them against all ``L`` prefetched candidates of every query; when every prefetched
candidate's density is needed, a symmetric blocked Gram product computes each pair once instead
(same result, half the work).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import FeatureViews, Scores, dense_topk
from targetsel.score.similarity import unit_features
from targetsel.select.base import Ranking, Selector, TopKTooSmallError, register_selector

logger = logging.getLogger(__name__)

__all__ = [
    "KNNKDE",
    "KNNUniform",
    "dense_topk",
    "gather_features",
    "kernel_density",
    "rank_by_mass",
    "tsds_kde_mass",
]


# ------------------------------------------------------------------------------------------ helpers
def _check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not math.isfinite(float(value)):
        raise ConfigurationError(f"{name} must be a finite {'integer' if integer else 'number'}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")


def _check_alpha_c(alpha: float, c: float) -> None:
    _check_positive("alpha", alpha)
    if alpha >= 1:
        raise ConfigurationError(f"alpha must lie in (0, 1), got {alpha!r}")
    _check_positive("C", c)


def rank_by_mass(mass: np.ndarray, budget: int) -> np.ndarray:
    """The ``budget`` candidates with the most mass, mass descending, ties towards lower index.

    Args:
        mass: ``(N,)`` non-negative mass per candidate.
        budget: How many.

    Returns:
        ``(budget,)`` int64 indices.

    Example:
        >>> rank_by_mass(np.array([0.0, 0.5, 0.0, 0.5, 0.2]), 4).tolist()
        [1, 3, 4, 0]
    """
    pos = np.flatnonzero(mass > 0)
    order = pos[np.lexsort((pos, -mass[pos]))][:budget]
    if order.size < budget:
        rest = np.ones(mass.shape[0], dtype=bool)
        rest[pos] = False
        order = np.concatenate([order, np.flatnonzero(rest)[: budget - order.size]])
    return order.astype(np.int64)


def _neighbours(scores: Scores, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``depth`` nearest candidates (fewer when streaming scores keep fewer):
    ``(indices (M, D), distances (M, D) float64)``."""
    idx, val, _ = scores.row_topk(np.arange(scores.n_queries), depth)
    return idx, 1.0 - val.astype(np.float64)


def _too_few(method: str, depth: int, kept: int) -> TopKTooSmallError:
    # run_selection answers this by scoring again with a 4x larger top_k (recorded in the provenance)
    return TopKTooSmallError(
        f"{method} needs each query's {depth} nearest candidates but the scores keep only {kept}; "
        f"score with top_k >= {depth} (or lower max_neighbors)"
    )


#: Unit candidate features of the kernel density (kept under its old name).
gather_features = unit_features


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
    import faiss

    k = int(min(k, base.shape[0]))
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
    out = np.empty(queries.shape[0], np.float64)
    step = 4096
    thr = 1.0 - sigma**2 / 2.0  # kernel > 0 exactly when the inner product exceeds this
    if index == "flat" and thr > 0.3:
        # Exact and cheaper than a k-NN search: only neighbours above the kernel threshold count, so
        # a range search finds them (no k-heaps); rows with more than k of them keep their k best.
        for start in range(0, queries.shape[0], step):
            lims, sims, labels = ix.range_search(queries[start : start + step], thr)
            lims = lims.astype(np.int64)
            d2 = np.maximum(0.0, 2.0 - 2.0 * sims.astype(np.float64))
            kern = np.round(np.maximum(0.0, 1.0 - d2 / sigma**2), 6)
            counts = np.diff(lims)
            if self_rows is not None:
                owner = np.repeat(self_rows[start : start + counts.size], counts)
                kern[labels.astype(np.int64) == owner] = 1.0
            sums = np.add.reduceat(np.append(kern, 0.0), lims[:-1])  # padded: empty last rows stay in range
            sums = np.where(counts > 0, sums, 0.0)
            for r in np.flatnonzero(counts > k):
                row = kern[lims[r] : lims[r + 1]]
                sums[r] = np.sort(row)[-k:].sum()
            out[start : start + counts.size] = sums
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
        for r, a in zip(over, starts, strict=True):
            out[r] = kern[a : a + k].sum()
    return out


def tsds_kde_mass(
    dist: np.ndarray, rho: np.ndarray, alpha: float, c: float
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """The TSDS greedy mass assignment on sorted neighbour distances and densities.

    Vectorised: the heap of the reference algorithm pops events ``(P_i[k], k, i)`` in
    lexicographic order, and since ``P_i`` increases with ``k`` that is simply the sorted order of
    all events; the running total cost is a cumulative sum of per-event increments.

    Args:
        dist: ``(M, D)`` float64 sorted distances of each query's ``D >= 2`` nearest candidates.
        rho: ``(M, D)`` densities of those candidates (``>= 1``; ones for the uniform variant).
        alpha: TSDS α in (0, 1).
        c: TSDS C > 0.

    Returns:
        ``(probs (M, D), last (M,), level, stopped)``: the mass of each (query, neighbour),
        each query's last saturated neighbour ``K_i`` (``-1`` when none), the level ``s``, and
        whether the stopping rule fired (``False``: the depth ``D`` was exhausted).

    Example:
        >>> d = np.array([[0.1, 0.2, 0.9]])
        >>> p, last, s, stopped = tsds_kde_mass(d, np.ones_like(d), alpha=0.5, c=0.5)
        >>> p.round(3).tolist(), int(last[0]), stopped
        ([[0.5, 0.5, 0.0]], 0, True)
    """
    m, depth = dist.shape
    inv = 1.0 / rho.astype(np.float64)
    levels = np.cumsum(inv[:, : depth - 1], axis=1)  # P_i[k], k = 0..D-2
    wsum = np.cumsum(dist[:, : depth - 1] * inv[:, : depth - 1], axis=1)
    cost = dist[:, 1:depth] * levels - wsum  # cost_i(k)
    delta = np.diff(cost, axis=1, prepend=0.0)
    # events laid out k-major (then query), so a stable sort on the level breaks ties by (k, query)
    qq = np.tile(np.arange(m), depth - 1)
    flat_levels = levels.T.ravel()
    order = np.argsort(flat_levels, kind="stable")
    total = np.cumsum(delta.T.ravel()[order])
    hit = np.flatnonzero((alpha / c) * total >= (1.0 - alpha) * m)
    stopped = hit.size > 0
    b = int(hit[0]) if stopped else order.size
    level = float(flat_levels[order[b if stopped else -1]])
    last = np.bincount(qq[order[:b]], minlength=m) - 1
    probs = np.zeros((m, depth), np.float64)
    cols = np.arange(depth)[None, :]
    full = cols <= last[:, None]
    probs[full] = (inv / (m * level))[full]
    rest = np.maximum(1.0 / m - probs.sum(axis=1), 0.0)
    probs[np.arange(m), last + 1] += rest
    return probs, last, level, stopped


# ---------------------------------------------------------------------------------------- selectors
@register_selector
class KNNUniform(Selector):
    """TSDS with σ = 0: every query spreads ``1/M`` uniformly over its ``K`` nearest candidates.

    Args:
        alpha: TSDS α (trade-off between alignment and diversity), in (0, 1).
        C: TSDS constant C > 0.
        max_neighbors: L, the most neighbours a query may use.

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.95, 0.9]]))
        >>> KNNUniform(alpha=0.5, C=1.0).rank(s, 4).indices.tolist()
        [0, 1, 2, 3]
    """

    name = "knn_uniform"
    supports_streaming = True

    def __init__(self, alpha: float = 0.01, C: float = 5.0, max_neighbors: int = 5000) -> None:
        _check_alpha_c(alpha, C)
        _check_positive("max_neighbors", max_neighbors, integer=True)
        self.alpha = float(alpha)
        self.C = float(C)
        self.max_neighbors = int(max_neighbors)

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Streaming ``top_k`` that makes the result exact for any scores: the L prefetched
        neighbours (candidates beyond them get no mass and are ranked by index)."""
        return self.max_neighbors

    def choose_k(self, dist: np.ndarray, limit: int) -> tuple[int, bool]:
        """TSDS K for sorted distances ``(M, D)``; ``(K, decided)`` with ``decided`` false if none below ``D``."""
        m, depth = dist.shape
        upto = min(limit, depth)
        if upto < 2:
            return 1, True
        ks = np.arange(1, upto)
        csum = np.cumsum(dist, axis=1)[:, : upto - 1]  # Σ_{k<K} d[k] for K = 1..upto-1
        gaps = (ks[None, :] * dist[:, 1:upto] - csum).sum(axis=0)  # (upto-1,)
        hit = np.flatnonzero((self.alpha / self.C) * gaps >= (1.0 - self.alpha) * m)
        if hit.size:
            return int(ks[hit[0]]), True
        return upto, False

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        m, n = scores.shape
        limit = min(self.max_neighbors, n)
        idx, dist = _neighbours(scores, limit)
        k, decided = self.choose_k(dist, limit)
        if not decided and idx.shape[1] < limit:
            raise _too_few(self.name, limit, idx.shape[1])
        mass = np.bincount(idx[:, :k].ravel(), minlength=n).astype(np.float64) / (k * m)
        logger.info("knn_uniform: K = %d neighbours per query, %d candidates with mass", k, int((mass > 0).sum()))
        order = rank_by_mass(mass, budget)
        return self._ranking(order, None, mass[order], n, {"K": k}, mass=mass[order])


@register_selector
class KNNKDE(Selector):
    """TSDS KNN-KDE: nearest-neighbour mass with near-duplicates down-weighted by kernel density.

    Needs the candidate features (``features=FeatureViews(...)``, or ``candidate_features=(sources,
    weights)``; the pipeline passes the feature views, for gradient features the
    checkpoint-weighted views) unless ``sigma = 0``.

    Args:
        alpha: TSDS α in (0, 1).
        C: TSDS constant C > 0.
        sigma: Kernel bandwidth σ (0: no density correction).
        max_neighbors: L, prefetched neighbours per query (candidate cap).
        kde_neighbors: Neighbours the density of each prefetched candidate is summed over.
        kde_index: FAISS index for the density search: ``flat`` (exact), ``ivf`` or ``hnsw``.
        start_depth: First depth of the lazy density computation (doubled while needed).

    Example:
        >>> import numpy as np
        >>> from targetsel.score import score
        >>> rng = np.random.default_rng(0)
        >>> q, x = rng.normal(size=(2, 8)), rng.normal(size=(30, 8))
        >>> r = KNNKDE().rank(score(q, x), 5, candidate_features=([x], [1.0]))
        >>> len(r)
        5
    """

    name = "knn_kde"
    requires_features = "always"  # the kernel densities (sigma > 0)
    supports_streaming = True
    features_hint = "or use sigma=0"

    def __init__(
        self,
        alpha: float = 0.01,
        C: float = 5.0,
        sigma: float = 0.75,
        max_neighbors: int = 5000,
        kde_neighbors: int = 1000,
        kde_index: str = "flat",
        start_depth: int = 256,
    ) -> None:
        _check_alpha_c(alpha, C)
        _check_positive("sigma", sigma, allow_zero=True)
        _check_positive("max_neighbors", max_neighbors, integer=True)
        _check_positive("kde_neighbors", kde_neighbors, integer=True)
        _check_positive("start_depth", start_depth, integer=True)
        if kde_index not in ("flat", "ivf", "hnsw"):
            raise ConfigurationError(f"kde_index must be flat, ivf or hnsw, got {kde_index!r}")
        self.alpha = float(alpha)
        self.C = float(C)
        self.sigma = float(sigma)
        self.max_neighbors = int(max_neighbors)
        self.kde_neighbors = int(kde_neighbors)
        self.kde_index = kde_index
        self.start_depth = int(start_depth)

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Streaming ``top_k`` that makes the result exact for any scores: the L prefetched
        neighbours (candidates beyond them get no mass and are ranked by index)."""
        return self.max_neighbors

    def features_needed(self, scores: Scores) -> bool:
        """The densities need the candidate features (``sigma > 0``)."""
        return self.sigma > 0

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        m, n = scores.shape
        limit = min(self.max_neighbors, n)
        idx, dist = _neighbours(scores, limit)
        avail = idx.shape[1]
        if self.sigma > 0 and avail < limit:
            # the densities are estimated among all L prefetched neighbours of every query
            raise _too_few(self.name, limit, avail)
        if avail < 2:
            mass = np.bincount(idx[:, 0], minlength=n).astype(np.float64) / m
            order = rank_by_mass(mass, budget)
            return self._ranking(order, None, mass[order], n, mass=mass[order])
        rho_all: np.ndarray | None = None
        base: np.ndarray | None = None
        prefetched = np.unique(idx)
        if self.sigma > 0:
            assert features is not None  # checked by Selector.rank (features_needed)
            base = features.unit_candidates(prefetched)
            rho_all = np.full(n, np.nan)
        # With densities >= 1 every event's cost is at most its uniform (σ = 0) cost, so the KDE rule
        # never stops shallower than the uniform K: start there rather than doubling up to it.
        k_uniform, _ = KNNUniform(self.alpha, self.C, self.max_neighbors).choose_k(dist, avail)
        depth = min(avail, max(2, self.start_depth, k_uniform + 2))
        while True:
            if rho_all is not None and base is not None:
                need = np.unique(idx[:, : depth - 1])
                todo = need[np.isnan(rho_all[need])]
                if todo.size == prefetched.size and self.kde_index == "flat" and self.sigma**2 / 2 < 0.7:
                    rho_all[prefetched] = kernel_density_all(base, self.sigma, self.kde_neighbors)
                elif todo.size:
                    rows = base[np.searchsorted(prefetched, todo)]
                    rho_all[todo] = kernel_density(
                        rows,
                        base,
                        self.sigma,
                        self.kde_neighbors,
                        index=self.kde_index,
                        self_rows=np.searchsorted(prefetched, todo),
                    )
                rho = np.ones((m, depth))
                rho[:, : depth - 1] = rho_all[idx[:, : depth - 1]]
            else:
                rho = np.ones((m, depth))
            probs, last, level, stopped = tsds_kde_mass(dist[:, :depth], rho, self.alpha, self.C)
            reached = int(last.max()) >= depth - 2
            if stopped and not reached:
                break
            if depth >= avail:
                if avail < limit:
                    raise TopKTooSmallError(
                        f"knn_kde needs up to {limit} nearest candidates per query but the scores keep only "
                        f"{avail}; score with top_k >= {limit} (or lower max_neighbors)"
                    )
                break  # depth L exhausted: TSDS caps each query at L neighbours
            depth = min(avail, 2 * depth)
        mass = np.bincount(idx[:, :depth].ravel(), weights=probs.ravel(), minlength=n)
        logger.info(
            "knn_kde: level %.4g, mean K %.1f, depth %d, %d densities, %d candidates with mass",
            level,
            float(np.mean(last + 1)),
            depth,
            0 if rho_all is None else int(np.isfinite(rho_all).sum()),
            int((mass > 0).sum()),
        )
        order = rank_by_mass(mass, budget)
        return self._ranking(order, None, mass[order], n, mass=mass[order])
