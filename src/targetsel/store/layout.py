"""A store directory's file names and its lock (the layout itself: :mod:`targetsel.store`).

Shard ``i`` is ``shard-NNNNN.npy``, with ``scale-NNNNN.npy`` (int8) or ``norm-NNNNN.npy`` (bit)
beside it; ``manifest.json`` describes them; ``.lock`` serialises the processes that create,
reopen, regrow or replace the store and the renames of finished shards.

Example:
    >>> shard_files(Path("s"), 3, "scale")
    [PosixPath('s/scale-00003.npy'), PosixPath('s/shard-00003.npy')]
    >>> is_store_file("norm-00001.npy"), is_store_file("notes.txt")
    (True, False)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from targetsel.atomic import destination_of_temporary
from targetsel.errors import IncompleteArtifactError
from targetsel.store.manifest import MANIFEST_NAME

__all__ = [
    "LOCK_NAME",
    "LOCK_TIMEOUT_S",
    "foreign_entries",
    "is_store_file",
    "remove_shard",
    "shard_complete",
    "shard_files",
    "store_lock",
]

#: The store's lock file: held while a process creates, reopens, regrows or replaces the store, and
#: around each shard's rename, so workers started together never see one another's half-made state.
LOCK_NAME = ".lock"

#: How long a process waits for the store's lock before giving up (holders keep it for milliseconds).
LOCK_TIMEOUT_S = 120.0


def shard_files(path: Path, index: int, aux: str | None) -> list[Path]:
    """The files of shard ``index`` in the order they are written: the per-row file (``aux``:
    ``scale``/``norm``, ``None`` for float stores) first, the main ``shard-`` file last."""
    main = path / f"shard-{index:05d}.npy"
    return [main] if aux is None else [path / f"{aux}-{index:05d}.npy", main]


def shard_complete(path: Path, index: int, aux: str | None) -> bool:
    """Whether every file of shard ``index`` exists (each is renamed into place only when complete)."""
    return all(p.is_file() for p in shard_files(path, index, aux))


def remove_shard(path: Path, index: int, aux: str | None) -> None:
    """Delete shard ``index``'s files, the main one first: a main file never outlives its partner."""
    for p in reversed(shard_files(path, index, aux)):
        p.unlink(missing_ok=True)


def is_store_file(name: str) -> bool:
    """Whether ``name`` is a file the store writes (its manifest, shards and per-row files)."""
    return name == MANIFEST_NAME or name.startswith(("shard-", "scale-", "norm-"))


def foreign_entries(path: Path) -> list[str]:
    """Entries of ``path`` a new store must not mix with: anything but the lock and our temporaries."""
    out = []
    for p in path.iterdir():
        dest = destination_of_temporary(p.name)
        if p.name in (LOCK_NAME, f"{LOCK_NAME}.soft") or (dest is not None and is_store_file(dest)):
            continue
        out.append(p.name)
    return out


@contextlib.contextmanager
def store_lock(path: Path, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the store's exclusive lock (``flock``; released by the kernel if the holder dies).

    Raises:
        IncompleteArtifactError: another process held it for ``timeout`` seconds.
    """
    from filelock import FileLock, SoftFileLock, Timeout

    lock: FileLock | SoftFileLock = FileLock(str(path / LOCK_NAME), timeout=timeout)
    try:
        try:
            lock.acquire()
        except NotImplementedError:  # a file system without flock: a lock file made with O_EXCL
            lock = SoftFileLock(str(path / f"{LOCK_NAME}.soft"), timeout=timeout)
            lock.acquire()
    except Timeout:
        raise IncompleteArtifactError(
            f"feature store {path} is locked by another process for over {timeout:.0f} s; "
            "wait for it to finish (if none is running and the store's file system has no flock, "
            f"delete {path / LOCK_NAME}.soft)"
        ) from None
    try:
        yield
    finally:
        lock.release()
