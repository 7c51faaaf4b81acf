"""Compressed stores on the device path: stored bytes travel, decoding happens there.

The device path (:mod:`targetsel.score.cuda`) runs with torch on the CPU here; on a GPU the same
checks run in tests/gpu/test_cuda.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from targetsel.score.cuda import blocks_cuda, stored_codec
from targetsel.score.passes import BLOCK, ScorePass
from targetsel.store import EncodedFeatures, FeatureStore, InMemoryFeatures, StoreSpec, compress_store


class HostDecoded:
    """A compressed source that only hands out decoded float32 rows (what the device got before)."""

    def __init__(self, base: EncodedFeatures) -> None:
        self.base = base
        self.num_rows, self.dim, self.manifest = base.num_rows, base.dim, base.manifest

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.base.read_rows(start, stop)

    def iter_chunks(self, chunk_rows: int) -> Any:
        return self.base.iter_chunks(chunk_rows)

    def to_array(self) -> np.ndarray:
        return self.base.to_array()


class Counting:
    """A source that counts the bytes it hands out, stored or decoded."""

    def __init__(self, base: Any) -> None:
        self.base, self.codec = base, base.codec
        self.num_rows, self.dim, self.manifest = base.num_rows, base.dim, base.manifest
        self.stored_bytes = self.decoded_bytes = 0

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        data, aux = self.base.read_encoded(start, stop)
        self.stored_bytes += data.nbytes + aux.nbytes
        return data, aux

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        rows = self.base.read_rows(start, stop)
        self.decoded_bytes += rows.nbytes
        return rows

    def iter_chunks(self, chunk_rows: int) -> Any:
        return self.base.iter_chunks(chunk_rows)

    def to_array(self) -> np.ndarray:
        return self.base.to_array()


def _scores(queries: np.ndarray, candidates: list[Any], weights: list[float] | None = None) -> np.ndarray:
    p = ScorePass.create(
        [InMemoryFeatures(queries)] * len(candidates), candidates, weights=weights, chunk_rows=BLOCK, device="cpu"
    )
    out = np.empty((p.n_queries, p.n_candidates), np.float32)
    for start, block, _ in blocks_cuda(p):
        out[:, start : start + block.shape[1]] = block
    return out


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    # three chunks (the last partial), a dimension that does not fill its last byte of bits
    return rng.standard_normal((5, 21)).astype(np.float32), rng.standard_normal((2 * BLOCK + 123, 21)).astype(
        np.float32
    )


@pytest.mark.parametrize("dtype", ["int8", "bit"])
def test_decoding_on_the_device_gives_the_hosts_scores(rows: tuple[np.ndarray, np.ndarray], dtype: str) -> None:
    q, x = rows
    enc = EncodedFeatures.from_float(x, dtype)
    assert stored_codec(enc) == dtype and stored_codec(HostDecoded(enc)) is None
    np.testing.assert_array_equal(_scores(q, [enc]), _scores(q, [HostDecoded(enc)]))
    # two views, one stored and one float: weighted and summed alike
    two = _scores(q, [enc, InMemoryFeatures(x)], [0.25, 0.75])
    np.testing.assert_array_equal(two, _scores(q, [HostDecoded(enc), InMemoryFeatures(x)], [0.25, 0.75]))


@pytest.mark.parametrize("dtype,ratio", [("int8", 4.0), ("bit", 32.0)])
def test_only_the_stored_bytes_travel(rows: tuple[np.ndarray, np.ndarray], dtype: str, ratio: float) -> None:
    q, x = rows
    q, x = np.tile(q, (1, 64))[:, :1024], np.tile(x, (1, 64))[:, :1024]  # wide rows: a 4-byte scale matters little
    enc = EncodedFeatures.from_float(x, dtype)
    src = Counting(enc)
    _scores(q, [src])
    data, aux = enc.read_encoded(0, enc.num_rows)
    assert src.decoded_bytes == 0 and src.stored_bytes == data.nbytes + aux.nbytes
    float_bytes = x.shape[0] * x.shape[1] * 4
    assert float_bytes / src.stored_bytes == pytest.approx(ratio, rel=0.04)


def test_a_compressed_feature_store_on_the_device_path(rows: tuple[np.ndarray, np.ndarray], tmp_path: Any) -> None:
    q, x = rows
    spec = StoreSpec(representation="toy", model="none", dim=x.shape[1], num_rows=x.shape[0], fingerprint="abc")
    store = FeatureStore.create(tmp_path / "f32", spec, shard_size=3000)  # shards across the chunks
    for i in range(store.num_shards):
        lo, hi = store.shard_range(i)
        store.write_shard(i, x[lo:hi])
    bit = compress_store(tmp_path / "f32", tmp_path / "bit", dtype="bit")
    assert stored_codec(bit) == "bit"
    host = EncodedFeatures.from_float(x, "bit")
    np.testing.assert_array_equal(_scores(q, [bit]), _scores(q, [HostDecoded(host)]))
