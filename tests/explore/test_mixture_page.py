"""The explorer page of a selection of several targets: per-target composition and distances."""

from __future__ import annotations

from pathlib import Path

from targetsel.data import load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.diagnose import diagnose_selection
from targetsel.explore import write_page
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
    html = write_page(sel, tmp_path / "page.html", pool=pool, diagnosis=diag).read_text()
    assert 'id="target-composition"' in html and "share 0.500" in html


def test_one_target_has_no_targets_section(tmp_path: Path) -> None:
    pool, q = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    run_selection(pool, q, LexicalRepresentation(dim=256), budgets=[10], output=tmp_path / "sel")
    assert page_data(find_selection(tmp_path / "sel"), pool=pool)["targets"] is None
    assert 'id="targets"' not in write_page(tmp_path / "sel", pool=pool).read_text()
