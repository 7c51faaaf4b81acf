"""Diagnosing a subset against several named query sets (``{name: set}``, ``diagnose --query NAME=PATH``).

Tiny made-up data (``tiny_targets``: a 30-row pool of three topics, query sets of three rows) and the
offline lexical representation: nothing is downloaded, every test runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.data import load_pool, load_queries
from targetsel.diagnose import diagnose_selection, load_selection
from targetsel.errors import ConfigurationError
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation

REP = LexicalRepresentation(dim=256)
ARGS = ["-r", "lexical", "-p", "dim=256", "--no-store", "--random-subsets", "0"]


@pytest.fixture(scope="module")
def data(tiny_targets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny files, a selection of one target (math) and one of two (math and code)."""
    root = tmp_path_factory.mktemp("named")
    files = tiny_targets
    pool, math, code = load_pool(files["pool"]), load_queries(files["math"]), load_queries(files["code"])
    kw = {"budgets": [6, 12], "decontaminate": False}
    run_selection(pool, math, REP, output=root / "one", **kw)
    run_selection(pool, {"math": math, "code": code}, REP, output=root / "two", **kw)
    return {"root": root, "files": files, "pool": pool, "math": math, "code": code}


def _sel(data: dict, which: str) -> Path:
    return data["root"] / which / "budget-12"


# ------------------------------------------------------------------ Python API


def test_one_target_selection_against_two_query_sets(data: dict) -> None:
    pool, math, code = data["pool"], data["math"], data["code"]
    d = diagnose_selection(
        _sel(data, "one"), pool, {"math": math, "code": code}, REP, budgets=[6, 12], random_subsets=0
    )
    assert d.n_queries == 6 and d.coverage_from == "nearest"  # the recorded queries are math's rows only
    assert [t["name"] for t in d.info["targets"]] == ["math", "code"]
    alone = {
        name: diagnose_selection(_sel(data, "one"), pool, q, REP, budgets=[6, 12], random_subsets=0)
        for name, q in (("math", math), ("code", code))
    }
    for k, point in enumerate(d.points):
        assert list(point.targets) == ["math", "code"]
        for name, per in point.targets.items():
            ref = alone[name].points[k]  # the whole prefix against that set alone
            assert per["w1_all"] == pytest.approx(ref.w1)
            assert per["mmd_all"] == pytest.approx(ref.mmd)
            assert per["mean_nn_query_all"] == pytest.approx(ref.mean_nn_query)
            # the picks do not say which target took them: no own-pick distances, no composition
            assert per["picks"] is None and per["w1"] is None and per["composition"] is None
    assert "targets" not in alone["math"].to_dict()["points"][0]


def test_one_named_set_is_the_bare_query_set(data: dict) -> None:
    pool, math = data["pool"], data["math"]
    named = diagnose_selection(_sel(data, "one"), pool, {"math": math}, REP, random_subsets=0)
    bare = diagnose_selection(_sel(data, "one"), pool, math, REP, random_subsets=0)
    assert named.to_dict() == bare.to_dict()
    assert bare.coverage_from == "query_index"


def test_two_target_selection_reports_own_picks_and_composition(data: dict) -> None:
    pool, math, code = data["pool"], data["math"], data["code"]
    d = diagnose_selection(
        _sel(data, "two"), pool, {"code": code, "math": math}, REP, budgets=[6, 12], random_subsets=0
    )
    assert d.coverage_from == "query_index"
    picks = load_selection(_sel(data, "two"))["picks"]
    source = dict(zip(pool.ids, pool.column("source"), strict=True))
    for point in d.points:
        assert list(point.targets) == ["math", "code"]  # the selection's order
        for name, per in point.targets.items():
            own = [p for p in picks[: point.budget] if p["target"] == name]
            assert per["picks"] == len(own) == point.budget // 2
            want: dict[str, int] = {}
            for p in own:
                want[source[p["id"]]] = want.get(source[p["id"]], 0) + 1
            assert per["composition"] == want
            assert per["w1"] is not None and per["mmd"] is not None and per["mean_nn_query"] is not None


