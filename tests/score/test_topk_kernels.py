"""Exactness of the streaming top-k primitives against plain definitions (stable sorts, argmax)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from targetsel.score import StreamingTopK, column_max_argmax, decode_keys, encode_keys
from targetsel.score.topk import column_stats


def stable_topk(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(matrix, order, axis=1)


def assert_streams_to_stable_topk(matrix: np.ndarray, k: int, chunk: int) -> None:
    """Feed ``matrix`` to a :class:`StreamingTopK` ``chunk`` columns at a time; its lists must equal
    a stable sort of each row, truncated to ``k``."""
    t = StreamingTopK(matrix.shape[0], k)
    for a in range(0, matrix.shape[1], chunk):
        t.add(matrix[:, a : a + chunk], a)
    idx, val = t.result()
    ref_i, ref_v = stable_topk(matrix, k)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(val, ref_v)


finite = st.floats(allow_nan=False, allow_infinity=True, width=32)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, st.integers(0, 2**32 - 1)), min_size=2, max_size=40))
def test_keys_sort_as_score_desc_index_asc(pairs: list[tuple[float, int]]) -> None:
    v = np.array([p[0] for p in pairs], dtype=np.float32)
    i = np.array([p[1] for p in pairs], dtype=np.int64)
    keys = encode_keys(v, i)
    di, dv = decode_keys(keys)
    np.testing.assert_array_equal(di, i)
    np.testing.assert_array_equal(dv, v)  # -0.0 decodes as 0.0, which compares equal
    for a in range(len(pairs)):
        for b in range(len(pairs)):
            before = v[a] > v[b] or (v[a] == v[b] and i[a] < i[b])
            assert (keys[a] > keys[b]) == before


def test_negative_zero_ties_with_zero() -> None:
    keys = encode_keys(np.array([-0.0, 0.0], np.float32), np.array([5, 7]))
    assert keys[0] > keys[1]  # equal scores: the lower index first, whatever the sign bit


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 900),
    k=st.integers(1, 300),
    levels=st.integers(2, 50),
    seed=st.integers(0, 2**31 - 1),
    chunk=st.integers(1, 400),
)
def test_streaming_topk_equals_stable_sort(rows: int, cols: int, k: int, levels: int, seed: int, chunk: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = (rng.integers(-levels, levels, size=(rows, cols)) / levels).astype(np.float32)  # many ties
    k = min(k, cols)
    assert_streams_to_stable_topk(matrix, k, chunk)


def test_streaming_topk_wide_chunks_take_both_admission_paths(column_kernel: str) -> None:
    # a long stream of wide chunks: early chunks admit many entries (comparison pass), later ones
    # few (group-maximum pruning); both must give the exact result, and so must the compiled
    # admission (every size goes through it under the "compiled" fixture)
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((9, 40_000)).astype(np.float32)
    matrix[:, 30_000:] = matrix[:, :10_000]  # exact duplicates of earlier scores, higher indices
    matrix[:, 12_000:13_000] = -np.inf  # excluded candidates
    matrix[3, 20_000:] = -np.inf
    for k in (5, 700):
        t = StreamingTopK(9, k)
        for a in range(0, matrix.shape[1], 4096):
            t.add(matrix[:, a : a + 4096], a)
        idx, val = t.result()
        ref_i, ref_v = stable_topk(matrix, k)
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_array_equal(val, ref_v)


@pytest.fixture(params=["compiled", "numpy"])
def column_kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the compiled kernels (numba) at every size, and with the numpy forms."""
    import importlib

    topk = importlib.import_module("targetsel.score.topk")
    if request.param == "compiled":
        pytest.importorskip("numba")
        monkeypatch.setattr(topk, "COMPILED_MIN_ENTRIES", 0)  # every size through the kernels
    else:
        for name in ("topk", "scores", "stream", "partial"):
            module = importlib.import_module(f"targetsel.score.{name}")
            monkeypatch.setattr(module, "use_compiled", lambda entries: False)
    return str(request.param)


