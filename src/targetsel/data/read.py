"""Reading rows from files and ``datasets`` objects, numbered from 1, before any validation.

JSON Lines (optionally gzipped, with or without a UTF-8 byte-order mark, CRLF line ends allowed)
and JSON array files are read row by row; a line that is not UTF-8 or not JSON becomes a
:class:`~targetsel.data.validate.BadLine` so the validation reports (or skips) it with its number.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from targetsel.data.validate import BadLine
from targetsel.errors import ConfigurationError, InvalidDataError

__all__ = ["iter_dataset", "iter_json_lines", "pick_split"]


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(row number, parsed row or BadLine)`` of a ``.jsonl``/``.json`` file (``.gz`` too)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            # a UTF-8 byte-order mark (Windows editors, spreadsheet exports) is skipped; CRLF line
            # ends need nothing: JSON allows the trailing \r
            start = 3 if fh.read(3) == b"\xef\xbb\xbf" else 0
            fh.seek(start)
            head = fh.read(1)
            while head in (b" ", b"\n", b"\r", b"\t"):
                head = fh.read(1)
            fh.seek(start)
            if head == b"[" and path.name.lower().endswith((".json", ".json.gz")):
                # A JSON array file: one row per element.
                try:
                    data = json.loads(fh.read().decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise InvalidDataError(f"{path}: invalid JSON ({exc})") from exc
                yield from enumerate(data, start=1)
                return
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield lineno, BadLine("not valid UTF-8")
                    continue
                try:
                    yield lineno, json.loads(text)
                except json.JSONDecodeError as exc:
                    yield lineno, BadLine(f"invalid JSON ({exc.msg} at column {exc.colno})")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InvalidDataError(f"{path}: cannot read ({exc})") from exc


def iter_dataset(ds: Any) -> Iterator[tuple[int, Any]]:
    """``(row number, row)`` of a ``datasets.Dataset``."""
    for i in range(len(ds)):
        yield i + 1, ds[i]


def pick_split(ds: Any, split: str | None, source: str) -> Any:
    """The split of a ``DatasetDict`` (``split``, the only one, or ``train``); a ``Dataset`` as it is."""
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) == 1:
                return next(iter(ds.values()))
            split = "train"
        if split not in ds:
            raise ConfigurationError(f"{source}: no split {split!r}; available: {', '.join(ds)}")
        return ds[split]
    return ds
