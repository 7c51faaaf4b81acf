"""``FeatureStore``: the store on disk (its layout: :mod:`targetsel.store`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.atomic import atomic_path, atomic_write_text, destination_of_temporary, remove_stale_temporaries
from targetsel.errors import (
    ArtifactMismatchError,
    ConfigurationError,
    IncompleteArtifactError,
    InvalidDataError,
    MissingArtifactError,
    TargetselError,
)
from targetsel.store import grow
from targetsel.store.codecs import Codec, get_codec
from targetsel.store.layout import LOCK_NAME, foreign_entries, is_store_file, shard_complete, shard_files, store_lock
from targetsel.store.manifest import (
    MANIFEST_NAME,
    MATCH_KEYS,
    STORE_FORMAT_VERSION,
    StoreSpec,
    manifest_text,
    read_manifest,
)

logger = logging.getLogger(__name__)

__all__ = ["FeatureStore"]


class FeatureStore:
    """A directory of fixed-row-range feature shards with a manifest.

    Use :meth:`create` to start (or resume) writing and :meth:`open` to read a finished store.

    Attributes:
        reused_shards: Shards :meth:`create` kept from a store written for another version of
            the pool (:mod:`targetsel.store.grow`); empty when it reused none.
        written_shards: Shards written through this object, in order.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        # as manifest.json holds it (sorted keys), so a fresh store and a reopened one describe
        # themselves with the same bytes (selection.json's representation block)
        self._manifest = json.loads(manifest_text(manifest))
        self.codec: Codec = get_codec(manifest["dtype"])
        self.reused_shards: tuple[int, ...] = ()
        self.written_shards: list[int] = []

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        spec: StoreSpec,
        *,
        shard_size: int = 4096,
        overwrite: bool = False,
        shard_fingerprints: Sequence[str] | None = None,
        reuse_from: Sequence[str | os.PathLike[str]] = (),
    ) -> FeatureStore:
        """Create a store for ``spec``, or reopen a matching one to resume it.

        With ``shard_fingerprints``, a store at ``path`` written for another version of the pool
        with the same settings keeps the shards whose rows are unchanged, and a new store takes
        them from the best of ``reuse_from`` (the rule: :mod:`targetsel.store.grow`).

        Args:
            path: Store directory.
            spec: What the store must hold.
            shard_size: Rows per shard (fixed for the lifetime of the store).
            overwrite: Replace an existing store that does not match ``spec`` (and cannot be
                regrown for it).
            shard_fingerprints: The fingerprint of each shard's rows
                (:meth:`targetsel.data.ExampleSet.shard_fingerprints` of ``shard_size``).
            reuse_from: Other stores whose reusable shards a new store links in.

        Raises:
            ArtifactMismatchError: a store exists at ``path`` for a different request, cannot be
                regrown for it, and ``overwrite`` is false.
        """
        if shard_size <= 0:
            raise ConfigurationError(f"shard size must be positive, got {shard_size}")
        from targetsel._version import __version__

        path = Path(path)
        manifest = {
            "format_version": STORE_FORMAT_VERSION,
            **spec.to_dict(),
            "shard_size": int(shard_size),
            "num_shards": max(1, -(-spec.num_rows // shard_size)) if spec.num_rows else 0,
            "library_version": __version__,
        }
        if shard_fingerprints is not None:
            if len(shard_fingerprints) != manifest["num_shards"]:
                raise ConfigurationError(
                    f"{len(shard_fingerprints)} shard fingerprints for {manifest['num_shards']} shards"
                )
            manifest["shard_fingerprints"] = [str(f) for f in shard_fingerprints]
        if path.exists() and not path.is_dir():
            raise ConfigurationError(f"feature store path {path} exists and is not a directory")
        existed = path.is_dir()
        path.mkdir(parents=True, exist_ok=True)
        try:
            with store_lock(path):  # N workers may start together on one store
                store = cls._create_locked(path, manifest, overwrite, reuse_from)
        except BaseException:
            if not existed and all(p.name == LOCK_NAME for p in path.iterdir()):  # leave no folder behind
                (path / LOCK_NAME).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return store

    @classmethod
    def _create_locked(
        cls, path: Path, manifest: dict[str, Any], overwrite: bool, reuse_from: Sequence[str | os.PathLike[str]] = ()
    ) -> FeatureStore:
        """:meth:`create`'s decision, made while holding the store's lock."""
        mpath = path / MANIFEST_NAME
        if mpath.exists():
            old = read_manifest(mpath)
            diffs = [k for k in MATCH_KEYS if old.get(k) != manifest.get(k)]
            if not diffs:
                cls._sweep(path)
                store = cls(path, grow.with_shard_fingerprints(path, old, manifest))
                if reuse_from and store.missing_shards():  # a run killed while it was linking them
                    store.reused_shards = tuple(grow.seed_store(path, store.manifest, reuse_from))
                return store
            cls._sweep(path)
            kept = grow.switch_pool(path, old, manifest, overwrite=overwrite)
            if kept is not None:
                store = cls(path, manifest)
                store.reused_shards = tuple(kept)
                return store
            if not overwrite:
                detail = "; ".join(f"{k}: store has {old.get(k)!r}, request has {manifest.get(k)!r}" for k in diffs)
                if not grow.setting_differences(old, manifest) and old.get("shard_fingerprints") is not None:
                    detail += "; none of its finished shards holds the same rows as the new pool"
                raise ArtifactMismatchError(
                    f"feature store {path} was written for other inputs ({detail}); "
                    "pass --overwrite (overwrite=True) to replace it, or choose another store directory"
                )
            logger.info("overwriting feature store %s (%s differ)", path, ", ".join(diffs))
            cls._clear(path)
        elif foreign_entries(path):
            if not overwrite:
                raise ArtifactMismatchError(
                    f"{path} is a non-empty directory without a {MANIFEST_NAME}; "
                    "choose an empty or new store directory, or pass --overwrite to replace its shards"
                )
            cls._clear(path)
        cls._sweep(path)
        atomic_write_text(mpath, manifest_text(manifest))
        store = cls(path, manifest)
        if reuse_from:
            store.reused_shards = tuple(grow.seed_store(path, manifest, reuse_from))
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, require_complete: bool = True) -> FeatureStore:
        """Open an existing store for reading.

        Raises:
            MissingArtifactError: no store at ``path``.
            IncompleteArtifactError: shards are missing and ``require_complete`` is true.
        """
        path = Path(path)
        mpath = path / MANIFEST_NAME
        if not mpath.is_file():
            raise MissingArtifactError(
                f"no feature store at {path} (missing {MANIFEST_NAME}); run `targetsel encode` first"
            )
        store = cls(path, read_manifest(mpath))
        if require_complete and not store.is_complete:
            missing = store.missing_shards()
            raise IncompleteArtifactError(
                f"feature store {path} is incomplete ({len(missing)} of {store.num_shards} shards missing); "
                "rerun the same encode command to resume it"
            )
        return store

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds a store manifest."""
        return (Path(path) / MANIFEST_NAME).is_file()

    @staticmethod
    def _clear(path: Path) -> None:
        """Delete this store's files (manifest, shards, per-row files, their temporaries); under the lock."""
        for p in path.iterdir():
            name = destination_of_temporary(p.name) or p.name
            if p.is_file() and is_store_file(name):
                p.unlink(missing_ok=True)

    @staticmethod
    def _sweep(path: Path) -> None:
        """Remove the temporaries that writers which died (``kill -9``, a lost node) left behind."""
        removed = remove_stale_temporaries(path, is_store_file)
        if removed:
            logger.info("%s: removed %d temporary file(s) left by an interrupted writer", path, len(removed))

    # ------------------------------------------------------------------ properties
    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._manifest)

    @property
    def num_rows(self) -> int:
        return int(self._manifest["num_rows"])

    @property
    def dim(self) -> int:
        return int(self._manifest["dim"])

    @property
    def dtype(self) -> np.dtype:
        """dtype of the rows reads return: the stored float dtype, float32 for ``int8``/``bit``."""
        return np.dtype(np.float32) if self.codec.compressed else np.dtype(self._manifest["dtype"])

    @property
    def feature_dtype(self) -> str:
        """The on-disk layout: ``float32``, ``float16``, ``int8`` or ``bit``."""
        return str(self._manifest["dtype"])

    @property
    def shard_size(self) -> int:
        return int(self._manifest["shard_size"])

    @property
    def num_shards(self) -> int:
        return int(self._manifest["num_shards"])

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        done = self.num_shards - len(self.missing_shards())
        return (
            f"FeatureStore({str(self.path)!r}, representation={self._manifest['representation']!r}, "
            f"rows={self.num_rows}, dim={self.dim}, shards={done}/{self.num_shards})"
        )

    # ------------------------------------------------------------------ shards
    def shard_path(self, index: int) -> Path:
        return shard_files(self.path, index, None)[0]

    def aux_path(self, index: int) -> Path | None:
        """The auxiliary per-row file of shard ``index`` (``scale-``/``norm-``), ``None`` for float stores."""
        return None if self.codec.aux is None else shard_files(self.path, index, self.codec.aux)[0]

    def _shard_done(self, index: int) -> bool:
        return shard_complete(self.path, index, self.codec.aux)

    def shard_range(self, index: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` covered by shard ``index``."""
        if not 0 <= index < self.num_shards:
            raise ConfigurationError(f"shard index {index} out of range [0, {self.num_shards})")
        start = index * self.shard_size
        return start, min(self.num_rows, start + self.shard_size)

    def missing_shards(self) -> list[int]:
        """Indices of shards not yet written."""
        return [i for i in range(self.num_shards) if not self._shard_done(i)]

    @property
    def is_complete(self) -> bool:
        return not self.missing_shards()

    def write_shard(self, index: int, features: np.ndarray) -> None:
        """Write shard ``index`` atomically (temporary file, fsync, rename).

        Args:
            index: Shard index.
            features: Float rows, shape ``(stop - start, dim)``; cast to the store dtype or
                compressed by its codec.

        Raises:
            InvalidDataError: wrong shape, or non-finite values.
        """
        start, stop = self.shard_range(index)
        features = np.asarray(features)
        if features.shape != (stop - start, self.dim):
            raise InvalidDataError(
                f"shard {index} of {self.path} needs shape {(stop - start, self.dim)}, got {features.shape}"
            )
        if not np.isfinite(features).all():
            bad = int(np.flatnonzero(~np.isfinite(features).all(axis=1))[0]) + start
            raise InvalidDataError(f"non-finite feature values for row {bad} while writing {self.path}")
        data, aux = self.codec.encode(np.asarray(features, dtype=np.float32) if self.codec.compressed else features)
        self.write_encoded_shard(index, data, aux)

    def write_encoded_shard(self, index: int, data: np.ndarray, aux: np.ndarray | None = None) -> None:
        """Write shard ``index`` from already encoded arrays (the auxiliary file first, then the main one).

        Raises:
            InvalidDataError: the arrays do not have the shapes and dtypes of this store's codec.
        """
        start, stop = self.shard_range(index)
        width, kind = self.codec.width(self.dim), self.codec.storage_dtype()
        if data.shape != (stop - start, width) or data.dtype != kind:
            raise InvalidDataError(
                f"shard {index} of {self.path} needs {(stop - start, width)} {kind}, got {data.shape} {data.dtype}"
            )
        aux_path = self.aux_path(index)
        if aux_path is not None:
            if aux is None or aux.shape != (stop - start,):
                raise InvalidDataError(f"shard {index} of {self.path} needs {stop - start} per-row values")
            with self._atomic(aux_path, index) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(aux, dtype=np.float32), allow_pickle=False)
        with self._atomic(self.shard_path(index), index) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(data), allow_pickle=False)
        self.written_shards.append(index)

    def _atomic(self, dest: Path, index: int) -> contextlib.AbstractContextManager[Path]:
        """An atomic write of one of shard ``index``'s files, renamed only while the store is still ours.

        The rename happens under the store's lock, after checking that the manifest on disk is the
        one this process opened: a run with ``--overwrite`` for other inputs that replaced the store
        meanwhile makes this write fail instead of mixing old rows into the new store.
        """

        def still_ours() -> None:
            mpath = self.path / MANIFEST_NAME
            try:
                now = read_manifest(mpath)
            except TargetselError:
                now = None
            if now is None or any(now.get(k) != self._manifest.get(k) for k in MATCH_KEYS):
                raise ArtifactMismatchError(
                    f"feature store {self.path} was replaced by another run while this one was writing "
                    f"shard {index}; the shard was not written (rerun with the inputs the store now has)"
                )

        return atomic_path(dest, guard=store_lock(self.path), check=still_ours)

    def read_shard(self, index: int) -> np.ndarray:
        """Memory-mapped, read-only view of shard ``index``'s main file as stored.

        ``(rows, dim)`` for float and int8 stores, ``(rows, ceil(dim / 8))`` packed bits for bit
        stores (:meth:`read_rows` decodes).
        """
        start, stop = self.shard_range(index)
        p = self.shard_path(index)
        if not p.is_file():
            raise IncompleteArtifactError(f"shard {p} is missing; rerun the encode command to resume the store")
        try:
            arr: np.ndarray = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise IncompleteArtifactError(f"shard {p} is unreadable ({exc}); delete it and rerun encode") from exc
        want = (stop - start, self.codec.width(self.dim))
        if arr.shape != want or arr.dtype != self.codec.storage_dtype():
            raise IncompleteArtifactError(
                f"shard {p} has shape {arr.shape} {arr.dtype}, expected {want} {self.codec.storage_dtype()}; "
                "delete it and rerun encode"
            )
        return arr

    def read_aux(self, index: int) -> np.ndarray:
        """The ``(rows,)`` float32 per-row values of shard ``index`` (int8 scales, bit norms)."""
        start, stop = self.shard_range(index)
        p = self.aux_path(index)
        if p is None:
            raise ConfigurationError(f"{self.feature_dtype} store {self.path} has no per-row values")
        try:
            arr: np.ndarray = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise IncompleteArtifactError(f"shard file {p} is missing or unreadable ({exc}); rerun encode") from exc
        if arr.shape != (stop - start,) or arr.dtype != np.float32:
            raise IncompleteArtifactError(f"shard file {p} has shape {arr.shape} {arr.dtype}; delete it, rerun encode")
        return arr

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The stored ``(data, per-row values or None)`` of rows ``[start, stop)``.

        Views of the memory-mapped shard when the rows lie in one shard, else copies.
        """
        start, stop = max(0, start), min(self.num_rows, stop)
        if stop <= start:
            empty = np.empty((0, self.codec.width(self.dim)), dtype=self.codec.storage_dtype())
            return empty, (np.empty(0, np.float32) if self.codec.aux else None)
        first, last = start // self.shard_size, (stop - 1) // self.shard_size
        datas, auxs = [], []
        for i in range(first, last + 1):
            base = i * self.shard_size
            lo, hi = max(start, base) - base, min(stop, base + self.shard_size) - base
            datas.append(self.read_shard(i)[lo:hi])
            if self.codec.aux:
                auxs.append(self.read_aux(i)[lo:hi])
        data = datas[0] if len(datas) == 1 else np.concatenate(datas)
        aux = None if not auxs else (auxs[0] if len(auxs) == 1 else np.concatenate(auxs))
        return data, aux

    def iter_chunks(self, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_row, features)`` blocks of at most ``chunk_rows`` rows, in row order.

        Blocks never span shards, so each is a slice of one memory-mapped shard.
        """
        if chunk_rows <= 0:
            raise ConfigurationError(f"chunk size must be positive, got {chunk_rows}")
        for i in range(self.num_shards):
            shard = self.read_shard(i)
            aux = self.read_aux(i) if self.codec.aux else None
            base = i * self.shard_size
            for s in range(0, shard.shape[0], chunk_rows):
                part = None if aux is None else aux[s : s + chunk_rows]
                yield base + s, self.codec.decode(shard[s : s + chunk_rows], part, self.dim)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)``: a memory-mapped view when inside one shard, else a copy.

        Compressed stores decode into a new float32 array.
        """
        data, aux = self.read_encoded(start, stop)
        return self.codec.decode(data, aux, self.dim)

    def to_array(self) -> np.ndarray:
        """All features in one in-memory array (only for small stores, e.g. query sets)."""
        out = np.empty((self.num_rows, self.dim), dtype=self.dtype)
        for start, block in self.iter_chunks(self.shard_size):
            out[start : start + block.shape[0]] = block
        return out
