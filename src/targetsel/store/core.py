"""``FeatureStore`` and ``StoreSpec``: the store on disk (its layout: :mod:`targetsel.store`)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.atomic import (
    atomic_path,
    atomic_write_text,
    destination_of_temporary,
    remove_stale_temporaries,
)
from targetsel.errors import (
    ArtifactMismatchError,
    ConfigurationError,
    IncompleteArtifactError,
    InvalidDataError,
    MissingArtifactError,
    TargetselError,
)
from targetsel.store.codecs import Codec, check_feature_dtype, get_codec
from targetsel.store.manifest import MANIFEST_NAME, MATCH_KEYS, STORE_FORMAT_VERSION, manifest_text, read_manifest

logger = logging.getLogger(__name__)

__all__ = ["LOCK_NAME", "LOCK_TIMEOUT_S", "FeatureStore", "StoreSpec"]

#: The store's lock file: held while a process creates, reopens or replaces the store, and around
#: each shard's rename, so workers started together never see one another's half-made state.
LOCK_NAME = ".lock"

#: How long a process waits for the store's lock before giving up (holders keep it for milliseconds).
LOCK_TIMEOUT_S = 120.0


def _is_store_file(name: str) -> bool:
    """Whether ``name`` is a file the store writes (its manifest, shards and per-row files)."""
    return name == MANIFEST_NAME or name.startswith(("shard-", "scale-", "norm-"))


def _foreign_entries(path: Path) -> list[str]:
    """Entries of ``path`` a new store must not mix with: anything but the lock and our temporaries."""
    out = []
    for p in path.iterdir():
        dest = destination_of_temporary(p.name)
        if p.name in (LOCK_NAME, f"{LOCK_NAME}.soft") or (dest is not None and _is_store_file(dest)):
            continue
        out.append(p.name)
    return out


@contextlib.contextmanager
def _store_lock(path: Path) -> Iterator[None]:
    """Hold the store's exclusive lock (``flock``; released by the kernel if the holder dies)."""
    from filelock import FileLock, SoftFileLock, Timeout

    lock: FileLock | SoftFileLock = FileLock(str(path / LOCK_NAME), timeout=LOCK_TIMEOUT_S)
    try:
        try:
            lock.acquire()
        except NotImplementedError:  # a file system without flock: a lock file made with O_EXCL
            lock = SoftFileLock(str(path / f"{LOCK_NAME}.soft"), timeout=LOCK_TIMEOUT_S)
            lock.acquire()
    except Timeout:
        raise IncompleteArtifactError(
            f"feature store {path} is locked by another process for over {LOCK_TIMEOUT_S:.0f} s; "
            "wait for it to finish (if none is running and the store's file system has no flock, "
            f"delete {path / LOCK_NAME}.soft)"
        ) from None
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class StoreSpec:
    """What a store holds: the request a store on disk must match to be reused.

    Attributes:
        representation: Representation name (``embed``, ``gradient``, ``hidden``, ``lexical``...).
        model: Model identifier (name or path) or ``"none"``.
        dim: Feature dimension.
        num_rows: Number of examples.
        fingerprint: Dataset fingerprint (see :func:`targetsel.data.ExampleSet.fingerprint`).
        dtype: On-disk layout: ``float32``, ``float16``, ``int8`` or ``bit`` (:mod:`targetsel.store.codecs`).
        params: Representation parameters that change the features (JSON-serialisable).
        normalized: Whether rows were L2-normalised before storing (scoring normalises anyway).
    """

    representation: str
    model: str
    dim: int
    num_rows: int
    fingerprint: str
    dtype: str = "float32"
    params: dict[str, Any] = field(default_factory=dict)
    normalized: bool = False

    def __post_init__(self) -> None:
        check_feature_dtype(self.dtype)
        if self.dim <= 0:
            raise ConfigurationError(f"feature dimension must be positive, got {self.dim}")
        if self.num_rows < 0:
            raise ConfigurationError(f"row count must be non-negative, got {self.num_rows}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (with params normalised through JSON)."""
        d = asdict(self)
        d["params"] = json.loads(json.dumps(self.params, sort_keys=True))
        return d


class FeatureStore:
    """A directory of fixed-row-range feature shards with a manifest.

    Use :meth:`create` to start (or resume) writing and :meth:`open` to read a finished store.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self._manifest = manifest
        self.codec: Codec = get_codec(manifest["dtype"])

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        spec: StoreSpec,
        *,
        shard_size: int = 4096,
        overwrite: bool = False,
    ) -> FeatureStore:
        """Create a store for ``spec``, or reopen a matching one to resume it.

        Args:
            path: Store directory.
            spec: What the store must hold.
            shard_size: Rows per shard (fixed for the lifetime of the store).
            overwrite: Replace an existing store that does not match ``spec``.

        Raises:
            ArtifactMismatchError: a store exists at ``path`` for a different request and
                ``overwrite`` is false.
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
        if path.exists() and not path.is_dir():
            raise ConfigurationError(f"feature store path {path} exists and is not a directory")
        existed = path.is_dir()
        path.mkdir(parents=True, exist_ok=True)
        try:
            with _store_lock(path):  # N workers may start together on one store
                store = cls._create_locked(path, manifest, overwrite)
        except BaseException:
            if not existed and all(p.name == LOCK_NAME for p in path.iterdir()):  # leave no folder behind
                (path / LOCK_NAME).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return store

    @classmethod
    def _create_locked(cls, path: Path, manifest: dict[str, Any], overwrite: bool) -> FeatureStore:
        """:meth:`create`'s decision, made while holding the store's lock."""
        mpath = path / MANIFEST_NAME
        if mpath.exists():
            old = read_manifest(mpath)
            diffs = [k for k in MATCH_KEYS if old.get(k) != manifest.get(k)]
            if not diffs:
                cls._sweep(path)
                return cls(path, old)
            if not overwrite:
                detail = "; ".join(f"{k}: store has {old.get(k)!r}, request has {manifest.get(k)!r}" for k in diffs)
                raise ArtifactMismatchError(
                    f"feature store {path} was written for other inputs ({detail}); "
                    "pass --overwrite (overwrite=True) to replace it, or choose another store directory"
                )
            logger.info("overwriting feature store %s (%s differ)", path, ", ".join(diffs))
            cls._clear(path)
        elif _foreign_entries(path):
            if not overwrite:
                raise ArtifactMismatchError(
                    f"{path} is a non-empty directory without a {MANIFEST_NAME}; "
                    "choose an empty or new store directory, or pass --overwrite to replace its shards"
                )
            cls._clear(path)
        cls._sweep(path)
        atomic_write_text(mpath, manifest_text(manifest))
        return cls(path, manifest)

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
            if p.is_file() and _is_store_file(name):
                p.unlink(missing_ok=True)

    @staticmethod
    def _sweep(path: Path) -> None:
        """Remove the temporaries that writers which died (``kill -9``, a lost node) left behind."""
        removed = remove_stale_temporaries(path, _is_store_file)
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
        return self.path / f"shard-{index:05d}.npy"

    def aux_path(self, index: int) -> Path | None:
        """The auxiliary per-row file of shard ``index`` (``scale-``/``norm-``), ``None`` for float stores."""
        return None if self.codec.aux is None else self.path / f"{self.codec.aux}-{index:05d}.npy"

    def _shard_done(self, index: int) -> bool:
        aux = self.aux_path(index)
        return self.shard_path(index).is_file() and (aux is None or aux.is_file())

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

        return atomic_path(dest, guard=_store_lock(self.path), check=still_ours)

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
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
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
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
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
