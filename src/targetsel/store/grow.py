"""Pools that grow: a store keeps the shards whose rows did not change.

Every manifest records, besides the pool's fingerprint, the fingerprint of each shard's rows
(``shard_fingerprints``: the ids and canonical messages of the rows in the shard's row range, in
order; :meth:`targetsel.data.ExampleSet.shard_fingerprints`). When a store is asked for a pool it
was not written for, shard ``i`` of it is **reused** — kept as it is, its files untouched — when
all of these hold:

1. **Same settings**: every manifest key that says how features are made is equal —
   representation, model, dim, dtype, params (checkpoint, projection, max length...) and
   shard_size (:data:`~targetsel.store.manifest.MATCH_KEYS` less
   :data:`~targetsel.store.manifest.POOL_KEYS`). Only the pool's rows may differ.
2. **Both sides know shard fingerprints** (a store written before they were recorded gains them
   the next time the unchanged pool is encoded into it: :func:`with_shard_fingerprints`).
3. **Same row range**: same index, hence same first row, and the same number of rows (an old
   last shard that was partial and now has more rows is not reused).
4. **Same rows**: the shard fingerprints are equal.
5. **Complete on disk**: every file of the shard exists.

This suffices because a representation's features for a shard depend only on the shard's rows
and the settings (batches are formed inside a shard), so a reused shard holds the bytes a fresh
encode of the new pool writes there. Appending rows re-encodes the new shards and the last
partial one; editing or reordering rows re-encodes exactly the shards holding them; a pool that
shrinks re-encodes its new last shard when it became partial and drops the shards past it.

A store holding finished shards none of which can be reused is not a grown pool but another
one: it is refused without ``overwrite``, so a mistyped store directory never loses
its features silently.

In place (:func:`switch_pool`, under the store's lock): the files of the shards not reused are
deleted first, then the new manifest is written atomically. A run killed between the two leaves
the old manifest with some of its shards missing (a consistent partial store that the rerun
switches again); after it, the new manifest and exactly the reused shards. No manifest ever
stands beside a shard file written for other rows.

Into a new directory (:func:`seed_store`): the reusable shards of another store (``select``'s
store cache names directories by pool fingerprint, so a grown pool gets a new one) are hard
linked, or copied where the file system has no hard links. Shard files are only ever replaced
by a rename, never written in place, so two stores sharing an inode never see each other's
writes.

Example:
    >>> old = {"representation": "lexical", "model": "none", "dim": 8, "dtype": "float32", "params": {},
    ...        "shard_size": 2, "num_rows": 5, "fingerprint": "p", "shard_fingerprints": ["a", "b", "c"]}
    >>> grown = {**old, "num_rows": 7, "fingerprint": "q", "shard_fingerprints": ["a", "b", "d", "e"]}
    >>> reusable_shards(old, grown)  # shard 2 had 1 row and now has 2
    [0, 1]
    >>> reusable_shards(old, {**grown, "dim": 16})
    []
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_path, atomic_write_text
from targetsel.errors import TargetselError
from targetsel.store.codecs import get_codec
from targetsel.store.layout import remove_shard, shard_complete, shard_files, store_lock
from targetsel.store.manifest import MANIFEST_NAME, MATCH_KEYS, POOL_KEYS, manifest_text, read_manifest

logger = logging.getLogger(__name__)

__all__ = [
    "SOURCE_LOCK_TIMEOUT_S",
    "finished_shards",
    "reusable_shards",
    "seed_store",
    "setting_differences",
    "switch_pool",
    "with_shard_fingerprints",
]

#: How long seeding waits for the source store's lock; a busy source is skipped (its shards are
#: encoded instead), so two stores seeding from each other can never wait on one another.
SOURCE_LOCK_TIMEOUT_S = 10.0


def setting_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The manifest keys other than the pool's on which ``old`` and ``new`` differ (rule 1)."""
    return [k for k in MATCH_KEYS if k not in POOL_KEYS and old.get(k) != new.get(k)]


def _shard_rows(manifest: dict[str, Any], index: int) -> int:
    size = int(manifest["shard_size"])
    return min(int(manifest["num_rows"]), (index + 1) * size) - index * size


def reusable_shards(old: dict[str, Any], new: dict[str, Any]) -> list[int]:
    """Shards of the store described by ``old`` that hold what ``new`` needs there (rules 1–4).

    Whether their files exist (rule 5) is not checked here (:func:`finished_shards`).
    """
    old_fps, new_fps = old.get("shard_fingerprints"), new.get("shard_fingerprints")
    if old_fps is None or new_fps is None or setting_differences(old, new):
        return []
    return [
        i
        for i in range(min(len(old_fps), len(new_fps)))
        if old_fps[i] == new_fps[i] and _shard_rows(old, i) == _shard_rows(new, i)
    ]


