"""Scoring: streamed cosine equals a dense matmul; streaming top-k is exact; weighted sums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score import Scores, score, topk_rows
from targetsel.store import FeatureStore, StoreSpec


def dense_cosine(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    return q @ c.T


def make_store(path: Path, feats: np.ndarray, shard_size: int) -> FeatureStore:
    spec = StoreSpec(representation="toy", model="none", dim=feats.shape[1], num_rows=len(feats), fingerprint="x")
    store = FeatureStore.create(path, spec, shard_size=shard_size)
    for i in store.missing_shards():
        lo, hi = store.shard_range(i)
        store.write_shard(i, feats[lo:hi])
    return store


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 10_000])
def test_streamed_scores_equal_dense_matmul(tmp_path: Path, chunk_rows: int) -> None:
    rng = np.random.default_rng(0)
    q, c = rng.normal(size=(6, 16)).astype(np.float32), rng.normal(size=(150, 16)).astype(np.float32)
    store = make_store(tmp_path / "s", c, shard_size=40)
    s = score(q, store, chunk_rows=chunk_rows)
    np.testing.assert_allclose(s.matrix, dense_cosine(q, c), atol=1e-5)
    assert s.shape == (6, 150) and s.provenance["candidates"][0]["representation"] == "toy"


def test_weighted_sum_of_several_views() -> None:
    rng = np.random.default_rng(1)
    q1, q2 = rng.normal(size=(3, 8)), rng.normal(size=(3, 5))
    c1, c2 = rng.normal(size=(20, 8)), rng.normal(size=(20, 5))
    s = score([q1, q2], [c1, c2], weights=[0.25, 0.75])
    np.testing.assert_allclose(s.matrix, 0.25 * dense_cosine(q1, c1) + 0.75 * dense_cosine(q2, c2), atol=1e-5)
    assert s.provenance["weights"] == [0.25, 0.75]


def reference_topk(row: np.ndarray, k: int) -> list[int]:
    return sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]


@pytest.mark.parametrize("cols,k", [(5000, 3), (5000, 40), (300, 100), (50, 50), (1000, 600), (129, 2)])
def test_topk_rows_exact_with_ties(cols: int, k: int) -> None:
    rng = np.random.default_rng(cols + k)
    block = rng.integers(0, 7, size=(4, cols)).astype(np.float32) / 7  # many ties
    idx, val = topk_rows(block, k, offset=10)
    for r in range(4):
        expected = reference_topk(block[r], k)
        assert (idx[r] - 10).tolist() == expected
        np.testing.assert_array_equal(val[r], block[r, expected])


@pytest.mark.parametrize("k", [1, 9, 200])
def test_streaming_topk_and_candidate_stats_equal_dense(k: int) -> None:
    rng = np.random.default_rng(2)
    q = rng.integers(-2, 3, size=(5, 4)).astype(np.float32)  # integer features: exact ties
    c = rng.integers(-2, 3, size=(200, 4)).astype(np.float32)
    c[np.abs(c).sum(1) == 0] = 1
    dense = score(q, c)
    stream = score(q, c, top_k=k, chunk_rows=17)
    ref_idx, ref_val, _ = dense.row_topk(np.arange(5), k)
    np.testing.assert_array_equal(stream.topk_indices, ref_idx)
    np.testing.assert_allclose(stream.topk_values, ref_val, atol=1e-6)
    mx, arg = dense.candidate_max()
    np.testing.assert_allclose(stream.cand_max, mx, atol=1e-6)
    np.testing.assert_allclose(stream.cand_mean, dense.candidate_mean(), atol=1e-6)
    np.testing.assert_array_equal(stream.cand_argmax[np.isclose(mx, stream.cand_max)], arg)
    with pytest.raises(ConfigurationError, match="top_k"):
        stream.dense()


def test_score_rejects_bad_input() -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(InvalidDataError, match="dimension"):
        score(rng.normal(size=(2, 4)), rng.normal(size=(5, 3)))
    with pytest.raises(InvalidDataError, match="empty"):
        score(np.zeros((0, 4)), rng.normal(size=(5, 4)))
    bad = rng.normal(size=(5, 4))
    bad[3, 1] = np.nan
    with pytest.raises(InvalidDataError, match="row 3"):
        score(rng.normal(size=(2, 4)), bad)
    with pytest.raises(InvalidDataError, match="NaN"):
        Scores.from_matrix(np.array([[0.1, np.nan]]))
    with pytest.raises(ConfigurationError):
        score(rng.normal(size=(2, 4)), rng.normal(size=(5, 4)), weights=[1.0, 2.0])


@pytest.mark.parametrize("k", [1, 3, 70, 500, 5000])
def test_streaming_topk_over_many_chunks_equals_dense(k: int) -> None:
    rng = np.random.default_rng(k)
    q = rng.integers(-2, 3, size=(7, 6)).astype(np.float32)
    c = rng.integers(-2, 3, size=(20_000, 6)).astype(np.float32)  # few distinct scores: many ties
    c[np.abs(c).sum(1) == 0] = 1
    dense = score(q, c)
    stream = score(q, c, top_k=k, chunk_rows=4096)
    ref_idx, ref_val, _ = dense.row_topk(np.arange(7), k)
    np.testing.assert_array_equal(stream.topk_indices, ref_idx)
    np.testing.assert_array_equal(stream.topk_values, ref_val)


@pytest.mark.parametrize("chunk_rows", [1, 5000, 10_000])
def test_score_chunks_are_the_score_matrix_bit_for_bit(chunk_rows: int) -> None:
    from targetsel.score import score_chunks

    rng = np.random.default_rng(4)
    q1, q2 = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    c1, c2 = rng.normal(size=(9000, 8)).astype(np.float16), rng.normal(size=(9000, 3)).astype(np.float32)
    full = score([q1, q2], [c1, c2], weights=[0.3, 0.7]).matrix
    got = np.zeros_like(full)
    for start, block in score_chunks([q1, q2], [c1, c2], weights=[0.3, 0.7], chunk_rows=chunk_rows):
        got[:, start : start + block.shape[1]] = block
    np.testing.assert_array_equal(got, full)


def test_device_path_logic_on_cpu_tensors() -> None:
    """The CUDA scoring path (conversion, normalisation, tiles, exclusion, mean, double-buffered
    reads) run with torch on the CPU: the same scores as the numpy path, to float32 rounding."""
    from targetsel.score.cuda import blocks_cuda
    from targetsel.score.passes import ScorePass
    from targetsel.score.stream import run_pass
    from targetsel.store import InMemoryFeatures

    rng = np.random.default_rng(5)
    q1, q2 = rng.normal(size=(7, 12)), rng.normal(size=(7, 5))
    c1, c2 = rng.normal(size=(10_000, 12)).astype(np.float16), rng.normal(size=(10_000, 5)).astype(np.float32)
    exclude = np.zeros(10_000, dtype=bool)
    exclude[[3, 4097, 9999]] = True
    exclude[4096 * 2 : 4096 * 2 + 100] = True
    p = ScorePass.create(
        [InMemoryFeatures(q1), InMemoryFeatures(q2)],
        [InMemoryFeatures(c1), InMemoryFeatures(c2)],
        weights=[0.3, 0.7],
        chunk_rows=4096,
        device="cpu",
        exclude=exclude,
        with_mean=True,
    )
    ref = [(s, b.copy(), m.copy()) for s, b, m in run_pass(p)]  # device "cpu": the numpy path
    got = [(s, b.copy(), m.copy()) for s, b, m in blocks_cuda(p)]
    assert [s for s, _, _ in got] == [s for s, _, _ in ref] == [0, 4096, 8192]
    for (_, b_ref, m_ref), (_, b_got, m_got) in zip(ref, got, strict=True):
        assert np.array_equal(np.isinf(b_ref), np.isinf(b_got))
        fin = np.isfinite(b_ref)
        np.testing.assert_allclose(b_got[fin], b_ref[fin], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m_got, m_ref, rtol=1e-5, atol=1e-6)


def test_a_score_pass_is_validated_however_it_is_built() -> None:
    from dataclasses import replace

    from targetsel.score.passes import BLOCK, ScorePass
    from targetsel.store import InMemoryFeatures

    q, c = InMemoryFeatures(np.eye(3, 4, dtype=np.float32)), InMemoryFeatures(np.eye(10, 4, dtype=np.float32))
    p = ScorePass.create([q], [c], chunk_rows=5000)
    assert p.chunk_rows == 2 * BLOCK and list(p.chunk_starts()) == [0]
    with pytest.raises(ConfigurationError, match="multiple of 4096"):
        replace(p, chunk_rows=100)  # chunks off the block grid would change the scores' bits
    with pytest.raises(ConfigurationError, match=r"exclude must have shape \(10,\)"):
        replace(p, exclude=np.zeros(9, dtype=bool))
    with pytest.raises(ConfigurationError, match="chunk size must be positive"):
        ScorePass.create([q], [c], chunk_rows=0)
    with pytest.raises(ConfigurationError, match="one candidate source per query source"):
        ScorePass.create([q, q], [c])
    with pytest.raises(InvalidDataError, match="the query set is empty"):
        ScorePass.create([InMemoryFeatures(np.zeros((0, 4), np.float32))], [c])


def test_the_cpu_pass_runs_its_blocks_on_as_many_threads_as_blas_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block pool is sized from BLAS's thread count as the caller set it, read before the pass
    pins BLAS itself to one thread per block (read after, it was always 1: a serial pass)."""
    import importlib

    from threadpoolctl import threadpool_limits

    stream = importlib.import_module("targetsel.score.stream")
    sizes: list[int] = []
    real = stream._BlockProducts.__init__

    def spy(self: object, threads: int) -> None:
        sizes.append(threads)
        real(self, threads)  # type: ignore[arg-type]

    monkeypatch.setattr(stream._BlockProducts, "__init__", spy)
    rng = np.random.default_rng(0)
    q, x = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=(9000, 8)).astype(np.float32)
    with threadpool_limits(2, user_api="blas"):
        two = score(q, x, top_k=4)
    with threadpool_limits(1, user_api="blas"):
        one = score(q, x, top_k=4)
    assert sizes == [2, 1]
    assert np.array_equal(two.topk_indices, one.topk_indices)
    assert np.array_equal(two.topk_values, one.topk_values)
