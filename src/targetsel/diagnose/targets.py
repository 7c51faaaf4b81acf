"""Several targets in one diagnosis: whose query set is which, and the distances to each target's queries.

A subset is diagnosed against several query sets when the selection was made for several targets
(its ``targets`` block), or when the caller gives ``{name: query set}`` for a selection of one
target. The headline distances are to the union of the query sets; each budget's ``targets`` then
holds, per target, the distances of the whole prefix to that target's queries and, when every pick
names the target that took it (a selection of several targets), the distances of that target's own
picks and their composition by ``source``.

Example:
    >>> import numpy as np
    >>> from targetsel.store.viewset import ViewSet
    >>> q, picks = ViewSet.of(np.eye(2, 3)), ViewSet.of(np.eye(3))
    >>> d = target_distances(q, picks, 3, [True, True, False], sources=["a", "b", "a"])
    >>> d["picks"], d["w1"], d["composition"], round(d["w1_all"], 4)
    (2, 0.0, {'a': 1, 'b': 1}, 0.1667)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.diagnose.distances import DEFAULT_EXACT_LIMIT, cost_matrix, mean_nn_costs, mmd, wasserstein1
from targetsel.errors import ConfigurationError
from targetsel.export import SELECTION_FILE
from targetsel.score.similarity import unit_weights
from targetsel.select.mixture import check_distinct_queries
from targetsel.store.viewset import ViewSet

__all__ = ["target_distances", "target_queries"]


def target_queries(meta: dict[str, Any], queries: ExampleSet | Mapping[str, ExampleSet]) -> dict[str, ExampleSet]:
    """``{name: query set}`` to diagnose ``meta``'s picks against, checked.

    * One query set: ``{"query": queries}`` (a selection of several targets refuses it).
    * ``{name: query set}`` for a selection of several targets: exactly its targets' names, in any
      order; returned in the selection's order.
    * ``{name: query set}`` for a selection of one target: any names (one entry is that one set).

    Raises:
        ConfigurationError: the names are not the selection's targets, no query set is given, or
            two names have the same query set (same fingerprint).

    Example:
        >>> a = ExampleSet.from_records([{"prompt": "a", "completion": "b"}])
        >>> list(target_queries({"picks": []}, {"x": a}))
        ['x']
        >>> target_queries({"picks": []}, {"x": a, "y": a})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: targets 'x' and 'y' have the same query set (<memory>); give it once
    """
    block = meta.get("targets")
    if isinstance(queries, ExampleSet):
        if block is not None:
            listed = ", ".join(t["name"] for t in block["targets"])
            raise ConfigurationError(
                f"this selection has several targets ({listed}); give {{name: query set}} for each "
                f"(CLI: --query NAME=PATH for each, or no --query to read them from {SELECTION_FILE})"
            )
        return {"query": queries}
    named = dict(queries)
    if not named:
        raise ConfigurationError("no query set given; give at least one target's queries")
    if block is not None:
        names = [t["name"] for t in block["targets"]]
        if sorted(named) != sorted(names):
            raise ConfigurationError(
                f"this selection's targets are {', '.join(names)}, but the query sets given are named "
                f"{', '.join(named)}; give one query set under each target's name"
            )
        named = {n: named[n] for n in names}
    check_distinct_queries(list(named.items()))
    return named


def target_distances(
    queries: ViewSet,
    subset: ViewSet,
    budget: int,
    mine: Sequence[bool] | None = None,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    sinkhorn_reg: float = 0.01,
    mmd_sigma: float = 1.0,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One target's distances at ``budget``: its own picks' and the whole prefix's to its queries.

    Args:
        queries: The target's query features, ``(n_queries, dim_v)`` per view.
        subset: The picks' features in ranking order, ``(n_picks, dim_v)`` per view, weighted as
            the queries'.
        budget: The prefix length.
        mine: ``(n_picks,)`` whether each pick was taken by this target; ``None`` when the picks
            do not say which target took them (then only the whole prefix is measured).
        exact_limit: See :func:`targetsel.diagnose.diagnose`.
        sinkhorn_reg: See :func:`targetsel.diagnose.diagnose`.
        mmd_sigma: See :func:`targetsel.diagnose.diagnose`.
        sources: ``(n_picks,)`` pool ``source`` of each pick, for the target's composition.

    Returns:
        ``{"picks", "w1", "mmd", "mean_nn_query", "composition", "w1_all", "mmd_all",
        "mean_nn_query_all"}``: ``picks`` (the target's picks in the prefix) and ``composition``
        (those picks per ``source``) are ``None`` when ``mine`` is; the distances of its own picks
        are ``None`` then, or when it has no pick in the prefix.
    """
    cost, qn, sn = cost_matrix(queries, subset.subset(np.arange(budget)))
    w = unit_weights(len(qn), queries.weights)
    out: dict[str, Any] = {"picks": None, "w1": None, "mmd": None, "mean_nn_query": None, "composition": None}
    if mine is not None:
        own = np.flatnonzero(np.asarray(mine[:budget], dtype=bool))
        out["picks"] = int(own.size)
        if sources is not None:
            out["composition"] = dict(Counter(str(sources[int(i)]) for i in own).most_common())
        if own.size:
            out["w1"] = wasserstein1(cost[:, own], exact_limit=exact_limit, reg=sinkhorn_reg)[0]
            out["mmd"] = mmd(qn, [v[own] for v in sn], w, mmd_sigma)
            out["mean_nn_query"] = mean_nn_costs(cost[:, own])[0]
    out["w1_all"] = wasserstein1(cost, exact_limit=exact_limit, reg=sinkhorn_reg)[0]
    out["mmd_all"] = mmd(qn, sn, w, mmd_sigma)
    out["mean_nn_query_all"] = mean_nn_costs(cost)[0]
    return out
