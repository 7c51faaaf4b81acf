"""One place for every digest targetsel computes: settings, files and folders.

A digest keys cached work (a finished experiment cell, a LESS warmup, a feature store's
settings): when it changes the work is redone, when it does not the work is reused. So a digest
must depend on what shaped the work and on nothing else. Settings are hashed as canonical JSON
(sorted keys); data files are hashed by their bytes, not their path, so a finished experiment
stays finished when its data cache moves to another folder or machine (:func:`content_key`).
The rows of a pool are fingerprinted by :class:`targetsel.data.ExampleSet` (ids and canonical
messages, independent of the file format), which is a different question: which rows, not which file.

Example:
    >>> settings_digest({"b": 1, "a": [1, 2]}) == settings_digest({"a": [1, 2], "b": 1})
    True
    >>> len(settings_digest("x")), len(settings_digest("x", length=8, algorithm="sha1"))
    (16, 8)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["content_key", "file_digest", "settings_digest", "sha256_file"]

_CHUNK = 1 << 20


def settings_digest(value: Any, *, length: int = 16, algorithm: str = "sha256") -> str:
    """Hex digest of a JSON-serialisable ``value`` (dict keys sorted; other objects as ``str``).

    Args:
        value: What identifies the work.
        length: Hex characters kept.
        algorithm: A :mod:`hashlib` name; feature-store names use ``sha1`` so stores made by
            earlier versions keep their names.

    Example:
        >>> settings_digest({"lr": 1e-4}, length=8)
        '0aa82fa9'
    """
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.new(algorithm, text.encode()).hexdigest()[:length]


def sha256_file(path: str | os.PathLike[str], chunk: int = _CHUNK) -> str:
    """SHA-256 of one file's bytes, read in chunks (bounded memory).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = Path(d) / "a.txt"
        ...     _ = p.write_text("hello")
        ...     sha256_file(p)[:16]
        '2cf24dba5fb0a30e'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_FILE_DIGESTS: dict[tuple[Any, ...], str] = {}


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, or of a folder (each file's relative name and bytes, in sorted order).

    A folder is how a saved ``datasets`` data set is stored. Results are remembered per process
    by path, size and modification time (of every file, for a folder), so a grid of cells hashes
    its pool once.

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     (Path(d) / "one").mkdir()
        ...     _ = (Path(d) / "one" / "a.txt").write_text("hello")
        ...     a = file_digest(Path(d) / "one")
        ...     _ = (Path(d) / "one" / "a.txt").write_text("hello!")
        ...     a != file_digest(Path(d) / "one")
        True
    """
    p = Path(path)
    if p.is_dir():  # a folder's own mtime misses edits inside it: key it by every file's size and mtime
        files = sorted(x for x in p.rglob("*") if x.is_file())
        key: tuple[Any, ...] = (str(p.resolve()), *((f.relative_to(p).as_posix(), *_stamp(f)) for f in files))
        if key not in _FILE_DIGESTS:
            h = hashlib.sha256()
            for f in files:
                h.update(f.relative_to(p).as_posix().encode() + b"\x00" + sha256_file(f).encode() + b"\x01")
            _FILE_DIGESTS[key] = h.hexdigest()
        return _FILE_DIGESTS[key]
    key = (str(p.resolve()), *_stamp(p))
    if key not in _FILE_DIGESTS:
        _FILE_DIGESTS[key] = sha256_file(p)
    return _FILE_DIGESTS[key]


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def content_key(path: str | os.PathLike[str] | None) -> str | None:
    """What a data file contributes to a digest: ``sha256:<hex>`` of its content, not its path.

    ``None`` stays ``None`` (no file); a path that does not exist is kept as written, so a
    digest can still be computed for a dry run before the data is fetched.

    Example:
        >>> content_key(None) is None, content_key("no/such/file.jsonl")
        (True, 'no/such/file.jsonl')
    """
    if path is None:
        return None
    if not Path(path).exists():
        return str(path)
    return f"sha256:{file_digest(path)}"