def test_the_compiled_kernels_are_loaded_only_for_work_that_pays_for_loading_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib
    import sys

    topk = importlib.import_module("targetsel.score.topk")
    monkeypatch.delitem(sys.modules, "targetsel.score.compiled", raising=False)
    assert topk.use_compiled(topk.COMPILED_MIN_ENTRIES - 1) is False
    assert "targetsel.score.compiled" not in sys.modules  # not even imported
    try:
        import numba  # noqa: F401
    except ImportError:
        assert topk.use_compiled(topk.COMPILED_MIN_ENTRIES) is False
        return
    assert topk.use_compiled(topk.COMPILED_MIN_ENTRIES) is True
    assert topk.use_compiled(1) is True  # loaded now: any size


@pytest.mark.parametrize("seed", range(6))
def test_streaming_topk_with_the_compiled_admission_equals_stable_sort(seed: int, column_kernel: str) -> None:
    rng = np.random.default_rng(seed)
    rows, cols, levels = int(rng.integers(1, 40)), int(rng.integers(1, 3000)), int(rng.integers(2, 50))
    matrix = (rng.integers(-levels, levels, size=(rows, cols)) / levels).astype(np.float32)  # many ties
    k, chunk = min(int(rng.integers(1, 300)), cols), int(rng.integers(1, 400))
    assert_streams_to_stable_topk(matrix, k, chunk)


