"""Diagnosing a selection of several targets: distances to the union, and per target to its own queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.diagnose import diagnose_selection, load_selection
from targetsel.diagnose.distances import cost_matrix, wasserstein1
from targetsel.diagnose.targets import target_distances
from targetsel.errors import ConfigurationError
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
from targetsel.store.viewset import ViewSet

TASKS = ("math", "dates", "humaneval")


@pytest.fixture(scope="module")
def mixture(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("mix")
    pool = load_pool(demo_pool_path())
    targets = {t: load_queries(demo_query_path(t)) for t in TASKS}
    run_selection(pool, targets, LexicalRepresentation(dim=256), budgets=[45], output=out)
    return out, pool, targets


def test_target_distances_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    q, s = rng.standard_normal((5, 8)), rng.standard_normal((12, 8))
    mine = [bool(i % 3 == 0) for i in range(12)]
    d = target_distances(ViewSet.of(q), ViewSet.of(s), 9, mine)
    cost = cost_matrix(ViewSet.of(q), ViewSet.of(s[:9]))[0]
    own = [i for i in range(9) if mine[i]]
    assert d["picks"] == 3
    assert d["w1"] == pytest.approx(wasserstein1(cost[:, own])[0])
    assert d["w1_all"] == pytest.approx(wasserstein1(cost)[0])
    assert d["mean_nn_query"] == pytest.approx(cost[:, own].min(axis=1).mean())
    assert target_distances(ViewSet.of(q), ViewSet.of(s), 1, [False] * 12)["w1"] is None


def test_each_target_measured_on_its_queries(mixture: tuple) -> None:
    out, pool, targets = mixture
    d = diagnose_selection(out, pool, targets, LexicalRepresentation(dim=256), budgets=[15, 45], random_subsets=0)
    assert d.n_queries == sum(len(q) for q in targets.values())
    assert d.coverage_from == "query_index"
    for p in d.points:
        assert list(p.targets) == list(TASKS)
        assert sum(t["picks"] for t in p.targets.values()) == p.budget == 3 * p.targets["math"]["picks"]
    data = d.to_dict()
    assert set(data["points"][0]["targets"]["dates"]) == {
        *("picks", "w1", "mmd", "mean_nn_query", "composition"),
        *("w1_all", "mmd_all", "mean_nn_query_all"),
    }
    with pytest.raises(ConfigurationError, match="several targets"):
        diagnose_selection(out, pool, targets["math"], LexicalRepresentation(dim=256), random_subsets=0)
    # the targets' sets in another order are the same targets: measured in the selection's order
    reordered = diagnose_selection(
        out, pool, dict(reversed(targets.items())), LexicalRepresentation(dim=256), budgets=[15, 45], random_subsets=0
    )
    assert reordered.to_dict() == data
    renamed = {"maths" if n == "math" else n: q for n, q in targets.items()}
    with pytest.raises(ConfigurationError, match="this selection's targets are math, dates, humaneval"):
        diagnose_selection(out, pool, renamed, LexicalRepresentation(dim=256))
    assert load_selection(out)["targets"]["mix"] == "equal"


def test_one_target_writes_no_targets_key(tmp_path: Path) -> None:
    pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    run_selection(pool, q, LexicalRepresentation(dim=256), budgets=[20], output=tmp_path)
    d = diagnose_selection(tmp_path, pool, q, LexicalRepresentation(dim=256), random_subsets=0)
    assert "targets" not in d.to_dict()["points"][0]


def test_cli_diagnose_reads_every_target(mixture: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = mixture[0]
    argv = ["diagnose", "-s", str(out), "-r", "lexical", "--no-store", "--random-subsets", "0", "--budgets", "30,45"]
    assert main([*argv, "-o", str(tmp_path / "d")]) == 0
    printed = capsys.readouterr().out
    assert "distance to each target's queries" in printed and "humaneval" in printed
    points = json.loads((tmp_path / "d" / "diagnosis.json").read_text())["points"]
    assert [p["targets"]["math"]["picks"] for p in points] == [10, 15]
    assert main([*argv, "--query", str(demo_query_path("math")), "-o", str(tmp_path / "e")]) == 2
    assert "drop --query" in capsys.readouterr().err
