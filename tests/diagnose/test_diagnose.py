"""Diagnose: distances pinned against independent computations, coverage, composition, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from targetsel.cli import main
from targetsel.data import load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.diagnose import (
    cost_matrix,
    diagnose,
    diagnose_selection,
    gather_rows,
    load_selection,
    mmd,
    wasserstein1,
)
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.export import selection_metadata
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
from targetsel.store import FeatureStore, StoreSpec
from targetsel.store.viewset import ViewSet

V = ViewSet.of


def _cos_cost(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    sn = s / np.linalg.norm(s, axis=1, keepdims=True)
    return (1 - qn @ sn.T) / 2


def test_w1_equals_optimal_assignment_for_equal_sizes():
    # With n = m and uniform weights the optimal plan is a permutation (Birkhoff), so W1 is the
    # mean cost of the optimal assignment: an independent check of the POT call.
    rng = np.random.default_rng(0)
    q, s = rng.normal(size=(12, 6)), rng.normal(size=(12, 6))
    cost = _cos_cost(q, s)
    r, c = linear_sum_assignment(cost)
    w1, solver = wasserstein1(cost_matrix(V(q), V(s))[0])
    assert solver == "emd"
    assert w1 == pytest.approx(cost[r, c].mean(), abs=1e-9)


def test_w1_unequal_sizes_replication_and_sinkhorn_close():
    # Uniform on 6 points vs uniform on 3 points = uniform on the 3 points each repeated twice.
    rng = np.random.default_rng(1)
    q, s = rng.normal(size=(6, 5)), rng.normal(size=(3, 5))
    cost = _cos_cost(q, s)
    r, c = linear_sum_assignment(np.repeat(cost, 2, axis=1))
    exact, _ = wasserstein1(cost)
    assert exact == pytest.approx(np.repeat(cost, 2, axis=1)[r, c].mean(), abs=1e-9)
    approx, solver = wasserstein1(cost, exact_limit=0, reg=0.001)
    assert solver == "sinkhorn"
    assert approx == pytest.approx(exact, abs=5e-3)


def test_mmd_matches_naive_definition():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    xn, yn = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (x, y))

    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / 2.0)

    naive = np.sqrt(k(xn, xn).mean() + k(yn, yn).mean() - 2 * k(xn, yn).mean())
    assert mmd([xn], [yn], np.ones(1)) == pytest.approx(naive, rel=1e-9)
    assert mmd([xn], [xn], np.ones(1)) == pytest.approx(0.0, abs=1e-7)


def test_diagnose_curve_coverage_and_composition():
    q = np.eye(3, 4)
    s = np.array([[1, 0, 0, 0], [1, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=float)
    d = diagnose(V(q), V(s), budgets=[4, 2], sources=["a", "a", "b", "c"])
    assert [p.budget for p in d.points] == [2, 4]
    assert d.coverage_from == "nearest"
    assert d.points[0].coverage == [2, 0, 0]
    assert d.points[1].coverage == [2, 1, 1]
    assert d.points[1].covered_fraction == 1.0
    assert d.points[0].composition == {"a": 2}
    # Adding the picks that cover the other queries brings the subset closer to the query set.
    assert d.points[1].w1 < d.points[0].w1
    assert d.points[1].mean_nn_query < d.points[0].mean_nn_query
    # Recorded query indices take precedence over nearest-query assignment.
    d2 = diagnose(V(q), V(s), query_index=[2, 2, 0, 1])
    assert d2.coverage_from == "query_index"
    assert d2.points[0].coverage == [1, 1, 2]
    # A missing query index anywhere falls back to nearest.
    assert diagnose(V(q), V(s), query_index=[0, None, 1, 2]).coverage_from == "nearest"


def test_multiview_weights_match_weighted_cosine():
    rng = np.random.default_rng(3)
    q1, q2, s1, s2 = (rng.normal(size=(4, 3)) for _ in range(4))
    cost, _, _ = cost_matrix(V([q1, q2], [3, 1]), V([s1, s2], [3, 1]))
    expected = 0.75 * (1 - 2 * _cos_cost(q1, s1)) + 0.25 * (1 - 2 * _cos_cost(q2, s2))
    np.testing.assert_allclose(cost, (1 - expected) / 2, atol=1e-12)
    # Two identical views give the single-view distance.
    a = diagnose(V([q1, q1], [0.5, 0.5]), V([s1, s1], [0.5, 0.5])).points[0]
    b = diagnose(V(q1), V(s1)).points[0]
    assert a.w1 == pytest.approx(b.w1) and a.mmd == pytest.approx(b.mmd)


def test_diagnose_validates_input():
    with pytest.raises(ConfigurationError):
        diagnose(V(np.eye(2)), V(np.eye(2)), budgets=[3])
    with pytest.raises(InvalidDataError):
        diagnose(V(np.eye(2)), V(np.eye(3)))
    with pytest.raises(InvalidDataError):
        diagnose(V(np.eye(2)), V(np.full((2, 2), np.nan)))
    with pytest.raises(InvalidDataError):
        diagnose(V(np.eye(2)), V(np.eye(2)), sources=["a"])
    with pytest.raises(ConfigurationError, match="weights differ"):
        diagnose(V([np.eye(2)] * 2, [0.5, 0.5]), V([np.eye(2)] * 2, [0.25, 0.75]))


def test_gather_rows_streams_a_store(tmp_path):
    arr = np.arange(40, dtype=np.float32).reshape(10, 4)
    spec = StoreSpec(representation="x", model="none", dim=4, num_rows=10, fingerprint="f")
    fs = FeatureStore.create(tmp_path / "s", spec, shard_size=3)
    for i in fs.missing_shards():
        lo, hi = fs.shard_range(i)
        fs.write_shard(i, arr[lo:hi])
    idx = [9, 0, 4, 3, 7]
    np.testing.assert_array_equal(gather_rows(fs, idx, chunk_rows=2), arr[idx])


@pytest.fixture(scope="module")
def demo_selection():
    pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    rep = LexicalRepresentation(dim=256)
    ranking = run_selection(pool, q, rep, budgets=[60]).ranking
    return pool, q, rep, ranking


def test_diagnose_selection_on_demo_store_and_memory_agree(demo_selection, tmp_path):
    pool, q, rep, ranking = demo_selection
    meta = selection_metadata(pool, ranking, queries=q)
    mem = diagnose_selection(meta, pool, q, rep, budgets=[20, 60])
    disk = diagnose_selection(meta, pool, q, rep, budgets=[20, 60], store_dir=tmp_path / "stores")
    assert mem.coverage_from == "query_index"
    assert sum(mem.points[1].coverage) == 60
    for a, b in zip(mem.points, disk.points, strict=True):
        assert a.w1 == pytest.approx(b.w1, abs=1e-6)
    # Round-robin on math picks mostly arithmetic word problems.
    top = next(iter(mem.points[1].composition))
    assert top == "arithmetic_word_problems"
    # A random subset is farther from the query set than the targeted one.
    rnd = run_selection(pool, q, rep, method="random", budgets=[60]).ranking
    d_rnd = diagnose_selection(selection_metadata(pool, rnd), pool, q, rep)
    assert d_rnd.points[0].w1 > mem.points[1].w1


def test_diagnose_selection_rejects_foreign_pool(demo_selection):
    pool, q, rep, ranking = demo_selection
    meta = selection_metadata(pool, ranking)
    with pytest.raises(InvalidDataError, match="not in the pool"):
        diagnose_selection(meta, q, q, rep)
    with pytest.raises(MissingArtifactError):
        load_selection("/nonexistent/selection")


def test_cli_diagnose_writes_json_and_png(tmp_path, capsys):
    sel = tmp_path / "sel"
    assert main(["select", "-r", "lexical", "--budget", "40", "-o", str(sel), "--no-store", "-q"]) == 0
    out = tmp_path / "diag"
    rc = main(["diagnose", "-s", str(sel), "-r", "lexical", "--budgets", "10,40", "--no-store", "-o", str(out)])
    assert rc == 0
    data = json.loads((out / "diagnosis.json").read_text())
    assert [p["budget"] for p in data["points"]] == [10, 40]
    assert all(np.isfinite(p["w1"]) and 0 <= p["w1"] <= 1 for p in data["points"])
    assert (out / "diagnosis.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "W1" in printed and "random" in printed
    assert all(p["random_mean"] is not None and p["random_percentile"] is not None for p in data["points"])
    # Bad input: one line on stderr, exit 2, nothing written.
    bad = tmp_path / "bad"
    assert main(["diagnose", "-s", str(sel), "--budgets", "999", "-r", "lexical", "-o", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exceeds" in err
    assert not bad.exists()


def test_save_writes_the_data_and_the_report_draws_the_figure(tmp_path):
    from targetsel.report.figures import save_diagnosis

    d = diagnose(V(np.eye(2, 3)), V(np.eye(3)), budgets=[2, 3])
    assert d.save(tmp_path / "data") == tmp_path / "data" / "diagnosis.json"
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["diagnosis.json"]
    paths = save_diagnosis(d, tmp_path / "both")
    assert [p.name for p in paths] == ["diagnosis.json", "diagnosis.png"]
    assert paths[0].read_bytes() == (tmp_path / "data" / "diagnosis.json").read_bytes()
    assert paths[1].stat().st_size > 1000


def test_random_baseline_pinned_against_direct_draws():
    """random_mean/std/percentile/z equal W1 of the same seeded subsets computed independently."""
    rng = np.random.default_rng(4)
    pool = rng.normal(size=(300, 8))
    q = pool[:10] + 0.05 * rng.normal(size=(10, 8))
    picks = pool[np.r_[0:10, 50:60]]
    d = diagnose(V(q), V(picks), budgets=[10, 20], random_from=V(pool), random_subsets=25, seed=3)
    for p in d.points:
        draw = np.random.default_rng([3, p.budget])
        dists = []
        for _ in range(25):
            rows = np.sort(draw.choice(300, size=p.budget, replace=False))
            dists.append(wasserstein1(_cos_cost(q, pool[rows]))[0])
        dists = np.array(dists)
        assert p.random_mean == pytest.approx(dists.mean(), abs=1e-9)
        assert p.random_std == pytest.approx(dists.std(ddof=1), abs=1e-9)
        assert p.random_percentile == pytest.approx(100 * (dists <= p.w1).mean())
        assert p.random_z == pytest.approx((p.w1 - dists.mean()) / dists.std(ddof=1))
    # the targeted picks are far closer than chance; a random subset sits inside the band
    assert d.points[0].random_percentile == 0 and d.points[0].random_z < -5
    rnd = diagnose(V(q), V(pool[rng.choice(300, 20, replace=False)]), random_from=V(pool), random_subsets=25)
    assert 0 < rnd.points[0].random_percentile < 100 and abs(rnd.points[0].random_z) < 3
    # no baseline unless asked; bad count rejected
    assert diagnose(V(q), V(picks)).points[0].random_mean is None
    with pytest.raises(ConfigurationError, match="random_subsets"):
        diagnose(V(q), V(picks), random_from=V(pool), random_subsets=-1)
    with pytest.raises(InvalidDataError, match="random-baseline"):
        diagnose(V(q), V(picks), random_from=V(pool[:, :4]))


def test_diagnose_selection_random_baseline_on_demo(demo_selection, tmp_path):
    pool, q, rep, ranking = demo_selection
    meta = selection_metadata(pool, ranking, queries=q)
    mem = diagnose_selection(meta, pool, q, rep, budgets=[20, 60], random_subsets=20, seed=1)
    disk = diagnose_selection(meta, pool, q, rep, budgets=[20, 60], store_dir=tmp_path / "s", random_subsets=20, seed=1)
    for a, b in zip(mem.points, disk.points, strict=True):
        assert a.random_mean == pytest.approx(b.random_mean, abs=1e-6)  # the same rows, from the store or encoded
        assert a.random_percentile == 0 and a.random_z < -3  # round-robin for math beats chance clearly
        assert a.w1 < a.random_mean - 3 * a.random_std
    saved = json.loads(json.dumps(mem.to_dict()))
    assert {"random_mean", "random_std", "random_percentile", "random_z"} <= set(saved["points"][0])
    assert saved["info"]["settings"]["random_baseline"]["subsets"] == 20
    assert diagnose_selection(meta, pool, q, rep, budgets=[20], random_subsets=0).points[0].random_z is None


def test_random_baseline_with_a_tiny_language_model(tiny_llama_dir, tmp_path):
    """The baseline in an LM representation (RDS+ hidden states of the tiny random Llama): finite,
    seeded, and the same rows whether features come from the store or are encoded in memory."""
    from targetsel.represent.hidden import HiddenRepresentation

    pool = load_pool(demo_pool_path()).select(range(0, 2470, 19))  # 130 rows, every family
    q = load_queries(demo_query_path("math")).select(range(10))
    rep = HiddenRepresentation(str(tiny_llama_dir), max_length=64)
    ranking = run_selection(pool, q, rep, budgets=[12]).ranking
    meta = selection_metadata(pool, ranking, queries=q)
    a = diagnose_selection(meta, pool, q, rep, budgets=[6, 12], random_subsets=20, seed=2)
    b = diagnose_selection(meta, pool, q, rep, budgets=[6, 12], random_subsets=20, seed=2, store_dir=tmp_path)
    for pa, pb in zip(a.points, b.points, strict=True):
        assert np.isfinite([pa.random_mean, pa.random_std]).all() and pa.random_std > 0
        assert 0 <= pa.random_percentile <= 100
        assert pa.random_mean == pytest.approx(pb.random_mean, abs=1e-5)
        assert pa.random_z == pytest.approx(pb.random_z, abs=1e-3)
    c = diagnose_selection(meta, pool, q, rep, budgets=[6, 12], random_subsets=20, seed=3)
    assert c.points[0].random_mean != a.points[0].random_mean  # another seed, other subsets


def test_random_subsets_are_capped_and_counted_by_a_progress_bar(tmp_path, capsys, monkeypatch):
    """--random-subsets above the documented cap is one line before any work; the draws run under a
    bar (total = budgets × subsets) that --quiet switches off."""
    import targetsel.diagnose.core as core

    assert core.MAX_RANDOM_SUBSETS == 10_000
    main(["diagnose", "--help"])
    assert "at most 10,000" in capsys.readouterr().out
    sel = tmp_path / "sel"
    assert main(["select", "-r", "lexical", "--budget", "12", "-o", str(sel), "--no-store", "-q"]) == 0
    for n in ("1000000000000", "10001", "-1"):
        out = tmp_path / f"diag{n}"
        assert (
            main(["diagnose", "-s", str(sel), "-r", "lexical", "--no-store", "-o", str(out), "--random-subsets", n])
            == 2
        )
        err = capsys.readouterr().err
        assert err == f"targetsel: error: --random-subsets must lie in 0..10000, got {n}\n"
        assert not out.exists()
    with pytest.raises(ConfigurationError, match=r"random_subsets must lie in 0\.\.10000"):
        core.diagnose(V(np.eye(2, 3)), V(np.eye(3)), random_from=V(np.eye(3)), random_subsets=10_001)

    bars = []
    real = core.progress

    def spy(**kw):
        bar = real(**kw)
        bars.append((kw, bar, bar.disable))  # tqdm sets disable when the bar closes
        return bar

    monkeypatch.setattr(core, "progress", spy)
    argv = ["diagnose", "-s", str(sel), "-r", "lexical", "--no-store", "--budgets", "6,12", "--random-subsets", "7"]
    assert main([*argv, "-o", str(tmp_path / "d1")]) == 0
    ((kw, bar, off),) = bars
    assert kw["total"] == 14 and kw["desc"] == "random subsets" and bar.n == 14 and not off
    assert "random subsets" in capsys.readouterr().err
    bars.clear()
    assert main([*argv, "-o", str(tmp_path / "d2"), "--quiet"]) == 0
    assert bars[0][2] and capsys.readouterr().err == ""


def test_diagnose_selection_checks_the_cap_before_sampling_the_pool() -> None:
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import demo_pool_path, demo_query_path
    from targetsel.diagnose.selection import diagnose_selection
    from targetsel.errors import ConfigurationError
    from targetsel.export import selection_metadata
    from targetsel.pipeline import run_selection
    from targetsel.represent import LexicalRepresentation

    pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    rep = LexicalRepresentation(dim=64)
    meta = selection_metadata(pool, run_selection(pool, q, rep, budgets=[10]).ranking)
    with pytest.raises(ConfigurationError, match="10000"):
        diagnose_selection(meta, pool, q, rep, random_subsets=10**12)
