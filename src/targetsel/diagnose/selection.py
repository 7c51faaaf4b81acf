"""Diagnosing an exported selection: reading ``selection.json``, gathering the picks' feature rows."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.diagnose.core import check_random_subsets, diagnose
from targetsel.diagnose.distances import DEFAULT_EXACT_LIMIT
from targetsel.diagnose.result import Diagnosis
from targetsel.diagnose.targets import target_distances, target_queries
from targetsel.errors import InvalidDataError
from targetsel.export import SelectionArtifact, SelectionFile
from targetsel.export.metadata import SELECTION_FIX
from targetsel.params.artifacts import check_artifact
from targetsel.score.similarity import check_same_weights
from targetsel.store import FeatureSource
from targetsel.store.viewset import ViewSet

__all__ = ["check_selection", "diagnose_selection", "gather_rows", "load_selection"]


def gather_rows(
    source: np.ndarray | FeatureSource, indices: Sequence[int] | np.ndarray, chunk_rows: int = 16384
) -> np.ndarray:
    """Rows ``indices`` (in that order) of a feature source, streaming over it chunk by chunk.

    Returns:
        ``(len(indices), dim)`` array.

    Example:
        >>> gather_rows(np.arange(6).reshape(3, 2), [2, 0]).tolist()
        [[4, 5], [0, 1]]
    """
    idx = np.asarray(indices, dtype=np.int64)
    if isinstance(source, np.ndarray):
        return source[idx]
    n = source.num_rows if hasattr(source, "num_rows") else None
    if n is not None and idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InvalidDataError(f"pick index out of range for {n} feature rows")
    out: np.ndarray | None = None
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    for start, chunk in source.iter_chunks(chunk_rows):
        lo, hi = np.searchsorted(sorted_idx, [start, start + chunk.shape[0]])
        if out is None:
            out = np.empty((idx.size, chunk.shape[1]), dtype=chunk.dtype)
        if hi > lo:
            out[order[lo:hi]] = chunk[sorted_idx[lo:hi] - start]
    if out is None:
        raise InvalidDataError("the feature source is empty")
    return out


def load_selection(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A selection's ``selection.json`` as a plain dict (``model_dump``), read through
    :meth:`targetsel.export.SelectionArtifact.open`: ``path`` is a selection folder (with several
    budgets, the largest budget's), its ``selection.json``, or a subset file written beside one.

    The content is validated by :class:`targetsel.export.SelectionFile` (anything malformed is one
    :class:`~targetsel.errors.InvalidDataError` line naming the file and the field).

    Example:
        >>> load_selection("missing-dir")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.MissingArtifactError: ...
    """
    return SelectionArtifact.open(path).read_selection().model_dump()


def check_selection(meta: dict[str, Any], source: str = "the selection") -> dict[str, Any]:
    """``selection.json`` content given in memory, validated as :func:`load_selection` validates a file.

    Example:
        >>> check_selection({"method": "x"})  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.InvalidDataError: the selection: field 'params': missing; ...
    """
    return check_artifact(SelectionFile, meta, source=source, fix=SELECTION_FIX).model_dump()


def _pick_indices(meta: dict[str, Any], pool: ExampleSet) -> np.ndarray:
    """Pool row of every pick, by id (robust to a reordered pool) with the stored index as a check."""
    pos = {ex_id: i for i, ex_id in enumerate(pool.ids)}
    out = []
    for p in meta["picks"]:
        if p.get("id") in pos:
            out.append(pos[p["id"]])
        else:
            raise InvalidDataError(
                f"pick {p.get('rank')} has id {p.get('id')!r}, which is not in the pool {pool.source}; "
                "pass the pool the selection was made from"
            )
    return np.asarray(out, dtype=np.int64)


