"""Atomic file writes: a temporary file in the destination folder, fsync, then a rename.

A reader (or a process killed mid-write) sees either the previous file or the complete new one,
never a partial file. Every artifact targetsel writes goes through here.

Temporary files are named ``.<destination>~<host>~<pid>~<random>.tmp``: a later run can tell a
temporary left by a writer that died (same host, process gone; or older than
:data:`STALE_AFTER_S` when written from another host) from one a live writer is still filling,
and :func:`remove_stale_temporaries` deletes only the former.

Example:
    >>> import tempfile, pathlib
    >>> atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hi").read_text()
    'hi'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

__all__ = [
    "FILE_MODE",
    "STALE_AFTER_S",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "destination_of_temporary",
    "is_stale_temporary",
    "remove_stale_temporaries",
]

#: mkstemp creates owner-only files; artifacts are meant to be shared like ordinary files.
FILE_MODE = 0o644

#: Age after which a temporary whose writer cannot be checked (another host, or an unparsable
#: name) counts as abandoned. A live writer creates its temporary only once the data is computed
#: and fills it in one go, so no live temporary is this old.
STALE_AFTER_S = 3600.0

_SEP = "~"


def _host() -> str:
    return socket.gethostname().replace(_SEP, "-") or "localhost"


def _temp_prefix(dest: Path) -> str:
    return f".{dest.name}{_SEP}{_host()}{_SEP}{os.getpid()}{_SEP}"


@contextmanager
def atomic_path(
    path: str | os.PathLike[str],
    suffix: str = ".tmp",
    *,
    guard: AbstractContextManager[object] | None = None,
    check: Callable[[], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed onto ``path``.

    On any exception (or interruption) the temporary file is removed and ``path`` is untouched.

    Args:
        path: Destination.
        suffix: Suffix of the temporary name.
        guard: A lock held around ``check`` and the rename (not around the write itself), so
            that a writer and a process replacing the whole folder never interleave.
        check: Called (under ``guard``) right before the rename; raising aborts the write.

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
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(dest), suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        gone: FileNotFoundError | None = None
        try:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, FILE_MODE)
        except FileNotFoundError as exc:  # removed under us: ``check`` says why, if it knows
            gone = exc
        with guard if guard is not None else contextlib.nullcontext():
            if check is not None:
                check()
            if gone is not None:
                raise gone
            os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` (a folder or nothing).

    On any exception the temporary folder is removed and ``path`` is untouched. Replacing an
    existing folder takes two renames (the old one aside, the new one in), so a reader sees the
    old folder, the new one, or for that instant none; never a partly written one.

    Example:
        >>> import tempfile, pathlib
        >>> dest = pathlib.Path(tempfile.mkdtemp()) / "d"
        >>> with atomic_dir(dest) as tmp:
        ...     _ = (tmp / "f").write_text("x")
        >>> (dest / "f").read_text()
        'x'
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp's folder is owner-only
        old = None
        if dest.exists():
            old = tmp.with_name(tmp.name + ".old")
            os.replace(dest, old)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the destination path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns the destination path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def is_stale_temporary(path: str | os.PathLike[str], *, now: float | None = None) -> bool:
    """Whether ``path``, a temporary of :func:`atomic_path`, was left by a writer that is gone.

    Same host: its process no longer exists. Another host, or a name without the writer (older
    versions): it is older than :data:`STALE_AFTER_S`.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> dead = d / f".x.npy~{_host()}~999999999~abc.tmp"
        >>> _ = dead.write_bytes(b"")
        >>> is_stale_temporary(dead), is_stale_temporary(d / f".x.npy~{_host()}~{os.getpid()}~abc.tmp")
        (True, False)
    """
    p = Path(path)
    parts = p.name[1:].rsplit(_SEP, 3) if p.name.startswith(".") else []
    if len(parts) == 4 and parts[2].isdigit() and parts[1] == _host():
        return not _pid_alive(int(parts[2]))
    try:
        age = (time.time() if now is None else now) - p.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_AFTER_S


def remove_stale_temporaries(folder: str | os.PathLike[str], targets: Callable[[str], bool]) -> list[Path]:
    """Delete the abandoned temporaries in ``folder`` whose destination name satisfies ``targets``.

    Args:
        folder: Folder to sweep (not recursive).
        targets: Predicate on the destination file name (e.g. ``shard-00003.npy``).

    Returns:
        The paths removed.
    """
    removed = []
    for p in Path(folder).iterdir():
        dest = destination_of_temporary(p.name)
        if dest is None or not targets(dest) or not p.is_file() or not is_stale_temporary(p):
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def destination_of_temporary(name: str) -> str | None:
    """The destination file name of a temporary's ``name``, or ``None`` if ``name`` is no temporary.

    Example:
        >>> destination_of_temporary(".shard-00001.npy~host~42~k2j.tmp"), destination_of_temporary("a.npy")
        ('shard-00001.npy', None)
    """
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    body = name[1:]
    if _SEP in body:
        return body.split(_SEP, 1)[0]
    # Older temporaries: ".<destination>.<random>.tmp"
    stem = body[: -len(".tmp")]
    return stem.rsplit(".", 1)[0] if "." in stem else None
