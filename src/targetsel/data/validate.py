"""Validation of numbered rows: canonical messages, stable ids, and the Arrow table they go into.

Invalid rows stop the load at the first one (naming the source and its 1-based row), or with
``skip_invalid`` are counted, logged and left out. Ids are the ``id`` column when any row has
one (then every row needs a unique one), else a content hash made unique by occurrence count.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from targetsel.data.messages import canonical_json, content_id, normalize_row
from targetsel.errors import InvalidDataError

# the name the package's warnings have always carried (the CLI log lines show it)
logger = logging.getLogger("targetsel.data")

__all__ = ["BadLine", "ValidRows", "to_dataset", "validate_rows"]


@dataclass
class BadLine:
    """A row the reader could not parse; ``reason`` is reported with its row number."""

    reason: str


@dataclass
class ValidRows:
    """The rows kept, each with ``messages`` added, their ids, and the 1-based row numbers skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


class _Rejecter:
    """Raises on an invalid row, or (``skip_invalid``) records it and counts its reason."""

    def __init__(self, source: str, skip_invalid: bool, skipped: list[int]) -> None:
        self.source, self.skip_invalid, self.skipped = source, skip_invalid, skipped
        self.reasons: dict[str, int] = {}

    def __call__(self, lineno: int, reason: str) -> None:
        if not self.skip_invalid:
            raise InvalidDataError(f"{self.source}: row {lineno}: {reason} (use --skip-invalid to skip bad rows)")
        self.skipped.append(lineno)
        self.reasons[reason.split(" (")[0]] = self.reasons.get(reason.split(" (")[0], 0) + 1


def _normalized(rows: Iterator[tuple[int, Any]], reject: _Rejecter) -> list[tuple[dict[str, Any], int]]:
    """Every parsable row with canonical ``messages`` added, with its row number."""
    kept: list[tuple[dict[str, Any], int]] = []
    for lineno, row in rows:
        if isinstance(row, BadLine):
            reject(lineno, row.reason)
            continue
        try:
            msgs = normalize_row(row)
        except ValueError as exc:
            reject(lineno, str(exc))
            continue
        rec = dict(row)
        rec["messages"] = msgs
        kept.append((rec, lineno))
    return kept


def _with_ids(kept: list[tuple[dict[str, Any], int]], reject: _Rejecter, out: ValidRows) -> None:
    """Ids: the `id` column when present, else a content hash made unique by occurrence count."""
    has_id = any("id" in r for r, _ in kept)
    seen: dict[str, int] = {}
    for rec, lineno in kept:
        if has_id:
            raw = rec.get("id")
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                reject(lineno, "missing `id` (other rows have one)")
                continue
            if not isinstance(raw, (str, int)) or isinstance(raw, bool):
                reject(lineno, f"`id` must be a string or integer, got {type(raw).__name__}")
                continue
            ex_id = str(raw)
            if ex_id in seen:
                reject(lineno, f"duplicate id {ex_id!r} (first seen at row {seen[ex_id]})")
                continue
            seen[ex_id] = lineno
        else:
            base = content_id(rec["messages"])
            n = seen.get(base, 0)
            seen[base] = n + 1
            ex_id = base if n == 0 else f"{base}-{n + 1}"
        out.ids.append(ex_id)
        out.records.append(rec)


def validate_rows(rows: Iterator[tuple[int, Any]], *, source: str, skip_invalid: bool) -> ValidRows:
    """Validate numbered rows (``(1-based row, row or BadLine)``) and give each kept one its id.

    Raises:
        InvalidDataError: an invalid row (without ``skip_invalid``), or no valid row at all.

    Example:
        >>> v = validate_rows(iter([(1, {"prompt": "a", "completion": "b"}), (2, {"x": 1})]), source="s",
        ...                   skip_invalid=True)
        >>> len(v.records), v.skipped
        (1, [2])
    """
    out = ValidRows()
    reject = _Rejecter(source, skip_invalid, out.skipped)
    _with_ids(_normalized(rows, reject), reject, out)
    if not out.records:
        raise InvalidDataError(
            f"{source}: no valid rows" + (f" ({len(out.skipped)} skipped as invalid)" if out.skipped else "")
        )
    if out.skipped:
        detail = ", ".join(f"{n}× {r}" for r, n in sorted(reject.reasons.items(), key=lambda x: -x[1]))
        logger.warning("%s: skipped %d invalid rows (%s)", source, len(out.skipped), detail)
    return out


def to_dataset(rows: list[dict[str, Any]], source: str) -> tuple[Any, list[str]]:
    """Build an Arrow-backed dataset; columns whose values have no common Arrow type (free-form
    metadata) are stored as JSON text and listed, so exports can restore the original values."""
    import datasets
    import pyarrow as pa

    try:
        return datasets.Dataset.from_list(rows), []
    except (pa.ArrowException, TypeError, ValueError):
        pass
    names = list(dict.fromkeys(k for r in rows for k in r))
    json_columns = []
    for name in names:
        if name == "messages":
            continue
        try:
            pa.array([r.get(name) for r in rows])
        except (pa.ArrowException, TypeError, ValueError):
            json_columns.append(name)
    converted = [{**r, **{c: canonical_json(r[c]) if c in r else None for c in json_columns}} for r in rows]
    try:
        return datasets.Dataset.from_list(converted), json_columns
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidDataError(f"{source}: cannot build a table from the rows ({type(exc).__name__}: {exc})") from exc
