"""The on-disk feature store: fixed-row-range ``.npy`` shards plus a ``manifest.json``.

A store holds the features of one dataset in one representation. Rows are split into shards of
``shard_size`` consecutive rows: shard ``i`` always covers rows ``[i * shard_size, (i + 1) *
shard_size)``, whatever the batch size, worker count or number of processes that wrote it. Each
shard is written to a temporary name and renamed when complete, so a shard file that exists is
complete; a killed run resumes by computing only the missing shards. Reads are memory-mapped.

Features are stored raw (e.g. unnormalised); the manifest says what was applied and the scoring
code normalises when it reads. The manifest's ``dtype`` names the layout of the rows
(:mod:`targetsel.store.codecs`): ``float32``, ``float16``, or the compressed ``int8`` and ``bit``,
whose shards come with an auxiliary per-row file (``scale-NNNNN.npy`` / ``norm-NNNNN.npy``),
written before the main shard file so a main file that exists always has its partner. Reads
decode to float rows; :meth:`FeatureStore.read_encoded` gives the stored bytes.

The manifest also records the fingerprint of each shard's rows, so a store follows a pool that
grows or changes: only the shards whose rows changed are encoded again (:mod:`targetsel.store.grow`
states the rule). The file names and the lock are in :mod:`targetsel.store.layout`.

Example:
    >>> import numpy as np, tempfile
    >>> from targetsel.store import FeatureStore, StoreSpec
    >>> spec = StoreSpec(representation="toy", model="none", dim=4, num_rows=10, fingerprint="abc")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = FeatureStore.create(f"{d}/s", spec, shard_size=4)
    ...     for i in store.missing_shards():
    ...         lo, hi = store.shard_range(i)
    ...         store.write_shard(i, np.ones((hi - lo, 4), dtype=np.float32))
    ...     store.is_complete, store.to_array().shape
    (True, (10, 4))
"""

from targetsel.store.codecs import FEATURE_DTYPES, Codec, check_feature_dtype, get_codec
from targetsel.store.compress import compress_store
from targetsel.store.core import FeatureStore
from targetsel.store.manifest import MANIFEST_NAME, STORE_FORMAT_VERSION, StoreSpec
from targetsel.store.memory import EncodedFeatures, FeatureSource, InMemoryFeatures
from targetsel.store.rows import RowSubset
from targetsel.store.viewset import ViewSet

__all__ = [
    "FEATURE_DTYPES",
    "MANIFEST_NAME",
    "STORE_FORMAT_VERSION",
    "Codec",
    "EncodedFeatures",
    "FeatureSource",
    "FeatureStore",
    "InMemoryFeatures",
    "RowSubset",
    "StoreSpec",
    "ViewSet",
    "check_feature_dtype",
    "compress_store",
    "get_codec",
]
