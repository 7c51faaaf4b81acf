"""The explorer page of a selection of several targets: per-target composition and distances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from targetsel.data import load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.diagnose import diagnose_selection
from targetsel.errors import ConfigurationError
from targetsel.explore import load_query_sets, write_page
from targetsel.explore.load import find_selection, page_data
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation

TASKS = ("math", "dates", "humaneval")


def test_targets_section(tmp_path: Path) -> None:
    pool = load_pool(demo_pool_path())
    targets = {t: load_queries(demo_query_path(t)) for t in TASKS}
    rep = LexicalRepresentation(dim=256)
    run_selection(
        pool, targets, rep, budgets=[12, 30], output=tmp_path / "sel", mix="weights:math=2,dates=1,humaneval=1"
    )
    sel = tmp_path / "sel" / "budget-30"
    diag = diagnose_selection(sel, pool, targets, rep, budgets=[12, 30], random_subsets=0).to_dict()
    data = page_data(find_selection(sel), pool=pool, diagnosis=diag)
    t = data["targets"]
    assert t["names"] == list(TASKS) and t["mix"] == "weights:math=2,dates=1,humaneval=1"
    assert [r["picks"] for r in t["budgets"]] == [[6, 3, 3], [16, 7, 7]]  # ties go to the lower target
    assert all(isinstance(v, float) for r in t["budgets"] for v in r["w1"])
    assert data["picks"]["extra"]["target"][:4] == ["math", "math", "dates", "humaneval"]
    # what the target selector needs: each pick's target, where each target's queries start in the
    # page's query list (the sets one after the other), and per budget each target's distances
    meta = json.loads((sel / "selection.json").read_text())
    assert t["pick"] == [TASKS.index(p["target"]) for p in meta["picks"]]
    sizes = [len(q) for q in targets.values()]
    assert t["queries"] == sizes and t["offsets"] == [0, sizes[0], sizes[0] + sizes[1]]
    assert data["n_queries"] == sum(sizes) and data["header"]["queries"]["rows"] == sum(sizes)
    assert data["queries"] is None  # no query set given: queries by number
    for point, measured in zip(data["diagnosis"]["points"], diag["points"], strict=True):
        assert list(point["targets"]) == list(TASKS)
        for name in TASKS:
            per = point["targets"][name]
            assert set(per) == {"picks", "w1", "mmd", "mean_nn_query", "w1_all", "mmd_all", "mean_nn_query_all"}
            assert per["w1"] == pytest.approx(measured["targets"][name]["w1"], abs=1e-5)
            assert per["picks"] == sum(p["target"] == name for p in meta["picks"][: point["budget"]])
    html = write_page(sel, tmp_path / "page.html", pool=pool, diagnosis=diag).read_text()
    assert 'id="target-composition"' in html and "share 0.500" in html
    assert 'id="target-buttons"' in html and "140 rows of 3 targets" in html
    # the page reads each target's recorded query set: the query list is their texts, set after set
    shown = json.loads(html.split('id="explore-data" type="application/json">')[1].split("</script>")[0])
    assert [q[0][1] for q in shown["queries"]] == [
        m[0]["content"] for q in targets.values() for m in (q.messages(i) for i in range(len(q)))
    ]


def test_query_sets_of_several_targets(tmp_path: Path) -> None:
    pool = load_pool(demo_pool_path())
    targets = {t: load_queries(demo_query_path(t)) for t in TASKS[:2]}
    run_selection(pool, targets, LexicalRepresentation(dim=64), budgets=[6], output=tmp_path, decontaminate=False)
    sel = find_selection(tmp_path)
    assert set(load_query_sets(None, sel.meta)) == set(TASKS[:2])
    # one target's set given: the other target's queries are listed by number
    data = page_data(sel, queries={"dates": targets["dates"]})
    assert data["queries"][:50] == [None] * 50 and data["queries"][50][0][0] == "user"
    with pytest.raises(ConfigurationError, match="several targets"):
        load_query_sets(demo_query_path("math"), sel.meta)


def test_one_target_has_no_targets_section(tmp_path: Path) -> None:
    pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    run_selection(pool, q, LexicalRepresentation(dim=256), budgets=[10], output=tmp_path / "sel")
    assert page_data(find_selection(tmp_path / "sel"), pool=pool)["targets"] is None
    html = write_page(tmp_path / "sel", pool=pool).read_text()
    assert 'id="targets"' not in html and 'id="target-buttons"' not in html
    with pytest.raises(ConfigurationError, match="one target"):
        load_query_sets({"a": q, "b": q}, find_selection(tmp_path / "sel").meta)
