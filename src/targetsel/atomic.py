"""Atomic file writes: a temporary file in the destination folder, fsync, then a rename.

A reader (or a process killed mid-write) sees either the previous file or the complete new one,
never a partial file. Every artifact targetsel writes goes through here.

Example:
    >>> import tempfile, pathlib
    >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hi").read_text()
    'hi'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["FILE_MODE", "atomic_path", "atomic_write_bytes", "atomic_write_text"]

#: mkstemp creates owner-only files; artifacts are meant to be shared like ordinary files.
FILE_MODE = 0o644


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed onto ``path``.

    On any exception (or interruption) the temporary file is removed and ``path`` is untouched.

    Example:
        >>> import tempfile, pathlib
        >>> dest = pathlib.Path(tempfile.mkdtemp()) / "b.bin"
        >>> with atomic_path(dest) as tmp:
        ...     _ = tmp.write_bytes(b"x")
        >>> dest.read_bytes()
        b'x'
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the destination path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns the destination path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
