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

The mass rules are in :mod:`targetsel.select.tsds`, the kernel densities in
:mod:`targetsel.select.density`; this module holds the two selectors.
"""

from __future__ import annotations

import logging

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import FeatureViews, Scores
from targetsel.select.base import Ranking, Selector, TopKTooSmallError, register_selector
from targetsel.select.density import kernel_density, kernel_density_all
from targetsel.select.tsds import _check_alpha_c, _check_positive, _neighbours, _too_few, rank_by_mass, tsds_kde_mass

logger = logging.getLogger(__name__)

__all__ = ["KNNKDE", "KNNUniform"]


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
    label = "KNN-U"
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

    Needs the candidate features unless ``sigma = 0``: ``features=FeatureViews(...)``, whose
    ``queries`` may be ``None`` (the pipeline passes the feature views, for gradient features the
    checkpoint-weighted views). The densities read the candidates' unit features
    (:meth:`~targetsel.score.FeatureViews.unit_candidates`, every view weighted as in the scores).

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
        >>> from targetsel.store.viewset import ViewSet
        >>> rng = np.random.default_rng(0)
        >>> q, x = rng.normal(size=(2, 8)), rng.normal(size=(30, 8))
        >>> r = KNNKDE().rank(score(q, x), 5, FeatureViews(None, ViewSet.of(x)))
        >>> len(r)
        5
    """

    name = "knn_kde"
    label = "KNN-KDE"
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
        mass = np.bincount(idx[:, :depth].ravel(), weights=probs.ravel(), minlength=n)  # type: ignore[assignment]  # numpy's stubs say intp; float weights give float64
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
