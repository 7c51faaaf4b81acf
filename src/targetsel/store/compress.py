"""Convert a finished float store to ``int8`` or ``bit`` without re-encoding.

:func:`compress_store` reads the source store shard by shard (in chunks of rows, so memory stays
bounded by a chunk and one encoded shard), quantises with the codec of the target dtype
(:mod:`targetsel.store.codecs`) and writes the target store with the ordinary atomic,
resumable shard writes: a killed conversion resumes with the shards it had not finished, and
the bytes equal those of an ``encode`` with ``feature_dtype`` set to the target dtype (from a
float32 source; a float16 source quantises its float16 values). The source's shards are checked
against its manifest before anything is written, and a conversion that fails with an error removes
what it created (:func:`targetsel.cleanup.undo_on_failure`): the corrected rerun starts clean, and
whatever was at the target before is left as it was.

Example:
    >>> import numpy as np, tempfile
    >>> from targetsel.store import FeatureStore, StoreSpec
    >>> spec = StoreSpec(representation="toy", model="none", dim=16, num_rows=5, fingerprint="abc")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     src = FeatureStore.create(f"{d}/f32", spec, shard_size=4)
    ...     for i in src.missing_shards():
    ...         lo, hi = src.shard_range(i)
    ...         src.write_shard(i, np.arange((hi - lo) * 16, dtype=np.float32).reshape(hi - lo, 16) - 7)
    ...     dst = compress_store(f"{d}/f32", f"{d}/bit", "bit")
    ...     dst.feature_dtype, dst.read_shard(0).shape
    ('bit', (4, 2))
"""

from __future__ import annotations

import logging
import os

import numpy as np

from targetsel.cleanup import undo_on_failure
from targetsel.errors import ConfigurationError
from targetsel.progress import progress
from targetsel.store.codecs import Codec, check_feature_dtype, get_codec, to_float32
from targetsel.store.core import FeatureStore
from targetsel.store.manifest import StoreSpec

logger = logging.getLogger(__name__)

__all__ = ["compress_store"]


def compress_store(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    dtype: str,
    *,
    chunk_rows: int = 16384,
    overwrite: bool = False,
) -> FeatureStore:
    """Write a ``dtype`` (``int8`` or ``bit``) copy of the finished float store ``source`` at ``target``.

    Args:
        source: A complete ``float32`` or ``float16`` store.
        target: The new store's directory (resumed when it holds a matching partial store).
        dtype: ``int8`` or ``bit``.
        chunk_rows: Source rows quantised at a time (bounds the float32 temporaries).
        overwrite: Replace a store at ``target`` written for other inputs.

    Returns:
        The complete target store.

    Raises:
        ConfigurationError: ``dtype`` is not a compressed dtype, the source is already compressed,
            or ``target`` is ``source``.
        MissingArtifactError, IncompleteArtifactError: no complete store at ``source``, or a
            shard of it disagrees with its manifest (nothing is written then).
        ArtifactMismatchError: ``target`` holds another store and ``overwrite`` is false.
    """
    codec = get_codec(check_feature_dtype(dtype))
    if not codec.compressed:
        raise ConfigurationError(f"compress writes int8 or bit stores, got --dtype {dtype}")
    if chunk_rows <= 0:
        raise ConfigurationError(f"chunk size must be positive, got {chunk_rows}")
    src = FeatureStore.open(source)
    if src.codec.compressed:
        raise ConfigurationError(f"{source} is already a {src.feature_dtype} store; compress a float32 or float16 one")
    if os.path.realpath(source) == os.path.realpath(target):
        raise ConfigurationError("the compressed store needs its own directory (target is the source)")
    m = src.manifest
    spec = StoreSpec(
        representation=m["representation"],
        model=m["model"],
        dim=m["dim"],
        num_rows=m["num_rows"],
        fingerprint=m["fingerprint"],
        dtype=dtype,
        params=m["params"],
        normalized=bool(m.get("normalized", False)),
    )
    for i in range(src.num_shards):  # shapes against the manifest (headers only), before anything is written
        src.read_shard(i)
    with undo_on_failure(target):  # a failed conversion leaves no store that would block the corrected rerun
        _convert(src, target, spec, codec, chunk_rows=chunk_rows, overwrite=overwrite)
    return FeatureStore.open(target)


def _convert(
    src: FeatureStore,
    target: str | os.PathLike[str],
    spec: StoreSpec,
    codec: Codec,
    *,
    chunk_rows: int,
    overwrite: bool,
) -> None:
    fps = src.manifest.get("shard_fingerprints")  # so the compressed store can follow a growing pool too
    dst = FeatureStore.create(target, spec, shard_size=src.shard_size, overwrite=overwrite, shard_fingerprints=fps)
    todo = dst.missing_shards()
    if len(todo) < dst.num_shards:
        logger.info("%s: %d of %d shards already done", target, dst.num_shards - len(todo), dst.num_shards)
    width = codec.width(src.dim)
    rows = sum(dst.shard_range(i)[1] - dst.shard_range(i)[0] for i in todo)
    with progress(total=rows, desc=f"compress → {spec.dtype}", unit="row") as bar:
        for i in todo:
            lo, hi = dst.shard_range(i)
            data = np.empty((hi - lo, width), dtype=codec.storage_dtype())
            aux = np.empty(hi - lo, dtype=np.float32)
            shard = src.read_shard(i)
            for s in range(0, hi - lo, chunk_rows):
                block = shard[s : s + chunk_rows]
                part, scale = codec.encode(block if block.dtype == np.float32 else to_float32(block))
                data[s : s + part.shape[0]], aux[s : s + part.shape[0]] = part, scale
                bar.update(part.shape[0])
            dst.write_encoded_shard(i, data, aux)
