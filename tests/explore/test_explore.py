"""The explorer page's data and files: what it reads from a selection, the CLI, bad input, ``select --html``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import ExampleSet, load_examples, load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.explore import embed_json, find_diagnosis, find_selection, page_data, render_page, write_page
from targetsel.export import export
from targetsel.select import select

_DATA = re.compile(r'<script id="explore-data" type="application/json">(.*?)</script>', re.S)


def _embedded(html: str) -> dict:
    match = _DATA.search(html)
    assert match, "no data block in the page"
    return json.loads(match.group(1))


def test_page_data_from_the_demo_selection(demo_selection: Path) -> None:
    sel = find_selection(demo_selection)
    assert sel.budgets == [20, 50, 100]
    assert sel.meta_path == demo_selection / "budget-100" / "selection.json"
    pool, queries = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    data = page_data(sel, pool=pool, queries=queries)
    h = data["header"]
    assert (h["method"], h["representation"]["name"], h["budgets"], h["n_picks"]) == (
        "round_robin",
        "lexical",
        [20, 50, 100],
        100,
    )
    assert h["pool"]["rows"] == 2470 and h["pool"]["fingerprint"] == pool.fingerprint
    assert h["queries"]["rows"] == 50 and h["queries"]["fingerprint"] == queries.fingerprint
    # composition: pool counts per source, subset labels index into the same list
    src = pool.column("source")
    assert dict(zip(data["labels"], data["pool_counts"], strict=True)) == {s: src.count(s) for s in set(src)}
    subset = load_examples(sel.subset_path)
    assert [data["labels"][c] for c in data["picks"]["label"]] == subset.column("source")
    # per pick: the query that chose it and its score, as selection.json records; the full conversation
    picks = sel.meta["picks"]
    assert data["picks"]["query"] == [p["query_index"] for p in picks]
    assert data["picks"]["score"] == pytest.approx([p["score"] for p in picks], abs=1e-5)
    assert data["picks"]["id"] == [p["id"] for p in picks]
    assert data["conversations"][7] == [[m["role"], m["content"]] for m in subset.messages(7)]
    assert data["queries"][3] == [[m["role"], m["content"]] for m in queries.messages(3)]
    assert data["diagnosis"] is None and data["notes"] == []


def test_explore_cli_writes_one_self_contained_page(demo_selection: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "page.html"
    assert main(["explore", str(demo_selection), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    # nothing to fetch: no external scripts, styles, images or links (the SVG namespace is a name, not a fetch)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]
    data = _embedded(html)
    assert data["header"]["budgets"] == [20, 50, 100] and len(data["conversations"]) == 100
    assert data["queries"] is not None and len(data["queries"]) == 50  # read from the path selection.json records
    assert "round_robin" in html[: html.index("<main>")]  # the header is in the HTML itself


def test_text_that_looks_like_markup_cannot_end_the_data_block(tmp_path: Path) -> None:
    nasty = '</script><script>alert("x")</script><!-- & \u2028'
    pool = ExampleSet.from_records(
        [{"prompt": nasty, "completion": "fine", "source": "<b>s</b>"}, {"prompt": "q", "completion": "a"}]
    )
    export(pool, select(np.array([[0.9, 0.1]]), budget=2), tmp_path)
    page = write_page(tmp_path, pool=pool)
    html = page.read_text(encoding="utf-8")
    assert html.count("</script>") == 2  # the data block's and the script's own
    data = _embedded(html)
    assert data["conversations"][0][0] == ["user", nasty]
    assert "(none)" in data["labels"] and "<b>s</b>" in data["labels"]
    assert json.loads(embed_json({"t": nasty})) == {"t": nasty}


def test_budgets_of_a_single_folder_and_page_paths(tmp_path: Path) -> None:
    pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(5)])
    r = select(np.array([[0.1, 0.9, 0.5, 0.3, 0.2]]), budget=3)
    export(pool, r, tmp_path / "one")
    export(pool, r, tmp_path / "file" / "picked.jsonl")
    sel = find_selection(tmp_path / "one")
    assert sel.budgets == [3] and sel.default_page_path() == tmp_path / "one" / "explore.html"
    assert find_selection(tmp_path / "one" / "selection.json").default_page_path() == tmp_path / "one" / "explore.html"
    f = find_selection(tmp_path / "file" / "picked.selection.json")
    assert f.subset_path.name == "picked.jsonl" and f.default_page_path() == tmp_path / "file" / "picked.html"
    data = page_data(sel)
    assert data["by"] is None and "no `source` column" in data["notes"][0]
    assert data["pool_counts"] is None and data["queries"] is None


def test_composition_by_another_column_and_many_labels(demo_selection: Path) -> None:
    data = page_data(find_selection(demo_selection), by="id")
    assert data["by"] == "id" and len(data["labels"]) == 100 and data["pool_counts"] is None
    with pytest.raises(ConfigurationError, match="no such column; choose one of: id, source, meta"):
        page_data(find_selection(demo_selection), by="topic")


def test_a_saved_diagnosis_is_found_and_shown(demo_selection: Path, tmp_path: Path) -> None:
    from targetsel.diagnose import diagnose_selection
    from targetsel.represent import LexicalRepresentation

    sel_dir = tmp_path / "sel"
    shutil.copytree(demo_selection, sel_dir)
    sel = find_selection(sel_dir)
    pool, queries = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    diag = diagnose_selection(sel.meta, pool, queries, LexicalRepresentation(), budgets=[20, 100], random_subsets=3)
    diag.save(sel_dir / "diagnosis")
    found = find_diagnosis(sel)
    assert found is not None and [p["budget"] for p in found["points"]] == [20, 100]
    view = page_data(sel, diagnosis=found)["diagnosis"]
    assert view["representation"] == "lexical" and view["random"]["subsets"] == 3
    p = view["points"][0]
    assert p["w1"] == pytest.approx(diag.points[0].w1, abs=1e-5) and p["random_mean"] > p["w1"]
    assert page_data(sel, diagnosis=found)["notes"] == []
    other = {"info": {"method": "random", "n_picks": 20}, "points": found["points"]}
    assert "made for random with 20 picks" in page_data(sel, diagnosis=other)["notes"][0]
    with pytest.raises(MissingArtifactError, match=r"no diagnosis\.json"):
        find_diagnosis(sel, tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing", "no such file or directory"),
        ("empty", "not a selection folder"),
        ("bad-json", "not valid JSON"),
        ("no-subset", "no subset.jsonl or subset.parquet"),
        ("by", "--by 'topic': the subset has no such column"),
        ("out-dir", "is a folder; pass a file name"),
        ("both", "not both"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: str, needle: str, demo_selection: Path, tmp_path: Path, capsys
) -> None:
    target, extra = tmp_path / "sel", []
    if case == "empty":
        target.mkdir()
    elif case in ("bad-json", "no-subset"):
        target.mkdir()
        if case == "bad-json":
            (target / "selection.json").write_text("{not json", encoding="utf-8")
        else:
            shutil.copy(demo_selection / "budget-20" / "selection.json", target / "selection.json")
    elif case != "missing":
        shutil.copytree(demo_selection / "budget-20", target)
        extra = {
            "by": ["--by", "topic"],
            "out-dir": ["-o", str(tmp_path)],
            "both": ["--diagnose", "--diagnosis", str(tmp_path)],
        }[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["explore", str(target), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("targetsel: error:") and needle in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no page, no temporary file


def test_select_html_writes_the_page_beside_the_subset(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["select", "-r", "lexical", "--budgets", "10,30", "--no-store", "-o", str(out), "--html", "-q"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["budget-10", "budget-30", "contamination.jsonl", "explore.html"]
    data = _embedded((out / "explore.html").read_text(encoding="utf-8"))
    assert data["header"]["budgets"] == [10, 30] and len(data["picks"]["id"]) == 30
    assert sum(data["pool_counts"]) == 2470 and len(data["queries"]) == 50


def test_render_page_header_is_escaped() -> None:
    html = render_page({"header": {"method": "<i>m</i>", "budgets": [1], "representation": {}}, "notes": ["a<b"]})
    head = html[: html.index("<main>")]
    assert "&lt;i&gt;m&lt;/i&gt;" in head and "<i>m</i>" not in head and "a&lt;b" in head


def test_help_has_examples(capsys) -> None:
    assert main(["explore", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out and "--diagnose" in out and "--by" in out and "SELECTION_DIR" in out
