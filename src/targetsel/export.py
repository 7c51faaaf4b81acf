"""Export a selection: the chosen pool rows (JSONL or Parquet) plus ``selection.json`` provenance.

Example:
    >>> import numpy as np, tempfile, os
    >>> from targetsel.data import ExampleSet
    >>> from targetsel.select import select
    >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
    >>> ranking = select(np.array([[0.1, 0.9, 0.5]]), "round_robin", budget=2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = export(pool, ranking, d)
    ...     sorted(os.listdir(d))
    ['selection.json', 'subset.jsonl']
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from targetsel.atomic import atomic_path, atomic_write_text
from targetsel.data import ExampleSet
from targetsel.decontaminate.result import DecontaminationRecord
from targetsel.errors import ConfigurationError
from targetsel.params import FieldError
from targetsel.params.artifacts import check_artifact, describe_validation_error
from targetsel.select.base import Ranking
from targetsel.select.dedup import DedupRecord

logger = logging.getLogger(__name__)

__all__ = ["DataRecord", "Pick", "SelectionFile", "check_output_dir", "export", "selection_metadata"]

_FORMATS = ("jsonl", "parquet")

#: What to do about a ``selection.json`` that fails :class:`SelectionFile`.
SELECTION_FIX = "re-run `targetsel select` to write it again"

_Count = Annotated[int, Field(ge=0)]


class DataRecord(BaseModel):
    """The pool or query set a selection was made from, as ``selection.json`` records it.

    Unknown keys are tolerated and ignored (a newer targetsel may record more).
    """

    model_config = ConfigDict(strict=True, extra="allow")

    source: str
    rows: _Count
    fingerprint: str


class Pick(BaseModel):
    """One pick of ``selection.json``: its rank, pool row, id, the query that chose it and its score.

    Keys beyond these are the ranking's per-pick extras (``quantile``, ``quantile_rank``...), kept
    as written.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    rank: _Count
    index: _Count
    id: str
    query_index: _Count | None
    score: float | None


class _View(BaseModel):
    """The keys of one feature view's provenance that readers use (a store manifest, see
    :class:`targetsel.store.manifest.StoreManifest`); the others are kept as written."""

    model_config = ConfigDict(strict=True, extra="allow")

    representation: str | None = None
    model: str | None = None
    dim: int | None = None
    dtype: str | None = None
    params: dict[str, Any] | None = None


class _Provenance(BaseModel):
    """The keys of ``selection.json``'s ``representation`` that readers use; others kept as written."""

    model_config = ConfigDict(strict=True, extra="allow")

    queries: list[_View] | None = None
    candidates: list[_View] | None = None
    weights: list[float] | None = None
    similarity: str | None = None
    top_k: int | None = None


