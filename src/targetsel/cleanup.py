"""Outputs created only on success: a failed command leaves nothing it created, and touches nothing that was there.

:func:`undo_on_failure` notes, before a command writes, which of its output paths exist and what
each existing folder holds. If the command then fails with an error, it removes exactly what
appeared since: a folder (and the parent folders) it created, new entries in a folder that
existed. Whatever existed before stays as it was.

An interruption (``KeyboardInterrupt``, ``SystemExit``, a kill) removes nothing: a resumable
command (``encode``, ``store compress``, ``train``) continues from what it left when run again.
For the same reason a command whose output already holds resumable progress (a finished shard, a
complete training checkpoint) passes ``keep_if``, and an error after that point keeps the output.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     with undo_on_failure(root / "out"):
    ...         _ = (root / "out").mkdir()
    ...         _ = (root / "out" / "manifest.json").write_text("{}")
    ...         raise ValueError("the model cannot be loaded")
    ... except ValueError:
    ...     pass
    >>> (root / "out").exists()
    False
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["undo_on_failure"]


@dataclass(frozen=True)
class _Before:
    """What one output path was before the command: ``created`` is the outermost folder that did
    not exist yet (removed whole on failure); ``entries`` the names in a folder that existed."""

    path: Path
    created: Path | None
    entries: frozenset[str] | None


def _note(path: str | os.PathLike[str]) -> _Before:
    p = Path(os.path.abspath(path))
    if p.exists() or p.is_symlink():
        return _Before(p, None, frozenset(os.listdir(p)) if p.is_dir() and not p.is_symlink() else None)
    top = p
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    return _Before(p, top, None)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:  # never hide the command's own error behind a clean-up error
        logger.warning("could not remove %s after the failure: %s", path, exc)
        return
    logger.info("removed %s (created by the failed command)", path)


def _undo(before: _Before) -> None:
    if before.created is not None:
        if before.created.exists() or before.created.is_symlink():
            _remove(before.created)
        return
    if before.entries is None or not before.path.is_dir():
        return  # an existing file: atomic writes replace it whole or not at all
    for name in sorted(set(os.listdir(before.path)) - before.entries):
        _remove(before.path / name)


@contextmanager
def undo_on_failure(*paths: str | os.PathLike[str], keep_if: Callable[[], bool] | None = None) -> Iterator[None]:
    """Remove what the enclosed block created under ``paths`` if it raises an ``Exception``.

    Args:
        paths: Output files or folders of the command (need not exist yet).
        keep_if: Asked after a failure; ``True`` keeps everything (the output holds progress a
            rerun resumes from). ``None``: always remove.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (out / "old.json").write_text("{}")
        >>> try:
        ...     with undo_on_failure(out):
        ...         _ = (out / "new.json").write_text("{}")
        ...         raise RuntimeError("failed after start-up")
        ... except RuntimeError:
        ...     pass
        >>> sorted(p.name for p in out.iterdir())
        ['old.json']
    """
    before = [_note(p) for p in paths]
    try:
        yield
    except Exception:
        try:
            keep = keep_if is not None and keep_if()
        except Exception:  # an unreadable output holds no progress worth keeping
            keep = False
        if not keep:
            for b in before:
                _undo(b)
        raise
