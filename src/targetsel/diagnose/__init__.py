"""Diagnostics of a selection: how far the subset is from the query set, and what it is made of.

The seed paper bounds the loss after training through the 1-Wasserstein distance between the
selected subset and the query set in a representation; for gradient features that distance
predicts the query loss. :func:`diagnose` measures, for every budget (a prefix of the ranking):

* ``w1``: 1-Wasserstein distance between the uniform distributions on the query points and on
  the subset, with the cost ``(1 - cos) / 2`` in ``[0, 1]`` that selection uses (POT: exact
  ``ot.emd2`` while ``max(n_queries, budget) <= exact_limit``, log-domain ``ot.sinkhorn2`` beyond);
* ``mmd``: maximum mean discrepancy with a Gaussian kernel on the unit-normalised features,
  ``k(x, y) = exp(-|x - y|^2 / (2 sigma^2))`` (biased estimator, square root of MMD²);
* ``mean_nn_query``: mean over query points of the cost to their nearest pick, and
  ``mean_nn_subset``: mean over picks of the cost to their nearest query point;
* ``coverage``: picks per query point, from the ranking's ``query_index`` when the algorithm
  recorded one (round-robin), else each pick's nearest query point;
* ``composition``: picks per pool ``source``;
* with several query sets (a selection of several targets, or ``{name: query set}``), per target
  the same distances to that target's queries, of the whole prefix and of the target's own picks;
* the **random baseline** (when candidate rows to sample from are given, e.g. the pool): ``w1``
  of ``random_subsets`` seeded random subsets of the same size, as ``random_mean``,
  ``random_std``, ``random_percentile`` (the share of random subsets at most as far from the
  queries as the selection, in %: low is good) and ``random_z`` (``(w1 − mean) / std``: negative
  is closer than chance). It answers "is this subset closer to my task than chance, and by how
  much" without training anything.

Features come as :class:`~targetsel.store.viewset.ViewSet` s, what
:meth:`Representation.encode_for_scoring <targetsel.represent.Representation.encode_for_scoring>`
returns: with several views (LESS checkpoints) the similarity is the weighted sum of per-view
cosines, as in scoring, with the weights rescaled to sum 1 so that the cost ``(1 - S) / 2`` lies in
``[0, 1]`` (the weight rule of :mod:`targetsel.score.similarity`). A diagnosis is data
(:meth:`Diagnosis.save` writes ``diagnosis.json``); the report package draws its figure
(:func:`targetsel.report.figures.save_diagnosis`).

Example:
    >>> import numpy as np
    >>> from targetsel.store.viewset import ViewSet
    >>> rng = np.random.default_rng(0)
    >>> q, s = rng.normal(size=(5, 8)), rng.normal(size=(20, 8))
    >>> d = diagnose(ViewSet.of(q), ViewSet.of(s), budgets=[10, 20])
    >>> [p.budget for p in d.points], 0.0 <= d.points[0].w1 <= 1.0
    ([10, 20], True)
"""

from __future__ import annotations

# One former module split by concern: ``result`` (the dataclasses), ``distances`` (cost, W1, MMD,
# nearest-neighbour costs), ``core`` (``diagnose`` and the random baseline), ``selection`` (an
# exported selection diagnosed) and ``targets`` (several query sets). Every name stays importable from here.
from targetsel.diagnose.core import diagnose
from targetsel.diagnose.distances import DEFAULT_EXACT_LIMIT, mean_nn_costs, mmd, wasserstein1
from targetsel.diagnose.distances import cost_matrix as cost_matrix
from targetsel.diagnose.result import Diagnosis, DiagnosisPoint
from targetsel.diagnose.selection import diagnose_selection, gather_rows, load_selection
from targetsel.diagnose.targets import target_distances, target_queries

__all__ = [
    "DEFAULT_EXACT_LIMIT",
    "Diagnosis",
    "DiagnosisPoint",
    "diagnose",
    "diagnose_selection",
    "gather_rows",
    "load_selection",
    "mean_nn_costs",
    "mmd",
    "target_distances",
    "target_queries",
    "wasserstein1",
]
