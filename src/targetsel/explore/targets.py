"""The explorer's view of a selection of several targets: who took each pick, where each target's
queries sit in the page's query list, and per budget each target's picks and distances.

The page lists the targets' queries one set after the other (the union, in the order of
``selection.json``'s ``targets`` block); a pick's recorded ``query_index`` is a query of its own
target's set, so its place in the list is ``offsets[target] + query_index``. The page's target
selector shows one target's picks, queries, composition and distances from these fields alone.

Example:
    >>> meta = {"targets": {"mix": "equal", "targets": [{"name": "a", "rows": 2}, {"name": "b", "rows": 3}]},
    ...         "picks": [{"target": "a"}, {"target": "b"}, {"target": "a"}]}
    >>> view = targets_view(meta, [3], None)
    >>> view["pick"], view["offsets"], view["budgets"][0]["picks"]
    ([0, 1, 0], [0, 2], [2, 1])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.explore.values import messages_of, num
from targetsel.export import SELECTION_FILE

__all__ = ["TARGET_DISTANCES", "target_distances_view", "target_query_messages", "targets_view"]

#: The per-target distances of a diagnosis the page shows (see :func:`targetsel.diagnose.target_distances`).
TARGET_DISTANCES = ("picks", "w1", "mmd", "mean_nn_query", "w1_all", "mmd_all", "mean_nn_query_all")


def targets_view(meta: dict[str, Any], budgets: list[int], diagnosis: dict[str, Any] | None) -> dict[str, Any] | None:
    """A selection of several targets as the page shows it; ``None`` for one target.

    Returns:
        ``{"mix", "names", "shares", "queries" (rows per target), "offsets" (first row of each
        target in the page's query list), "pick" ((n_picks,) target code of each pick, ``-1`` when
        unnamed), "budgets"}``; each budget row holds the picks each target took and (from a
        diagnosis) the distance of its picks (``w1``) and of the prefix (``w1_all``) to its queries.
    """
    block = meta.get("targets")
    if block is None:
        return None
    names = [t["name"] for t in block["targets"]]
    rows = [int(t.get("rows") or 0) for t in block["targets"]]
    code = {n: i for i, n in enumerate(names)}
    picked = [p.get("target") for p in meta["picks"]]
    measured = {p["budget"]: p.get("targets") or {} for p in (diagnosis or {}).get("points", [])}
    budget_rows = []
    for b in sorted({*budgets, *(k for k in measured if k <= len(picked))}):
        counts = Counter(picked[:b])
        per = measured.get(b, {})
        budget_rows.append(
            {
                "budget": b,
                "picks": [counts.get(n, 0) for n in names],
                "w1": [num((per.get(n) or {}).get("w1")) for n in names] if per else None,
                "w1_all": [num((per.get(n) or {}).get("w1_all")) for n in names] if per else None,
            }
        )
    return {
        "mix": block.get("mix"),
        "names": names,
        "shares": [t.get("share") for t in block["targets"]],
        "queries": rows,
        "offsets": np.cumsum([0, *rows[:-1]]).tolist(),
        "pick": [code.get(t, -1) for t in picked],
        "budgets": budget_rows,
    }


def target_distances_view(point: dict[str, Any]) -> dict[str, dict[str, float | None]] | None:
    """One diagnosis point's per-target distances, rounded (``None`` when it has none).

    Example:
        >>> target_distances_view({"targets": {"a": {"picks": 2, "w1": 0.1234567, "w1_all": None}}})["a"]["w1"]
        0.12346
    """
    per = point.get("targets")
    if not per:
        return None
    return {name: {k: num(d.get(k)) for k in TARGET_DISTANCES} for name, d in per.items()}


def target_query_messages(
    meta: dict[str, Any], queries: Mapping[str, ExampleSet | None], notes: list[str]
) -> list[list[list[str]] | None] | None:
    """The targets' queries one set after the other, as the page lists them (``None`` for a target
    whose set is not given: shown by number); ``None`` when no set is given.

    A set whose size is not the one ``selection.json`` records for its target is left out, with a note.
    """
    out: list[list[list[str]] | None] = []
    given = False
    for t in meta["targets"]["targets"]:
        es = queries.get(t["name"])
        rows = int(t.get("rows") or 0)
        if es is not None and len(es) != rows:
            notes.append(
                f"the query set given for target {t['name']!r} has {len(es)} rows, {SELECTION_FILE} records {rows}"
            )
            es = None
        given = given or es is not None
        out.extend(messages_of(es) if es is not None else [None] * rows)
    return out if given else None
