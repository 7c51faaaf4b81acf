"""int8 and bit feature stores: formats, determinism, scoring without decoding, compress resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.represent import LexicalRepresentation
from targetsel.score import FeatureViews, score
from targetsel.select import SELECTORS, get_selector
from targetsel.store import EncodedFeatures, FeatureStore, StoreSpec, compress_store, get_codec
from targetsel.store.viewset import ViewSet


def _rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, d))
    x = centers[rng.integers(0, 4, n)] + 0.5 * rng.normal(size=(n, d))
    return x.astype(np.float32)


def _float_store(path: Path, x: np.ndarray, shard_size: int = 7, dtype: str = "float32") -> FeatureStore:
    spec = StoreSpec(representation="toy", model="none", dim=x.shape[1], num_rows=len(x), fingerprint="f", dtype=dtype)
    store = FeatureStore.create(path, spec, shard_size=shard_size)
    for i in store.missing_shards():
        lo, hi = store.shard_range(i)
        store.write_shard(i, x[lo:hi])
    return store


def _stored_bytes(store: FeatureStore) -> tuple[bytes, bytes]:
    data, aux = store.read_encoded(0, store.num_rows)
    return np.ascontiguousarray(data).tobytes(), np.ascontiguousarray(aux).tobytes()


# ------------------------------------------------------------------------------------------ formats
def test_int8_format_is_symmetric_absmax_with_a_scale_shard(tmp_path: Path) -> None:
    x = np.array([[0.5, -1.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 1.0, -0.5, 3.0]], dtype=np.float32)
    store = _float_store(tmp_path / "s", x, shard_size=2, dtype="int8")
    assert sorted(p.name for p in store.path.iterdir()) == [
        ".lock",
        "manifest.json",
        "scale-00000.npy",
        "scale-00001.npy",
        "shard-00000.npy",
        "shard-00001.npy",
    ]
    assert json.loads((store.path / "manifest.json").read_text())["dtype"] == "int8"
    q0 = np.load(store.path / "shard-00000.npy")
    assert q0.dtype == np.int8 and q0.tolist() == [[64, -127, 32, 0], [0, 0, 0, 0]]
    s0 = np.load(store.path / "scale-00000.npy")
    assert s0.dtype == np.float32 and s0.tolist() == [np.float32(1.0) / np.float32(127), 0.0]
    assert np.load(store.path / "shard-00001.npy").tolist() == [[85, 42, -21, 127]]
    decoded = store.to_array()
    assert decoded.dtype == np.float32 and store.dtype == np.float32 and store.feature_dtype == "int8"
    assert (np.abs(decoded - x) <= np.abs(x).max(axis=1, keepdims=True) / 254 + 1e-7).all()  # half a step
    assert (decoded[1] == 0).all()


def test_bit_format_is_packbits_big_endian_with_the_row_norm(tmp_path: Path) -> None:
    # 13 features: two bytes, the last padded with zeros; feature j is bit 7 - j % 8 of byte j // 8
    x = np.full((2, 13), -1.0, dtype=np.float32)
    x[0, [0, 2, 8, 12]] = [3.0, 0.0, 1.0, 2.0]  # x >= 0 sets the bit (0 counts as +)
    store = _float_store(tmp_path / "s", x, shard_size=4, dtype="bit")
    packed = np.load(store.path / "shard-00000.npy")
    assert packed.dtype == np.uint8 and packed.shape == (2, 2)
    assert packed[0].tolist() == [0b10100000, 0b10001000] and packed[1].tolist() == [0, 0]
    np.testing.assert_array_equal(np.unpackbits(packed, axis=1)[:, :13], (x >= 0).astype(np.uint8))
    norms = np.load(store.path / "norm-00000.npy")
    np.testing.assert_allclose(norms, np.linalg.norm(x, axis=1), rtol=1e-6)
    decoded = store.to_array()
    want = np.where(x >= 0, 1.0, -1.0) * (np.linalg.norm(x, axis=1) / math.sqrt(13))[:, None]
    np.testing.assert_allclose(decoded, want, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(decoded, axis=1), norms, rtol=1e-6)
    assert store.read_shard(0).shape == (2, 2) and store.read_rows(1, 2).shape == (1, 13)


def test_codec_sizes() -> None:
    assert get_codec("int8").nbytes(10, 8192) == 10 * 8192 + 40
    assert get_codec("bit").nbytes(10, 8192) == 10 * 1024 + 40
    assert get_codec("bit").width(13) == 2
    with pytest.raises(ConfigurationError, match="int8, bit"):
        get_codec("int4")


# ------------------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("dtype", ["int8", "bit"])
def test_bytes_do_not_depend_on_shards_processes_or_memory(tmp_path: Path, dtype: str) -> None:
    es = ExampleSet.from_records(
        [{"prompt": f"add {i} and {i * 3} then {i % 7}", "completion": str(i)} for i in range(23)]
    )
    rep = LexicalRepresentation(dim=70, feature_dtype=dtype)
    ref = rep.encode(es, store=tmp_path / "one", shard_size=23)
    other = rep.encode(es, store=tmp_path / "small", shard_size=5)
    assert _stored_bytes(ref) == _stored_bytes(other)
    mem = rep.encode(es)
    assert isinstance(mem, EncodedFeatures)
    data, aux = mem.read_encoded(0, 23)
    assert (data.tobytes(), aux.tobytes()) == _stored_bytes(ref)
    # two processes filling one store (what torchrun ranks do with --shard i/n)
    src = tmp_path / "pool.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in es.dataset.to_list()))
    cmd = [sys.executable, "-m", "targetsel", "encode", str(src), "-r", "lexical", "--quiet"]
    cmd += ["-p", "dim=70", "-p", f"feature_dtype={dtype}", "--shard-size", "5", "--store", str(tmp_path / "two")]
    procs = [subprocess.Popen([*cmd, "--shard", f"{i}/2"]) for i in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    two = FeatureStore.open(tmp_path / "two")
    one_cli = subprocess.run([*cmd[:-1], str(tmp_path / "one_cli")], check=True)
    assert one_cli.returncode == 0
    assert _stored_bytes(two) == _stored_bytes(FeatureStore.open(tmp_path / "one_cli"))


def test_compress_equals_encoding_compressed(tmp_path: Path) -> None:
    es = ExampleSet.from_records([{"prompt": f"sort {i} {i + 2} {i * 5}", "completion": "ok"} for i in range(17)])
    f32 = LexicalRepresentation(dim=40).encode(es, store=tmp_path / "f32", shard_size=6)
    for dtype in ("int8", "bit"):
        direct = LexicalRepresentation(dim=40, feature_dtype=dtype).encode(es, store=tmp_path / dtype, shard_size=6)
        converted = compress_store(f32.path, tmp_path / f"{dtype}-c", dtype, chunk_rows=4)
        assert _stored_bytes(converted) == _stored_bytes(direct)
        m_direct, m_conv = direct.manifest, converted.manifest
        assert {k: m_direct[k] for k in ("dtype", "params", "fingerprint", "dim")} == {
            k: m_conv[k] for k in ("dtype", "params", "fingerprint", "dim")
        }


def test_compress_resumes_after_a_kill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = _rows(50, 24)
    src = _float_store(tmp_path / "f32", x, shard_size=8)
    ref = compress_store(src.path, tmp_path / "ref", "bit")
    written: list[int] = []
    original = FeatureStore.write_encoded_shard

    def dies_after_three(self, index, data, aux=None):
        if len(written) == 3:
            raise KeyboardInterrupt  # what a kill between two shards leaves behind
        original(self, index, data, aux)
        written.append(index)

    monkeypatch.setattr(FeatureStore, "write_encoded_shard", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        compress_store(src.path, tmp_path / "killed", "bit")
    monkeypatch.setattr(FeatureStore, "write_encoded_shard", original)
    partial = FeatureStore.open(tmp_path / "killed", require_complete=False)
    assert len(partial.missing_shards()) == partial.num_shards - 3
    (partial.path / "norm-00004.npy").write_bytes(np.load(ref.path / "norm-00004.npy").tobytes())  # stray aux file
    resumed = compress_store(src.path, tmp_path / "killed", "bit")
    assert resumed.is_complete and _stored_bytes(resumed) == _stored_bytes(ref)


def test_compress_refuses_bad_requests(tmp_path: Path) -> None:
    src = _float_store(tmp_path / "f32", _rows(10, 8))
    with pytest.raises(ConfigurationError, match="int8 or bit"):
        compress_store(src.path, tmp_path / "x", "float16")
    bit = compress_store(src.path, tmp_path / "bit", "bit")
    with pytest.raises(ConfigurationError, match="already a bit store"):
        compress_store(bit.path, tmp_path / "y", "int8")
    with pytest.raises(ConfigurationError, match="own directory"):
        compress_store(src.path, src.path, "int8")


def test_cli_store_compress_and_bad_input(tmp_path: Path) -> None:
    src = _float_store(tmp_path / "f32", _rows(30, 16), shard_size=8)
    run = [sys.executable, "-m", "targetsel", "store", "compress", "--quiet"]
    ok = subprocess.run([*run, str(src.path), str(tmp_path / "i8"), "--dtype", "int8"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert FeatureStore.open(tmp_path / "i8").feature_dtype == "int8"
    for args, needle in [
        ([str(src.path), str(tmp_path / "z"), "--dtype", "int4"], "int4"),
        ([str(tmp_path / "nothing"), str(tmp_path / "z2"), "--dtype", "bit"], "no feature store"),
    ]:
        bad = subprocess.run([*run, *args], capture_output=True, text=True)
        assert bad.returncode == 2, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and needle in bad.stderr
    assert not (tmp_path / "z").exists() and not (tmp_path / "z2").exists()


# ------------------------------------------------------------------------------------------ scoring
@pytest.mark.parametrize("dtype", ["int8", "bit"])
def test_scores_are_the_cosine_of_the_decoded_rows(tmp_path: Path, dtype: str) -> None:
    q, x = _rows(5, 40, 1), _rows(300, 40, 2)
    store = _float_store(tmp_path / "s", x, shard_size=64, dtype=dtype)
    decoded = store.to_array().astype(np.float64)
    want = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (decoded / np.linalg.norm(decoded, axis=1, keepdims=True)).T
    got = score(q, store).matrix
    np.testing.assert_allclose(got, want, atol=2e-6)
    if dtype == "bit":  # the asymmetric estimator q · sign(x) / (‖q‖ √d)
        signs = np.where(x >= 0, 1.0, -1.0)
        np.testing.assert_allclose(got, (q @ signs.T) / np.linalg.norm(q, axis=1)[:, None] / math.sqrt(40), atol=2e-6)
    # the same bits whatever the chunking, in memory or on disk
    mem = EncodedFeatures.from_float(x, dtype)
    np.testing.assert_array_equal(score(q, mem, chunk_rows=4096).matrix, got)
    np.testing.assert_array_equal(score(q, store, chunk_rows=1).matrix, got)


def _streaming_params(name: str) -> dict:
    return {
        "knn_uniform": {"max_neighbors": 40},
        "knn_kde": {"max_neighbors": 40, "kde_neighbors": 15},
        "quantiles": {"q": 3, "n": 10, "window": 20},
    }.get(name, {})


@pytest.mark.parametrize("dtype", ["int8", "bit"])
@pytest.mark.parametrize("name", sorted(n for n, cls in SELECTORS.items() if cls.supports_streaming))
def test_streamed_equals_dense_on_compressed_stores(tmp_path: Path, dtype: str, name: str) -> None:
    q, x = _rows(7, 48, 3), _rows(400, 48, 4)
    qs = _float_store(tmp_path / "q", q, shard_size=50)  # query sets stay float (see Representation.stored_spec)
    xs = _float_store(tmp_path / "x", x, shard_size=64, dtype=dtype)
    sel = get_selector(name, **_streaming_params(name))
    views = FeatureViews(ViewSet.of(qs), ViewSet.of(xs))
    full = sel.rank(score(qs, xs), 60, views)
    stream_scores = score(qs, xs, top_k=sel.required_top_k(60), chunk_rows=50)
    assert stream_scores.top_k is not None and stream_scores.top_k < 400
    streamed = sel.rank(stream_scores, 60, views)
    np.testing.assert_array_equal(streamed.indices, full.indices)
    np.testing.assert_allclose(streamed.scores, full.scores, rtol=1e-4, atol=1e-12)


def test_checkpoint_weighted_sum_over_compressed_stores(tmp_path: Path) -> None:
    q1, q2, x1, x2 = _rows(4, 32, 5), _rows(4, 32, 6), _rows(90, 32, 7), _rows(90, 32, 8)
    stores = [_float_store(tmp_path / f"x{i}", x, dtype="int8") for i, x in enumerate((x1, x2))]
    got = score([q1, q2], stores, weights=[0.25, 0.75]).matrix
    want = 0.25 * score(q1, stores[0]).matrix + 0.75 * score(q2, stores[1]).matrix
    np.testing.assert_allclose(got, want, atol=1e-6)


# ------------------------------------------------------------------------------------------ integer passes
def test_bit_queries_score_sign_agreement_exactly(tmp_path: Path) -> None:
    from targetsel.score.integer import popcount_dots

    q, x = _rows(6, 45, 9), _rows(130, 45, 10)
    x[3] = 0.0  # an all-zero candidate scores 0, as in the float path
    store = _float_store(tmp_path / "s", x, shard_size=32, dtype="bit")
    got = score(q, store, query_dtype="bit")
    sq, sx = np.where(q >= 0, 1, -1), np.where(x >= 0, 1, -1)
    want = (sq @ sx.T).astype(np.float32) / np.float32(45)  # the integers, divided once in float32
    want[:, 3] = 0.0
    np.testing.assert_array_equal(got.matrix, want)
    assert got.provenance["query_dtype"] == "bit" and "query_dtype" not in score(q, store).provenance
    # both kernels give the same integers
    qp, xp = np.packbits(q >= 0, axis=1), np.packbits(x >= 0, axis=1)
    np.testing.assert_array_equal(popcount_dots(qp, xp, 45), sq @ sx.T)
    # chunking and streaming change nothing
    np.testing.assert_array_equal(score(q, store, query_dtype="bit", chunk_rows=1).matrix, got.matrix)
    top = score(q, store, query_dtype="bit", top_k=9)
    np.testing.assert_array_equal(top.candidate_mean(), got.candidate_mean())
    np.testing.assert_array_equal(top.candidate_max(), got.candidate_max())


def test_int8_queries_score_the_cosine_of_int8_rows(tmp_path: Path) -> None:
    q, x = _rows(5, 33, 11), _rows(80, 33, 12)
    store = _float_store(tmp_path / "s", x, dtype="int8")
    codec = get_codec("int8")
    qi, xi = codec.encode(q)[0].astype(np.float64), codec.encode(x)[0].astype(np.float64)
    want = (qi @ xi.T) / np.linalg.norm(qi, axis=1)[:, None] / np.linalg.norm(xi, axis=1)[None, :]
    np.testing.assert_allclose(score(q, store, query_dtype="int8").matrix, want, atol=1e-6)


@pytest.mark.parametrize("name", ["round_robin", "doubly_greedy", "mean_sim"])
def test_bit_query_passes_stream_like_dense(tmp_path: Path, name: str) -> None:
    q, x = _rows(7, 48, 3), _rows(400, 48, 4)
    xs = _float_store(tmp_path / "x", x, shard_size=64, dtype="bit")
    views = FeatureViews(ViewSet.of(q), ViewSet.of(xs), chunk_rows=50, query_dtype="bit")
    sel = get_selector(name)
    full = sel.rank(views.score(), 60, features=views)
    streamed = sel.rank(views.score(top_k=sel.required_top_k(60)), 60, features=views)
    np.testing.assert_array_equal(streamed.indices, full.indices)


def test_integer_passes_need_matching_stores(tmp_path: Path) -> None:
    q = _rows(3, 16, 13)
    f32 = _float_store(tmp_path / "f", _rows(20, 16, 14))
    i8 = _float_store(tmp_path / "i", _rows(20, 16, 14), dtype="int8")
    with pytest.raises(ConfigurationError, match="query_dtype=bit scores bit candidate stores, but view 0 is float32"):
        score(q, f32, query_dtype="bit")
    with pytest.raises(ConfigurationError, match="but view 0 is int8"):
        score(q, i8, query_dtype="bit")
    with pytest.raises(ConfigurationError, match="query dtype must be one of float, int8, bit"):
        score(q, i8, query_dtype="int4")


def test_cli_select_on_bit_stores(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "targetsel", "select", "-r", "lexical", "-b", "20", "--quiet"]
    base += ["-p", "feature_dtype=bit", "--store-dir", str(tmp_path / "stores")]
    ok = subprocess.run([*base, "-o", str(tmp_path / "out"), "--query-dtype", "bit"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    sel = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert sel["representation"]["query_dtype"] == "bit"
    assert [c["dtype"] for c in sel["representation"]["candidates"]] == ["bit"]
    pool_store = [p for p in (tmp_path / "stores").iterdir() if "-candidate-" in p.name]
    query_store = [p for p in (tmp_path / "stores").iterdir() if "-query-" in p.name]
    assert FeatureStore.open(pool_store[0]).feature_dtype == "bit"
    assert FeatureStore.open(query_store[0]).feature_dtype == "float32"
    bad = subprocess.run(
        [*base[:-4], "-o", str(tmp_path / "bad"), "--query-dtype", "bit", "--no-store"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "query_dtype=bit scores bit candidate stores" in bad.stderr and not (tmp_path / "bad").exists()


def test_cli_compress_resumes_after_sigkill(tmp_path: Path) -> None:
    import signal
    import time

    src = _float_store(tmp_path / "f32", _rows(6000, 512, 15), shard_size=40)  # 150 shards
    ref = compress_store(src.path, tmp_path / "ref", "int8")
    cmd = [sys.executable, "-m", "targetsel", "store", "compress", str(src.path), str(tmp_path / "dst")]
    cmd += ["--dtype", "int8", "--quiet"]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "dst").glob("shard-*.npy")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = FeatureStore.open(tmp_path / "dst", require_complete=False)
    done = partial.num_shards - len(partial.missing_shards())
    assert done >= 1  # killed mid-way (usually), or finished first: either way a rerun completes it
    assert subprocess.run(cmd).returncode == 0
    assert _stored_bytes(FeatureStore.open(tmp_path / "dst")) == _stored_bytes(ref)


@pytest.mark.parametrize("dim", [64, 77, 8192])
def test_bit_kernels_give_the_same_integers(dim: int) -> None:
    from targetsel.score.integer import integer_blocks, numba_popcount
    from targetsel.score.passes import ScorePass
    from targetsel.store import InMemoryFeatures

    kernels = ["int_mm", "popcount"] + (["popcount_numba"] if numba_popcount() is not None else [])
    rng = np.random.default_rng(dim)
    x = EncodedFeatures.from_float(rng.standard_normal((4500, dim)).astype(np.float32), "bit")  # two chunks
    q = InMemoryFeatures(rng.standard_normal((9, dim)).astype(np.float32))
    passes = {k: ScorePass.create([q], [x], chunk_rows=4096, query_dtype="bit", kernel=k) for k in kernels}
    out = {k: np.concatenate([b.copy() for _, b, _ in integer_blocks(p)], 1) for k, p in passes.items()}
    for k in kernels:
        np.testing.assert_array_equal(out[k], out["popcount"], err_msg=k)
    x8 = EncodedFeatures.from_float(rng.standard_normal((30, dim)).astype(np.float32), "int8")
    with pytest.raises(ConfigurationError, match="query_dtype=int8 kernels are int_mm, got 'popcount'"):
        next(integer_blocks(ScorePass.create([q], [x8], query_dtype="int8", kernel="popcount")))


def test_numba_kernel_is_installed_with_the_test_extra() -> None:
    from targetsel.score.integer import numba_popcount

    pytest.importorskip("numba", reason="numba is in the test extra; without it the int_mm kernel is used")
    assert numba_popcount() is not None


@pytest.mark.parametrize("dtype", ["int8", "bit"])
def test_integer_passes_weight_checkpoints(tmp_path: Path, dtype: str) -> None:
    q1, q2, x1, x2 = _rows(4, 40, 16), _rows(4, 40, 17), _rows(70, 40, 18), _rows(70, 40, 19)
    stores = [_float_store(tmp_path / f"x{i}", x, dtype=dtype) for i, x in enumerate((x1, x2))]
    got = score([q1, q2], stores, weights=[0.25, 0.75], query_dtype=dtype).matrix
    parts = [score(q, st, query_dtype=dtype).matrix for q, st in ((q1, stores[0]), (q2, stores[1]))]
    np.testing.assert_allclose(got, 0.25 * parts[0] + 0.75 * parts[1], atol=1e-6)