@pytest.mark.parametrize("slab_entries", [1, 50, 10**9])
def test_the_top_k_and_the_column_maxima_from_one_read_equal_their_definitions(
    slab_entries: int, column_kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # add_with_column_max: one compiled read counts each row's entries above its threshold per run
    # of 512 columns and gathers only those runs; the gather goes a slab of rows at a time
    import importlib

    monkeypatch.setattr(importlib.import_module("targetsel.score.topk"), "temp_entries", lambda: slab_entries)
    rng = np.random.default_rng(slab_entries)
    matrix = (rng.integers(-40, 40, size=(23, 9000)) / 40).astype(np.float32)  # many ties
    matrix[:, 5000:5600] = matrix[:, 100:700]  # equal scores at higher indices, across a run's edge
    matrix[4] = -np.inf  # a row that admits nothing
    matrix[7, 511:513] = 2.0  # the two sides of a run's edge
    for k, chunk in ((1, 1000), (37, 1024), (600, 777)):
        t = StreamingTopK(matrix.shape[0], k)
        for a in range(0, matrix.shape[1], chunk):
            best, arg = t.add_with_column_max(matrix[:, a : a + chunk], a)
            np.testing.assert_array_equal(best, matrix[:, a : a + chunk].max(axis=0))
            np.testing.assert_array_equal(arg, matrix[:, a : a + chunk].argmax(axis=0))
        idx, val = t.result()
        ref_i, ref_v = stable_topk(matrix, k)
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_array_equal(val, ref_v)


@pytest.mark.parametrize("rows", [1, 2, 7, 8, 9, 64, 501])
def test_column_max_argmax_equals_argmax_with_ties(rows: int, column_kernel: str) -> None:
    rng = np.random.default_rng(rows)
    for levels in (2, 5, 1000):
        m = rng.integers(0, levels, size=(rows, 3333)).astype(np.float32)
        m[0, :7] = -np.inf  # excluded candidates score -inf
        m[:, 7] = -np.inf
        best, arg = column_max_argmax(m)
        np.testing.assert_array_equal(best, m.max(axis=0))
        np.testing.assert_array_equal(arg, m.argmax(axis=0))  # numpy: first row on ties


def test_column_stats_flags_every_non_finite_entry() -> None:
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    m = rng.normal(size=(37, 5000)).astype(np.float32)
    best, arg, finite = column_stats(m)
    assert finite and (arg == m.argmax(axis=0)).all() and (best == m[arg, np.arange(m.shape[1])]).all()
    for bad in (np.nan, np.inf, -np.inf):
        for q, j in ((0, 0), (36, 4999), (17, 2500)):
            x = m.copy()
            x[q, j] = bad
            assert column_stats(x)[2] is False, (bad, q, j)
    zero = np.array([[-0.0, 0.0], [0.0, -0.0]], np.float32)  # ties: the first row's value and row
    best, arg, _ = column_stats(zero)
    assert np.signbit(best).tolist() == [True, False] and arg.tolist() == [0, 0]


def test_large_dense_scores_are_checked_and_ranked_alike_with_and_without_the_compiled_pass(
    column_kernel: str,
) -> None:
    from targetsel.errors import InvalidDataError
    from targetsel.score import Scores
    from targetsel.select import get_selector

    rng = np.random.default_rng(1)
    m = rng.integers(0, 50, size=(64, 20_000)).astype(np.float32) / 7  # > 1M entries, many ties
    s = Scores.from_matrix(m)
    r = get_selector("doubly_greedy").rank(s, 500)
    ref = np.argsort(-m.max(axis=0), kind="stable")[:500]
    np.testing.assert_array_equal(r.indices, ref)
    np.testing.assert_array_equal(r.query_index, m[:, ref].argmax(axis=0))
    np.testing.assert_array_equal(r.scores, m.max(axis=0)[ref])
    _, arg = Scores.from_matrix(m).candidate_max()
    np.testing.assert_array_equal(arg, m.argmax(axis=0))
    for bad in (np.nan, -np.inf):
        x = m.copy()
        x[40, 12_345] = bad
        with pytest.raises(InvalidDataError, match="first at query 40, candidate 12345"):
            Scores.from_matrix(x)


def test_the_compiled_kernels_load_from_numba_s_disk_cache_in_the_next_process(tmp_path: Path) -> None:
    """Kernels built inside a function (closures) were compiled again by every process (2-5 s each);
    module-level kernels are found in numba's cache by the next one."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from targetsel.score.compiled import column_stats_kernel as c, popcount_scores as p\n"
        "c(np.ones((2, 3), np.float32), np.zeros(2, np.float32), np.empty(3, np.float32), np.empty(3, np.int64),"
        " np.empty((2, 1), np.int32), 1024, 1024)\n"
        "w = np.zeros((2, 1), np.uint64); p(w, w, 64, np.empty((2, 2), np.int32))\n"
        "print(sum(c.stats.cache_hits.values()), sum(p.stats.cache_hits.values()))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split() == ["0", "0"]  # compiled, then saved
    assert second.stdout.split() == ["1", "1"]  # loaded


def test_the_compiled_kernels_may_be_launched_from_several_threads_on_any_threading_layer() -> None:
    """numba's workqueue layer (where neither OpenMP nor TBB is installed) aborts the process when two
    threads launch parallel kernels at once; every launch of ours takes one lock."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    code = (
        "import threading, numpy as np\n"
        "from targetsel.score.topk import column_stats, StreamingTopK\n"
        "import importlib; topk = importlib.import_module('targetsel.score.topk')\n"
        "from targetsel.score.integer import numba_popcount\n"
        "topk.COMPILED_MIN_ENTRIES = 0\n"
        "m = np.random.default_rng(0).random((64, 50000), dtype=np.float32)\n"
        "w = np.random.default_rng(1).integers(0, 2**63, (64, 4), dtype=np.uint64)\n"
        "pop = numba_popcount()\n"
        "def work():\n"
        "    for _ in range(20):\n"
        "        column_stats(m)\n"
        "        pop(w, w, 256, np.empty((64, 64), np.int32))\n"
        "        t = StreamingTopK(64, 5)\n"
        "        t.add(m[:, :1000], 0); t.add(m[:, 1000:], 1000)\n"
        "threads = [threading.Thread(target=work) for _ in range(3)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "import numba; print(numba.threading_layer())\n"
    )
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "workqueue"
