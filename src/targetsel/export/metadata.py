"""``selection.json``'s content: the pydantic models that validate it on every read, and
:func:`selection_metadata`, which builds it (through the same models) for a write.

Example:
    >>> meta = {"method": "random", "params": {}, "budget": 1, "representation": {},
    ...         "pool": {"source": "p.jsonl", "rows": 3, "fingerprint": "f"}, "queries": None,
    ...         "library_version": "0.1.0",
    ...         "picks": [{"rank": 0, "index": 2, "id": "r2", "query_index": None, "score": None}]}
    >>> SelectionFile.model_validate(meta).budget
    1
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from targetsel.data import ExampleSet
from targetsel.decontaminate.result import DecontaminationRecord
from targetsel.params import FieldError
from targetsel.params.artifacts import check_artifact, check_nested
from targetsel.select.base import Ranking
from targetsel.select.dedup import DedupRecord

__all__ = [
    "SELECTION_FIX",
    "DataRecord",
    "DistributedRecord",
    "Pick",
    "SelectionFile",
    "TargetRecord",
    "TargetsRecord",
    "selection_metadata",
]

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


class TargetRecord(DataRecord):
    """One target of a several-target selection: its query set, its share of the picks and its picks."""

    name: str
    share: float | None
    picks: _Count


class TargetsRecord(BaseModel):
    """``selection.json``'s ``targets`` block (several targets only): the mix and each target.

    Every pick then names its ``target``, and ``query_index`` is a query of that target's set.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    mix: str
    targets: list[TargetRecord]


class DistributedRecord(BaseModel):
    """``selection.json``'s ``distributed`` block (a selection made under torchrun only).

    Attributes:
        world_size: The number of ranks.
        row_ranges: Per rank, the pool rows ``[start, stop)`` it scored (a rank may have none);
            together they cover the pool once.

    Example:
        >>> DistributedRecord(world_size=2, row_ranges=[[[0, 4096], [8192, 9000]], [[4096, 8192]]]).world_size
        2
    """

    model_config = ConfigDict(strict=True, extra="allow")

    world_size: Annotated[int, Field(ge=1)]
    row_ranges: list[list[Annotated[list[_Count], Field(min_length=2, max_length=2)]]]

    @model_validator(mode="after")
    def _one_list_per_rank(self) -> DistributedRecord:
        if len(self.row_ranges) != self.world_size:
            have = len(self.row_ranges)
            raise FieldError("row_ranges", f"must hold one list per rank ({self.world_size}), got {have}")
        return self

    def covers(self, rows: int) -> bool:
        """Whether the ranks' ranges cover rows ``[0, rows)`` exactly once."""
        spans = sorted(r for ranges in self.row_ranges for r in ranges)
        ends = [0] + [b for _, b in spans]
        return all(a == e and b > a for (a, b), e in zip(spans, ends, strict=False)) and ends[-1] == rows


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
    """``selection.json``: method, parameters, inputs and every pick; written and read back by
    :class:`targetsel.export.SelectionArtifact`.

    Types are strict (a score written as text, a pick that is a number, ``params`` that is not a
    mapping are errors). Unknown keys are tolerated and ignored, at the top level and in
    ``pool``/``queries`` (a newer targetsel may record more); in a pick they are the ranking's
    per-pick extras. ``json_text_columns`` may be absent (files of older versions).
    ``decontamination`` (:class:`~targetsel.decontaminate.DecontaminationRecord`) is present only
    when decontamination ran (absent, not ``null``, when it was off).
    ``dedup`` (:class:`~targetsel.select.dedup.DedupRecord`) likewise, only when near-duplicate
    control ran; its ``walked`` is ``budget + skipped``. ``targets`` (:class:`TargetsRecord`) only
    for a selection of several targets: every pick then names its ``target``, ``queries`` is ``null``.
    ``distributed`` (:class:`DistributedRecord`) only for a selection made under torchrun: the world
    size and the pool rows each rank scored (the rest of the file is what one process writes).
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
    targets: TargetsRecord | None = None
    distributed: DistributedRecord | None = None
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
        return check_nested(_Provenance, value)

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
        if self.targets is not None:
            self._check_targets(self.targets)
        if self.distributed is not None and not self.distributed.covers(self.pool.rows):
            raise FieldError("distributed.row_ranges", f"must cover the pool's {self.pool.rows} rows exactly once")
        return self

    def _check_targets(self, targets: TargetsRecord) -> None:
        rows = {t.name: t.rows for t in targets.targets}
        if len(rows) != len(targets.targets):
            raise FieldError("targets.targets", "must name each target once")
        if sum(t.picks for t in targets.targets) != self.budget:
            raise FieldError("targets.targets", f"picks must add up to the budget ({self.budget})")
        for i, p in enumerate(self.picks):
            name = getattr(p, "target", None)
            if name not in rows:
                raise FieldError(f"picks[{i}].target", f"must be one of the targets {', '.join(rows)}, got {name!r}")
            if p.query_index is not None and p.query_index >= rows[name]:
                raise FieldError(f"picks[{i}].query_index", f"must be below target {name!r}'s {rows[name]} queries")


def selection_metadata(
    pool: ExampleSet,
    ranking: Ranking,
    *,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
    decontamination: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
    targets: dict[str, Any] | None = None,
    distributed: dict[str, Any] | None = None,
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
        "targets": targets,
        "distributed": distributed,
        "picks": picks,
    }
    # through the model that reads it back: what is written is what a reader accepts
    checked = check_artifact(SelectionFile, meta, source="the selection written", fix="this is a bug in targetsel")
    out = checked.model_dump()
    # a step that did not run leaves no key: the file says only what happened
    for key in ("decontamination", "dedup", "targets", "distributed"):
        if out[key] is None:
            del out[key]
    return out