def test_another_query_set_for_a_target_drops_the_recorded_queries(data: dict) -> None:
    other = load_queries(data["files"]["code_other"])
    d = diagnose_selection(
        _sel(data, "two"), data["pool"], {"math": data["math"], "code": other}, REP, random_subsets=0
    )
    assert d.coverage_from == "nearest" and d.n_queries == 4
    assert d.points[0].targets["code"]["picks"] == 6


@pytest.mark.parametrize(
    ("which", "queries", "message"),
    [
        ("one", lambda m, c: {"a": m, "b": m}, "targets 'a' and 'b' have the same query set"),
        ("one", lambda m, c: {}, "no query set given"),
        ("two", lambda m, c: m, "this selection has several targets (math, code)"),
        ("two", lambda m, c: {"math": m}, "this selection's targets are math, code"),
        ("two", lambda m, c: {"math": m, "kode": c}, "this selection's targets are math, code"),
    ],
)
def test_api_bad_query_sets(data: dict, which: str, queries, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        diagnose_selection(_sel(data, which), data["pool"], queries(data["math"], data["code"]), REP, random_subsets=0)


# ------------------------------------------------------------------ CLI


def _diagnose(data: dict, which: str, *query: str, out: Path) -> int:
    queries = [a for q in query for a in ("--query", q)]
    return main(["diagnose", "-s", str(_sel(data, which)), *queries, *ARGS, "--budgets", "6,12", "-o", str(out)])


def test_cli_named_queries_on_one_target(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = data["files"]
    assert _diagnose(data, "one", f"math={f['math']}", f"code={f['code']}", out=tmp_path / "d") == 0
    printed = capsys.readouterr().out
    assert "distance to each target's queries" in printed and "own picks" not in printed
    saved = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert saved["n_queries"] == 6 and saved["coverage_from"] == "nearest"
    assert [list(p["targets"]) for p in saved["points"]] == [["math", "code"]] * 2
    ref = diagnose_selection(_sel(data, "one"), data["pool"], data["code"], REP, budgets=[6, 12], random_subsets=0)
    assert [p["targets"]["code"]["w1_all"] for p in saved["points"]] == pytest.approx([p.w1 for p in ref.points])


def test_cli_bare_query_keeps_one_query_set(data: dict, tmp_path: Path) -> None:
    assert _diagnose(data, "one", str(data["files"]["math"]), out=tmp_path / "d") == 0
    saved = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert saved["coverage_from"] == "query_index" and saved["n_queries"] == 3
    assert all("targets" not in p for p in saved["points"])


def test_cli_named_queries_on_two_targets(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = data["files"]
    assert _diagnose(data, "two", f"code={f['code']}", f"math={f['math']}", out=tmp_path / "d") == 0
    assert "each target's own picks" in capsys.readouterr().out
    saved = json.loads((tmp_path / "d" / "diagnosis.json").read_text())
    assert [p["targets"]["math"]["picks"] for p in saved["points"]] == [3, 6]
    assert sum(saved["points"][1]["targets"]["code"]["composition"].values()) == 6


@pytest.mark.parametrize(
    ("which", "query", "message"),
    [
        ("one", ["math=MATH", "math=CODE"], "--query names target 'math' twice"),
        ("one", ["math=MATH", "code=MATH"], "targets 'math' and 'code' have the same query set"),
        ("one", ["math=MATH", "code="], "--query code= names no query set"),
        ("one", ["math=MATH", "CODE"], "has no name"),
        ("two", ["CODE"], "give each as --query NAME=PATH"),
        ("two", ["math=MATH", "kode=CODE"], "this selection's targets are math, code"),
    ],
)
def test_cli_bad_queries(
    data: dict, which: str, query: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = data["files"]
    query = [q.replace("MATH", str(f["math"])).replace("CODE", str(f["code"])) for q in query]
    out = tmp_path / "d"
    assert _diagnose(data, which, *query, out=out) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()