def finished_shards(path: Path, manifest: dict[str, Any], indices: Sequence[int] | None = None) -> list[int]:
    """Those of ``indices`` (default: all of ``manifest``'s shards) whose files are all in ``path``."""
    aux = get_codec(manifest["dtype"]).aux
    todo = range(int(manifest["num_shards"])) if indices is None else indices
    return [i for i in todo if shard_complete(path, i, aux)]


def switch_pool(path: Path, old: dict[str, Any], new: dict[str, Any], *, overwrite: bool) -> list[int] | None:
    """Make the store at ``path`` (manifest ``old``) describe ``new``, keeping its reusable shards.

    The caller holds the store's lock. Returns the shards kept, or ``None`` (nothing changed) when
    the settings differ, a side lacks shard fingerprints, or the store has finished shards and
    none is reusable while ``overwrite`` is false.

    Example:
        >>> import tempfile
        >>> m = {"format_version": 1, "representation": "toy", "model": "none", "dim": 2, "dtype": "float32",
        ...      "params": {}, "shard_size": 2, "num_rows": 2, "num_shards": 1, "fingerprint": "p",
        ...      "shard_fingerprints": ["a"]}
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "shard-00000.npy").write_bytes(b"")
        >>> switch_pool(d, m, {**m, "num_rows": 3, "num_shards": 2, "fingerprint": "q",
        ...                    "shard_fingerprints": ["a", "b"]}, overwrite=False)
        [0]
    """
    if old.get("shard_fingerprints") is None or new.get("shard_fingerprints") is None:
        return None
    if setting_differences(old, new):
        return None
    keep = finished_shards(path, old, reusable_shards(old, new))
    if not keep and not overwrite and finished_shards(path, old):
        return None
    aux, kept = get_codec(old["dtype"]).aux, set(keep)
    for i in range(int(old["num_shards"])):
        if i not in kept:
            remove_shard(path, i, aux)
    atomic_write_text(path / MANIFEST_NAME, manifest_text(new))
    logger.info(
        "%s: the pool changed (%d → %d rows); %d shard(s) reused, %d of %d to encode",
        path,
        old["num_rows"],
        new["num_rows"],
        len(keep),
        int(new["num_shards"]) - len(keep),
        new["num_shards"],
    )
    return keep


def with_shard_fingerprints(path: Path, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old``, with ``new``'s shard fingerprints written into the manifest at ``path`` if it lacks them.

    For a store of the same pool as ``new`` (the caller checked, and holds the lock): a store
    written before shard fingerprints were recorded can grow from then on.
    """
    if old.get("shard_fingerprints") is not None or new.get("shard_fingerprints") is None:
        return old
    upgraded = {**old, "shard_fingerprints": new["shard_fingerprints"]}
    atomic_write_text(path / MANIFEST_NAME, manifest_text(upgraded))
    return upgraded


def _readable_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(path / MANIFEST_NAME) if (path / MANIFEST_NAME).is_file() else None
    except TargetselError:  # a broken neighbour is no source, and not this store's problem
        return None


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except FileExistsError:
        return
    except OSError:  # no hard links here (another file system, some network shares): a copy
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)


def seed_store(path: Path, new: dict[str, Any], sources: Sequence[str | os.PathLike[str]]) -> list[int]:
    """Give the store at ``path`` (manifest ``new`` already written, its lock held) the reusable
    shards it lacks from the best of ``sources``, the one with the most; returns their indices.

    Each shard's files are linked in the order they are written (per-row file first), so the
    store is consistent at every moment; a run killed midway has some of them, and encodes the
    rest. A source that is busy for :data:`SOURCE_LOCK_TIMEOUT_S` or unreadable is skipped.
    """
    here = path.resolve()
    ranked = []
    for src in map(Path, sources):
        old = None if src.resolve() == here else _readable_manifest(src)
        if old is not None and (n := len(reusable_shards(old, new))):
            ranked.append((-n, str(src), src))
    if not ranked:
        return []
    src = min(ranked)[2]
    try:
        with store_lock(src, timeout=SOURCE_LOCK_TIMEOUT_S):
            old = _readable_manifest(src)  # again, under its lock: it may have changed meanwhile
            aux = get_codec(new["dtype"]).aux
            todo = [i for i in ([] if old is None else reusable_shards(old, new)) if not shard_complete(path, i, aux)]
            keep = finished_shards(src, old, todo) if old is not None else []
            for i in keep:
                for a, b in zip(shard_files(src, i, aux), shard_files(path, i, aux), strict=True):
                    _link_or_copy(a, b)
    except TargetselError as exc:  # its lock stayed taken: encode instead of waiting
        logger.info("%s: not reusing shards of %s (%s)", path, src, exc)
        return []
    if keep:
        logger.info("%s: %d of %d shard(s) reused from %s", path, len(keep), new["num_shards"], src)
    return keep