def diagnose_selection(
    selection: str | os.PathLike[str] | dict[str, Any],
    pool: ExampleSet,
    queries: ExampleSet | Mapping[str, ExampleSet],
    representation: Any,
    *,
    budgets: Sequence[int] | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    sinkhorn_reg: float = 0.01,
    mmd_sigma: float = 1.0,
    random_subsets: int = 20,
    seed: int = 0,
) -> Diagnosis:
    """Diagnose an exported selection in a representation, against random subsets of the pool.

    With ``store_dir`` the whole pool is encoded into (or reused from) a feature store there and
    the picks' rows are read from it; without it only the picked rows are encoded, in memory.
    The random baseline draws its subsets from a seeded uniform sample of the pool of
    ``random_subsets × largest budget`` rows (or the whole pool if smaller), read from the store or
    encoded in memory without one.

    Args:
        selection: A ``selection.json`` path, its folder, or its parsed content.
        pool: The pool the selection was made from.
        queries: The query set, or ``{name: query set}`` (checked by
            :func:`~targetsel.diagnose.targets.target_queries`): for a selection of several targets
            every target of its ``targets`` block (in any order), for a selection of one target any
            number of named sets. With several, the distances are to the union of the query sets,
            and each point's ``targets`` holds, per target, the distances of the whole prefix to that
            target's queries and, for a selection of several targets, those of its own picks and
            their composition (:func:`~targetsel.diagnose.targets.target_distances`). The recorded
            ``query_index`` counts the coverage only when the query sets are the selection's own
            (same fingerprints); otherwise each pick counts for its nearest query.
        representation: A :class:`targetsel.represent.Representation`.
        budgets: Prefix lengths (default: the selection's budget).
        store_dir: Feature-store cache folder.
        exact_limit: See :func:`diagnose`.
        sinkhorn_reg: See :func:`diagnose`.
        mmd_sigma: See :func:`diagnose`.
        random_subsets: Random subsets per budget for the baseline (``0``: none).
        seed: Seed of the pool sample and of the random subsets.

    Example:
        >>> from targetsel.demo import demo_pool_path, demo_query_path
        >>> from targetsel.data import load_pool, load_queries
        >>> from targetsel.represent import LexicalRepresentation
        >>> from targetsel.pipeline import run_selection
        >>> from targetsel.export import selection_metadata
        >>> pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
        >>> rep = LexicalRepresentation(dim=256)
        >>> r = run_selection(pool, q, rep, budgets=[40]).ranking
        >>> d = diagnose_selection(selection_metadata(pool, r), pool, q, rep, budgets=[20, 40])
        >>> d.coverage_from, len(d.points)
        ('query_index', 2)
    """
    check_random_subsets(random_subsets)  # before the pool sample it sizes
    meta = check_selection(selection) if isinstance(selection, dict) else load_selection(selection)
    idx = _pick_indices(meta, pool)
    named = target_queries(meta, queries)
    encoded = {
        name: representation.encode_for_scoring(es, role="query", store_dir=store_dir) for name, es in named.items()
    }
    query_side = ViewSet.stack(list(encoded.values()))
    stored = None
    if store_dir is not None:
        stored = representation.encode_for_scoring(pool, role="candidate", store_dir=store_dir)
        subset = ViewSet.of([gather_rows(s, idx) for s in stored], stored.weights)
    else:
        subset = representation.encode_for_scoring(pool.select(idx), role="candidate")
    check_same_weights(query_side.weights, subset.weights)
    random_from = None
    if random_subsets > 0:
        size = random_subsets * (max(budgets) if budgets else len(idx))
        random_from = _pool_sample(pool, representation, stored, size, seed)
    src_col = pool.column("source")
    sources = [str(src_col[int(i)]) for i in idx] if src_col is not None else None
    query_index = _union_query_index(meta, named)
    picked_by = [p["target"] for p in meta["picks"]] if meta.get("targets") is not None else None
    result = diagnose(
        query_side,
        subset,
        budgets=budgets,
        query_index=query_index,
        sources=sources,
        exact_limit=exact_limit,
        sinkhorn_reg=sinkhorn_reg,
        mmd_sigma=mmd_sigma,
        info=_selection_info(meta, representation, len(idx), named),
        random_from=random_from,
        random_subsets=random_subsets,
        seed=seed,
    )
    if len(named) > 1:
        for name, target in encoded.items():
            mine = None if picked_by is None else [t == name for t in picked_by]
            for point in result.points:
                point.targets[name] = target_distances(
                    target, subset, point.budget, mine, exact_limit, sinkhorn_reg, mmd_sigma, sources
                )
    return result


def _union_query_index(meta: dict[str, Any], named: dict[str, ExampleSet]) -> list[int | None] | None:
    """Each pick's recorded query as a row of the union of ``named`` (``None``: not these query sets).

    A pick of a selection of several targets records a query of its target's set: offset by the
    sizes of the sets before it. Query sets other than the ones the selection recorded (another
    fingerprint, or several sets for a selection of one target) make the record meaningless here.
    """
    block = meta.get("targets")
    query_index: list[int | None] = [p.get("query_index") for p in meta["picks"]]
    if block is None:
        return query_index if len(named) == 1 else None
    recorded = {t["name"]: t.get("fingerprint") for t in block["targets"]}
    if any(recorded[n] not in (None, es.fingerprint) for n, es in named.items()):
        return None
    offsets = dict(zip(named, np.cumsum([0, *(len(es) for es in named.values())]).tolist(), strict=False))
    return [None if q is None else q + offsets[p["target"]] for q, p in zip(query_index, meta["picks"], strict=True)]


def _selection_info(
    meta: dict[str, Any], representation: Any, n_picks: int, named: dict[str, ExampleSet]
) -> dict[str, Any]:
    """The provenance a diagnosis of an exported selection records (with several query sets, each one)."""
    info = {
        "method": meta.get("method"),
        "params": meta.get("params"),
        "selection_representation": (meta.get("representation") or {}).get("queries", meta.get("representation")),
        "representation": representation.name,
        "n_picks": n_picks,
    }
    if len(named) > 1:
        info["targets"] = [{"name": n, "source": es.source, "rows": len(es)} for n, es in named.items()]
    return info


def _pool_sample(pool: ExampleSet, representation: Any, stored: ViewSet | None, size: int, seed: int) -> ViewSet:
    """Features of a seeded uniform sample of ``size`` pool rows (the whole pool if smaller): read
    from the pool's ``stored`` features, or encoded in memory without them."""
    rows = np.random.default_rng(seed).choice(len(pool), size=min(len(pool), size), replace=False)
    rows = np.sort(rows)
    if stored is not None:
        return ViewSet.of([gather_rows(s, rows) for s in stored], stored.weights)
    encoded: ViewSet = representation.encode_for_scoring(pool.select(rows), role="candidate")
    return encoded
