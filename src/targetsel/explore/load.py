"""Gather what the explorer page shows from a selection's files on disk.

A *selection* is what ``targetsel select`` writes, found and read through
:class:`targetsel.export.SelectionArtifact`: the picked rows in any export format beside
``selection.json``, or with several budgets one ``budget-<B>/`` folder each. Every budget is a
prefix of one ranking, so the largest budget's files hold everything; the smaller budgets are
positions on the page's budget slider.

Nothing is recomputed here: per-pick query and score come from ``selection.json``, the
conversations from the subset file, the pool's composition from the pool recorded in
``selection.json`` (or given), the distances from a ``diagnosis.json`` when there is one.

Example:
    >>> find_selection("no-such-folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    targetsel.errors.MissingArtifactError: ...
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.explore.decontamination import decontamination_view
from targetsel.explore.targets import target_distances_view, target_query_messages, targets_view
from targetsel.explore.values import cell, column_values, messages_of, num
from targetsel.export import SELECTION_FILE, SelectionArtifact, load_subset
from targetsel.progress import progress

logger = logging.getLogger(__name__)

__all__ = ["PAGE_FORMAT", "Selection", "find_diagnosis", "find_selection", "page_data", "recorded_path"]

#: Version of the JSON embedded in the page (bumped when its layout changes).
PAGE_FORMAT = 1

_NO_LABEL = "(none)"


@dataclass
class Selection:
    """A selection found on disk.

    Attributes:
        root: The folder (or file) the user named.
        artifact: The selection found there (:meth:`SelectionArtifact.open`).
        meta_path: The ``selection.json`` of the largest budget.
        subset_path: The picked rows of the largest budget, in ranking order (a file, or the ``hf``
            format's folder).
        meta: The parsed ``selection.json``.
        budgets: The budgets written (ascending); their prefixes are views of one ranking.
    """

    root: Path
    artifact: SelectionArtifact
    meta_path: Path
    subset_path: Path
    meta: dict[str, Any]
    budgets: list[int]

    @property
    def folder(self) -> Path:
        """The folder the page goes into by default (the named folder, or the file's folder)."""
        return self.root if self.root.is_dir() else self.root.parent

    def default_page_path(self) -> Path:
        """``explore.html`` in the selection folder; ``<stem>.html`` beside a ``<stem>.selection.json``."""
        return self.artifact.page_path


def find_selection(path: str | os.PathLike[str]) -> Selection:
    """Locate ``selection.json`` and the subset file of a selection folder (or of a ``selection.json``).

    Args:
        path: The output folder of ``targetsel select`` (one budget, or ``budget-<B>/`` folders),
            a ``selection.json``, or a ``<stem>.selection.json`` written beside ``<stem>.jsonl``.

    Raises:
        MissingArtifactError: ``path`` does not exist, holds no selection, or lacks its subset file.
        InvalidDataError: ``selection.json`` is not one targetsel wrote.

    Example:
        >>> import tempfile, numpy as np
        >>> from targetsel.data import ExampleSet
        >>> from targetsel.export import export
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
        >>> d = tempfile.mkdtemp()
        >>> _ = export(pool, select(np.array([[0.1, 0.9, 0.5]]), budget=2), d)
        >>> s = find_selection(d)
        >>> s.budgets, s.subset_path.name
        ([2], 'subset.jsonl')
    """
    artifact = SelectionArtifact.open(path)
    top = artifact.largest()
    meta = artifact.read_selection().model_dump()
    budgets = [b for b in artifact.budgets() if b <= len(meta["picks"])] or [meta["budget"]]
    return Selection(Path(path), artifact, top.selection_path, top.find_subset(), meta, budgets)


def recorded_path(meta: dict[str, Any], key: str) -> Path | None:
    """The ``pool`` / ``queries`` path recorded in ``selection.json``, when it is still readable.

    Example:
        >>> recorded_path({"pool": {"source": "<memory>"}}, "pool") is None
        True
    """
    src = (meta.get(key) or {}).get("source")
    if not src or src == "<memory>" or not Path(src).exists():
        return None
    return Path(src)


def find_diagnosis(selection: Selection, path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The ``diagnosis.json`` to show: ``path`` (a file or its folder), else one in the selection folder.

    Looked for, in order: ``<selection>/diagnosis.json``, ``<selection>/diagnosis/diagnosis.json``.

    Raises:
        MissingArtifactError: ``path`` was given and holds no ``diagnosis.json``.
        InvalidDataError: the file is not a diagnosis written by ``targetsel diagnose`` (validated by
            :class:`targetsel.diagnose.DiagnosisFile`: one line naming the file and the field).
    """
    from targetsel.diagnose.result import read_diagnosis

    if path is not None:
        p = Path(path)
        p = p / "diagnosis.json" if p.is_dir() else p
        if not p.is_file():
            raise MissingArtifactError(f"{p}: no diagnosis.json; run `targetsel diagnose` or pass --diagnose")
        candidates = [p]
    else:
        candidates = [selection.folder / "diagnosis.json", selection.folder / "diagnosis" / "diagnosis.json"]
    for p in candidates:
        if p.is_file():
            data = read_diagnosis(p)
            logger.info("showing the diagnosis in %s", p)
            return data
    return None


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _NO_LABEL
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _column(es: ExampleSet, name: str, what: str) -> list[Any]:
    values = column_values(es, name)
    if values is None:
        cols = ", ".join(c for c in es.column_names if c != "messages")
        raise ConfigurationError(f"--by {name!r}: the {what} has no such column; choose one of: {cols}")
    return values


def _header(sel: Selection, pool: ExampleSet | None, queries: Any) -> dict[str, Any]:
    meta = sel.meta
    rep = meta.get("representation") or {}
    views = rep.get("candidates") or rep.get("queries") or []
    first = views[0] if views else {}
    return {
        "method": meta.get("method"),
        "params": meta.get("params") or {},
        "budgets": sel.budgets,
        "n_picks": len(meta["picks"]),
        "representation": {
            "name": first.get("representation"),
            "model": first.get("model"),
            "dim": first.get("dim"),
            "dtype": first.get("dtype"),
            "params": first.get("params") or {},
            "views": len(views),
            "weights": rep.get("weights"),
            "similarity": rep.get("similarity"),
            "top_k": rep.get("top_k"),
        },
        "pool": {**(meta.get("pool") or {}), "loaded": pool is not None},
        "queries": {**(meta.get("queries") or _union_queries(meta)), "loaded": queries is not None},
        "library_version": meta.get("library_version"),
        "selection": str(sel.meta_path),
    }


def _union_queries(meta: dict[str, Any]) -> dict[str, Any]:
    """The header's query facts of a selection of several targets: their rows together, each file."""
    targets = (meta.get("targets") or {}).get("targets") or []
    if not targets:
        return {}
    return {
        "rows": sum(int(t.get("rows") or 0) for t in targets),
        "source": "; ".join(f"{t['name']}: {t.get('source')}" for t in targets),
    }


def _query_view(meta: dict[str, Any], queries: Any, notes: list[str]) -> tuple[int, list[Any] | None]:
    """``(n_queries, one [role, content] list per query or None)``: the page's query list.

    For a selection of several targets the list is their query sets one after the other
    (:func:`targetsel.explore.targets.target_query_messages`); ``queries`` is then ``{name: set}``.

    Raises:
        ConfigurationError: several query sets given for a selection of one target.
    """
    if meta.get("targets") is not None:
        n = int(_union_queries(meta)["rows"])
        if isinstance(queries, ExampleSet):
            notes.append("this selection has several targets: give each target's query set for the query texts")
            return n, None
        return n, target_query_messages(meta, queries or {}, notes)
    if queries is not None and not isinstance(queries, ExampleSet):
        if len(queries) != 1:
            raise ConfigurationError("this selection has one target; give one query set")
        queries = next(iter(queries.values()))
    recorded = (meta.get("queries") or {}).get("rows")
    if queries is not None and len(queries) != (recorded or len(queries)):
        notes.append(f"the query set given has {len(queries)} rows, {SELECTION_FILE} records another size")
    n = recorded or (len(queries) if queries is not None else 0)
    return int(n), None if queries is None else messages_of(queries)


def _diagnosis_view(diagnosis: dict[str, Any] | None) -> dict[str, Any] | None:
    if diagnosis is None:
        return None
    keep: tuple[str, ...] = ("budget", "w1", "w1_solver", "mmd", "mean_nn_query", "covered_fraction")
    keep += ("random_mean", "random_std", "random_percentile", "random_z")
    info = diagnosis.get("info") or {}
    return {
        "representation": info.get("representation"),
        "method": info.get("method"),
        "n_picks": info.get("n_picks"),
        "random": (info.get("settings") or {}).get("random_baseline"),
        "points": [
            {
                **{k: (num(p.get(k)) if k not in ("budget", "w1_solver") else p.get(k)) for k in keep},
                "targets": target_distances_view(p),
            }
            for p in diagnosis["points"]
        ],
    }


def _composition(
    subset: ExampleSet, pool: ExampleSet | None, by: str, notes: list[str]
) -> tuple[str | None, list[str], list[int] | None, list[int]]:
    """``(column shown or None, labels, pool count per label or None, label code per pick)``.

    Labels are ordered by pool count (then subset count for labels the pool lacks). A ``by`` the
    user chose must exist; the default ``source`` may be missing (a note says so).
    """
    explicit_by = by != "source"
    sub_values = column_values(subset, by)
    if sub_values is None:
        if explicit_by:
            _column(subset, by, "subset")
        notes.append("the subset has no `source` column; pass --by COLUMN for a composition chart")
        return None, [], None, []
    pool_values = None
    if pool is not None:
        pool_values = column_values(pool, by)
        if pool_values is None and explicit_by:
            _column(pool, by, "pool")
        elif pool_values is None:
            notes.append("the pool has no `source` column: the subset's composition is shown alone")
    counts_pool = Counter(_label(v) for v in pool_values) if pool_values is not None else Counter()
    sub_labels = [_label(v) for v in sub_values]
    labels = [k for k, _ in counts_pool.most_common()]
    labels += [k for k, _ in Counter(sub_labels).most_common() if k not in counts_pool]
    code = {k: i for i, k in enumerate(labels)}
    pool_counts = [counts_pool.get(k, 0) for k in labels] if pool_values is not None else None
    return by, labels, pool_counts, [code[k] for k in sub_labels]


def _subset_of(selection: Selection) -> ExampleSet:
    """The subset file's rows, checked to be the picks of ``selection.json`` (same count, same ids)."""
    picks = selection.meta["picks"]
    subset = load_subset(selection.subset_path)
    ids = [p.get("id") for p in picks]
    if len(subset) != len(picks) or (ids[0] is not None and subset.ids != ids):
        raise InvalidDataError(
            f"{selection.subset_path}: its {len(subset)} rows are not the {len(picks)} picks of "
            f"{selection.meta_path.name}; re-run `targetsel select`"
        )
    return subset


def _conversations(subset: ExampleSet) -> list[list[list[str]]]:
    """One ``[role, content]`` list per pick, with a progress bar (pools of picks can be large)."""
    conversations = []
    with progress(total=len(subset), desc="explore: picks", unit="row") as bar:
        for msgs in column_values(subset, "messages") or []:
            conversations.append([[m["role"], m["content"]] for m in msgs])
            if len(conversations) % 4096 == 0:
                bar.update(4096)
        bar.update(len(conversations) % 4096)
    return conversations


def _note_diagnosis(meta: dict[str, Any], diagnosis: dict[str, Any] | None, notes: list[str]) -> None:
    """Add a note when ``diagnosis`` was made for another method or number of picks."""
    picks = meta["picks"]
    info = (diagnosis or {}).get("info") or {}
    if diagnosis is not None and (info.get("method"), info.get("n_picks")) not in (
        (meta.get("method"), len(picks)),
        (None, None),
    ):
        notes.append(
            f"the diagnosis shown was made for {info.get('method')} with {info.get('n_picks')} picks, "
            f"not this selection ({meta.get('method')}, {len(picks)} picks)"
        )


def page_data(
    selection: Selection,
    *,
    pool: ExampleSet | None = None,
    queries: ExampleSet | Mapping[str, ExampleSet | None] | None = None,
    by: str = "source",
    diagnosis: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as one JSON-serialisable dict (columns, not rows, to stay small).

    Args:
        selection: From :func:`find_selection`.
        pool: The pool the selection was made from, for its composition (``None``: subset only).
        queries: The query set, for the query texts (``None``: queries shown by number); for a
            selection of several targets ``{name: query set}`` (a target left out: its queries by number).
        by: Column the composition counts by; must exist in the subset (and in the pool when given).
            When the default ``source`` is absent, the page has no composition chart.
        diagnosis: A ``diagnosis.json`` content (see :func:`find_diagnosis`), or ``None``.

    Returns:
        A dict with ``header``, ``by``, ``labels``, ``pool_counts``, ``picks`` (parallel lists
        ``label``/``query``/``score``/``id`` and ``extra`` columns), ``conversations`` (one list of
        ``[role, content]`` per pick), ``n_queries`` and ``queries`` (one per query, or ``None``;
        several targets: their query sets one after the other), ``diagnosis`` (per budget, and with
        several targets each target's distances), ``decontamination`` (``selection.json``'s block
        plus ``rows``, the first 100 removed rows of ``contamination.jsonl``; ``None`` when it was
        off), ``targets`` (a selection of several targets: the mix, shares, each pick's target, where
        each target's queries start in the query list, and per budget each target's picks and
        distances: :func:`targetsel.explore.targets.targets_view`; else ``None``) and ``notes``.

    Raises:
        ConfigurationError: ``by`` names no column.
        InvalidDataError: the subset file does not hold the picks of ``selection.json``.
    """
    meta = selection.meta
    picks = meta["picks"]
    notes: list[str] = []
    subset = _subset_of(selection)
    pool_meta = meta.get("pool") or {}
    if pool is not None and pool_meta.get("fingerprint") and pool.fingerprint != pool_meta["fingerprint"]:
        notes.append(f"the pool given ({pool.source}) is not the one {SELECTION_FILE} records: composition may differ")
    by_shown, labels, pool_counts, label_codes = _composition(subset, pool, by, notes)
    extra_names = sorted({k for p in picks[:1] for k in p} - {"rank", "index", "id", "query_index", "score"})
    conversations = _conversations(subset)
    _note_diagnosis(meta, diagnosis, notes)
    query_index = [-1 if p.get("query_index") is None else int(p["query_index"]) for p in picks]
    if all(q < 0 for q in query_index):
        notes.append(f"{meta.get('method')} does not record which query chose each pick")
    n_queries, query_messages = _query_view(meta, queries, notes)
    decontamination = decontamination_view(selection.meta, selection.artifact, notes)
    return {
        "format": PAGE_FORMAT,
        "header": _header(selection, pool, queries),
        "by": by_shown,
        "labels": labels,
        "pool_counts": pool_counts,
        "picks": {
            "id": [str(i) for i in subset.ids],
            "label": label_codes,
            "query": query_index,
            "score": [num(p.get("score")) for p in picks],
            "extra": {name: [cell(p.get(name)) for p in picks] for name in extra_names},
        },
        "conversations": conversations,
        "n_queries": n_queries,
        "queries": query_messages,
        "diagnosis": _diagnosis_view(diagnosis),
        "decontamination": decontamination,
        "targets": targets_view(meta, selection.budgets, diagnosis),
        "notes": notes,
    }
