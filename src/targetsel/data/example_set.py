"""The :class:`ExampleSet`: a validated pool or query set, its stable ids and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from targetsel.data.messages import TextTurns, canonical_json, render_text
from targetsel.data.validate import to_dataset, validate_rows

__all__ = ["ExampleSet", "build_example_set"]


@dataclass
class ExampleSet:
    """A validated pool or query set.

    Attributes:
        dataset: A ``datasets.Dataset`` with every original column plus canonical ``messages``.
        ids: Stable example ids, one per row (the ``id`` column, or a content hash).
        source: Where the rows came from (path or dataset name).
        skipped: Row numbers (1-based) skipped as invalid with ``skip_invalid=True``.
        json_columns: Columns held as JSON text because their values have no common type
            (restored by :meth:`rows`).

    Example:
        >>> es = ExampleSet.from_records([{"messages": [{"role": "user", "content": "hi"},
        ...                                             {"role": "assistant", "content": "hello"}]}])
        >>> len(es), len(es.fingerprint)
        (1, 64)
    """

    dataset: Any
    ids: list[str]
    source: str = "<memory>"
    skipped: list[int] = field(default_factory=list)
    json_columns: list[str] = field(default_factory=list)
    _fingerprint: str | None = field(default=None, repr=False)

    @classmethod
    def from_records(
        cls, records: Sequence[dict[str, Any]], *, source: str = "<memory>", skip_invalid: bool = False
    ) -> ExampleSet:
        """Validate and wrap in-memory rows (dicts)."""
        return build_example_set(iter(enumerate(records, start=1)), source=source, skip_invalid=skip_invalid)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"ExampleSet(source={self.source!r}, rows={len(self)}, skipped={len(self.skipped)})"

    @property
    def fingerprint(self) -> str:
        """SHA-256 over ids and canonical message content, row by row; identifies the data exactly."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for i, msgs in enumerate(self.dataset["messages"]):
                h.update(self.ids[i].encode("utf-8"))
                h.update(b"\x00")
                h.update(canonical_json(msgs).encode("utf-8"))
                h.update(b"\x01")
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @property
    def column_names(self) -> list[str]:
        return list(self.dataset.column_names)

    def messages(self, index: int) -> list[dict[str, str]]:
        """Canonical chat turns of row ``index``."""
        return self.dataset[int(index)]["messages"]

    def iter_messages(self) -> Iterator[list[dict[str, str]]]:
        yield from self.dataset["messages"]

    def texts(self, turns: TextTurns = "all") -> list[str]:
        """Every row rendered as text (see :func:`render_text`)."""
        return [render_text(m, turns) for m in self.dataset["messages"]]

    def rows(self, indices: Iterable[int] | None = None) -> Iterator[dict[str, Any]]:
        """Original rows (every column, JSON-text columns decoded), optionally at ``indices``."""
        ds = self.dataset if indices is None else self.dataset.select([int(i) for i in indices])
        for row in ds:
            for c in self.json_columns:
                if row.get(c) is not None:
                    row[c] = json.loads(row[c])
            yield row

    def column(self, name: str) -> list[Any] | None:
        """Values of a column, or ``None`` when absent."""
        return self.dataset[name] if name in self.dataset.column_names else None

    def select(self, indices: Iterable[int]) -> ExampleSet:
        """A new set with the rows at ``indices`` (in that order)."""
        idx = [int(i) for i in indices]
        return ExampleSet(
            self.dataset.select(idx),
            [self.ids[i] for i in idx],
            source=self.source,
            json_columns=self.json_columns,
        )


def build_example_set(rows: Iterator[tuple[int, Any]], *, source: str, skip_invalid: bool) -> ExampleSet:
    """Validate numbered rows (see :func:`targetsel.data.validate.validate_rows`) and build the set.

    Example:
        >>> build_example_set(iter([(1, {"prompt": "a", "completion": "b"})]), source="s", skip_invalid=False)
        ExampleSet(source='s', rows=1, skipped=0)
    """
    valid = validate_rows(rows, source=source, skip_invalid=skip_invalid)
    ds, json_columns = to_dataset(valid.records, source)
    return ExampleSet(ds, valid.ids, source=source, skipped=valid.skipped, json_columns=json_columns)