class SelectionFile(BaseModel):
    """``selection.json``: method, parameters, inputs and every pick; written by :func:`export`,
    read back through :func:`targetsel.diagnose.load_selection`.

    Types are strict (a score written as text, a pick that is a number, ``params`` that is not a
    mapping are errors). Unknown keys are tolerated and ignored, at the top level and in
    ``pool``/``queries`` (a newer targetsel may record more); in a pick they are the ranking's
    per-pick extras. ``json_text_columns`` may be absent (files of older versions).
    ``decontamination`` (:class:`~targetsel.decontaminate.DecontaminationRecord`) is present only
    when decontamination ran: a selection made with it off is written exactly as before it existed.
    ``dedup`` (:class:`~targetsel.select.dedup.DedupRecord`) likewise, only when near-duplicate
    control ran; its ``walked`` is ``budget + skipped``.
    Pick indices are rows of the whole pool (removed rows included), so readers map picks to rows
    as they always did.
    The checks across fields: at least one pick, ``budget`` equal to the number of picks, every
    pick's ``index`` within the pool's recorded rows.

    Example:
        >>> meta = {"method": "random", "params": {}, "budget": 1, "representation": {},
        ...         "pool": {"source": "p.jsonl", "rows": 3, "fingerprint": "f"}, "queries": None,
        ...         "library_version": "0.1.0",
        ...         "picks": [{"rank": 0, "index": 2, "id": "r2", "query_index": None, "score": None}]}
        >>> SelectionFile.model_validate(meta).picks[0].id
        'r2'
    """

    model_config = ConfigDict(strict=True, extra="allow")

    method: str
    params: dict[str, Any]
    budget: int
    pool: DataRecord
    queries: DataRecord | None
    representation: dict[str, Any]
    json_text_columns: list[str] = Field(default_factory=list)
    library_version: str
    decontamination: DecontaminationRecord | None = None
    dedup: DedupRecord | None = None
    picks: list[Pick]

    @field_validator("picks")
    @classmethod
    def _some_picks(cls, picks: list[Pick]) -> list[Pick]:
        if not picks:
            raise ValueError("must hold at least one pick")
        return picks

    @field_validator("representation")
    @classmethod
    def _known_provenance(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Checked by its own model but kept as the dict written (its key order is the file's).
        try:
            _Provenance.model_validate(value)
        except ValidationError as exc:
            path, words = describe_validation_error(exc)
            raise FieldError(path, words) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SelectionFile:
        if self.budget != len(self.picks):
            raise FieldError("budget", f"must equal the number of picks ({len(self.picks)}), got {self.budget}")
        d = self.decontamination
        if d is not None and (d.pool_rows != self.pool.rows or d.removed > d.pool_rows):
            raise FieldError(
                "decontamination", f"must count the pool's {self.pool.rows} rows and remove no more of them"
            )
        if self.dedup is not None and self.dedup.walked != self.budget + self.dedup.skipped:
            raise FieldError("dedup.walked", f"must equal budget + skipped ({self.budget + self.dedup.skipped})")
        for i, p in enumerate(self.picks):
            if p.index >= self.pool.rows:
                raise FieldError(f"picks[{i}].index", f"must be below the pool's {self.pool.rows} rows, got {p.index}")
        return self


def check_output_dir(path: str | os.PathLike[str]) -> None:
    """Fail early, before any work, when ``path`` cannot become a writable directory.

    Raises:
        ConfigurationError: ``path`` or one of its ancestors is a file, or the nearest existing
            ancestor is not writable.
    """
    p = Path(path).absolute()
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigurationError(f"cannot write output to {p}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot write output to {p}: {probe} is not writable")


def selection_metadata(
    pool: ExampleSet,
    ranking: Ranking,
    *,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
    decontamination: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``selection.json`` content: method, parameters, inputs and every pick.

    ``decontamination`` (:meth:`targetsel.decontaminate.Contamination.block`) is recorded when
    given; without it the key is left out.

    Example:
        >>> import numpy as np
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": "q", "completion": "a"}])
        >>> selection_metadata(pool, select(np.ones((1, 1)), "random", budget=1))["budget"]
        1
    """
    from targetsel._version import __version__

    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 7)

    picks = [
        {
            "rank": r,
            "index": int(i),
            "id": pool.ids[int(i)],
            "query_index": int(q) if q >= 0 else None,
            "score": num(s),
        }
        for r, (i, q, s) in enumerate(zip(ranking.indices, ranking.query_index, ranking.scores, strict=True))
    ]
    for name, values in ranking.extra.items():
        for p, v in zip(picks, values.tolist(), strict=True):
            p[name] = v
    meta: dict[str, Any] = {
        "method": ranking.method,
        "params": ranking.params,
        "budget": len(ranking),
        "pool": {"source": pool.source, "rows": len(pool), "fingerprint": pool.fingerprint},
        "queries": None
        if queries is None
        else {"source": queries.source, "rows": len(queries), "fingerprint": queries.fingerprint},
        "representation": provenance or {},
        "json_text_columns": pool.json_columns,
        "library_version": __version__,
        "decontamination": decontamination,
        "dedup": dedup,
        "picks": picks,
    }
    # through the model that reads it back: what is written is what a reader accepts
    checked = check_artifact(SelectionFile, meta, source="selection.json", fix="this is a bug in targetsel")
    out = checked.model_dump()
    if out["decontamination"] is None:
        del out["decontamination"]  # off: the file is what it was before decontamination existed
    if out["dedup"] is None:
        del out["dedup"]  # likewise for near-duplicate control
    return out


def export(
    pool: ExampleSet,
    ranking: Ranking,
    output: str | os.PathLike[str],
    *,
    format: str | None = None,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
    decontamination: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write the selected rows (in ranking order, every original column) and their provenance.

    Args:
        pool: The pool the ranking indexes.
        ranking: The selection (slice it to the budget first: ``ranking[:B]``).
        output: A directory (writes ``subset.<format>`` and ``selection.json`` in it) or a file
            path ending in ``.jsonl``/``.parquet`` (metadata goes to ``<stem>.selection.json``).
        format: ``jsonl`` or ``parquet``; inferred from a file path, default ``jsonl``.
        queries: The query set, recorded by source and fingerprint.
        provenance: Representation/scoring provenance (``Scores.provenance``).
        decontamination: The ``decontamination`` block (``Contamination.block()``), when it ran.
        dedup: The ``dedup`` block (``DedupResult.block(budget)``), when near-duplicate control ran.

    Returns:
        ``(subset_path, selection_json_path)``. Both are written atomically.
    """
    if ranking.n_candidates != len(pool):
        raise ConfigurationError(
            f"the ranking is over {ranking.n_candidates} candidates but the pool has {len(pool)} rows"
        )
    out = Path(output)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in _FORMATS:
        fmt = format or suffix
        data_path, meta_path = out, out.with_name(out.stem + ".selection.json")
    else:
        fmt = format or "jsonl"
        data_path, meta_path = out / f"subset.{fmt}", out / "selection.json"
    if fmt not in _FORMATS:
        raise ConfigurationError(f"export format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    check_output_dir(data_path.parent)
    try:
        data_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create output directory {data_path.parent}: {exc.strerror}") from exc

    meta = selection_metadata(
        pool, ranking, queries=queries, provenance=provenance, decontamination=decontamination, dedup=dedup
    )
    meta = json.dumps(meta, indent=1) + "\n"
    with atomic_path(data_path) as tmp:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in pool.rows(ranking.indices):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            # Parquet needs one type per column: free-form columns stay JSON text (listed in selection.json).
            pool.dataset.select([int(i) for i in ranking.indices]).to_parquet(str(tmp))
    atomic_write_text(meta_path, meta)
    logger.info("wrote %d rows to %s", len(ranking), data_path)
    return data_path, meta_path
