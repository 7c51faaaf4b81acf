"""The :class:`ExampleSet`: a validated pool or query set, its stable ids and its fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from targetsel.data.messages import TextTurns, canonical_messages_json, render_text
from targetsel.data.validate import to_dataset, validate_rows
from targetsel.errors import ConfigurationError

__all__ = ["ExampleSet", "build_example_set"]

#: Rows read from Arrow at a time while hashing (bounded memory, few round trips).
_HASH_BLOCK_ROWS = 4096


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
    _shard_fingerprints: dict[int, list[str]] = field(default_factory=dict, repr=False)

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
            self._fingerprint = self._hash_rows(None)
        return self._fingerprint

    def shard_fingerprints(self, shard_size: int) -> list[str]:
        """Fingerprints of the consecutive row ranges ``[i * shard_size, (i + 1) * shard_size)``.

        Each hashes the same row-by-row bytes as :attr:`fingerprint` (id, then canonical
        messages), over its range only: a range covering every row has the set's fingerprint, and
        a range whose rows (ids, content, order) are unchanged keeps its fingerprint when rows
        elsewhere are added, removed or edited. A feature store records them to reuse its shards
        when the pool grows (:mod:`targetsel.store.grow`).

        Example:
            >>> es = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(5)])
            >>> fps = es.shard_fingerprints(2)
            >>> len(fps), es.shard_fingerprints(5) == [es.fingerprint]
            (3, True)
            >>> swapped = es.select([0, 1, 3, 2, 4]).shard_fingerprints(2)  # rows 2 and 3 swapped
            >>> [a == b for a, b in zip(swapped, fps)]
            [True, False, True]
        """
        if shard_size <= 0:
            raise ConfigurationError(f"shard size must be positive, got {shard_size}")
        if shard_size not in self._shard_fingerprints:
            self._hash_rows(shard_size)
        return list(self._shard_fingerprints[shard_size])

    def _row_bytes(self) -> Iterator[bytes]:
        """What is hashed of each row, in order: its id, NUL, its canonical messages, SOH.

        Read from Arrow a block of rows at a time (:func:`canonical_messages_json`): iterating the
        ``messages`` column row by row through ``datasets`` costs several times the hashing itself.
        """
        table = self.dataset.with_format("arrow")
        for start in range(0, len(self.ids), _HASH_BLOCK_ROWS):
            block = canonical_messages_json(table[start : start + _HASH_BLOCK_ROWS].column("messages"))
            for i, text in enumerate(block, start):
                yield b"".join((self.ids[i].encode("utf-8"), b"\x00", text.encode("utf-8"), b"\x01"))

    def _hash_rows(self, shard_size: int | None) -> str:
        """One pass over the rows: the set's fingerprint (returned) and, with ``shard_size``, its ranges'."""
        whole = hashlib.sha256() if self._fingerprint is None else None
        parts: list[str] = []
        part = hashlib.sha256()
        for i, row in enumerate(self._row_bytes()):
            if whole is not None:
                whole.update(row)
            if shard_size is not None:
                if i and i % shard_size == 0:
                    parts.append(part.hexdigest())
                    part = hashlib.sha256()
                part.update(row)
        fingerprint = whole.hexdigest() if whole is not None else str(self._fingerprint)
        self._fingerprint = fingerprint
        if shard_size is not None:
            self._shard_fingerprints[shard_size] = [*parts, part.hexdigest()] if len(self) else []
        return fingerprint

    @property
    def column_names(self) -> list[str]:
        return list(self.dataset.column_names)

    def messages(self, index: int) -> list[dict[str, str]]:
        """Canonical chat turns of row ``index``."""
        turns: list[dict[str, str]] = self.dataset[int(index)]["messages"]
        return turns

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
