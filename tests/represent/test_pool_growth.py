"""A model representation on a grown pool: unchanged shards are reused, the store equals a fresh encode.

The lexical cases (every kind of change, kills, settings) are in tests/store/test_grow.py; this one
checks the same with a tiny random Llama, whose batches are formed inside each shard.
"""

from __future__ import annotations

from pathlib import Path

from targetsel.represent.hidden import HiddenRepresentation
from targetsel.store import FeatureStore


def test_hidden_features_of_a_grown_pool_reuse_the_unchanged_shards(tiny_llama_dir, tiny_pool, tmp_path: Path):
    rep = HiddenRepresentation(str(tiny_llama_dir), batch_size=4, max_length=64)
    old, grown = tiny_pool.select(range(30)), tiny_pool.select(range(34))  # shards of 8: 3 is partial
    rep.encode(old, store=tmp_path / "s", shard_size=8)
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in (tmp_path / "s").glob("shard-*.npy")}
    store = rep.encode(grown, store=tmp_path / "s", shard_size=8)
    assert isinstance(store, FeatureStore)
    assert store.reused_shards == (0, 1, 2) and store.written_shards == [3, 4]
    for i in range(3):
        p = store.shard_path(i)
        assert (p.stat().st_ino, p.read_bytes()) == before[p.name]
    fresh = rep.encode(grown, store=tmp_path / "fresh", shard_size=8)
    assert isinstance(fresh, FeatureStore)
    for i in range(fresh.num_shards):
        assert store.shard_path(i).read_bytes() == fresh.shard_path(i).read_bytes()
