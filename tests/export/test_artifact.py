"""SelectionArtifact: what it writes it reads back, every name of the layout is one it writes, a folder
that is not a selection is one clear error, and no other module spells the layout's file names."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import targetsel
from targetsel.cli import main
from targetsel.data import ExampleSet
from targetsel.decontaminate import Contamination
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.explore import write_page
from targetsel.export import SelectionArtifact
from targetsel.export import layout as names
from targetsel.export.formats import EXPORT_FORMATS
from targetsel.export.layout import (
    CONTAMINATION_FILE,
    DUPLICATES_FILE,
    EXPLORE_PAGE,
    SELECTION_FILE,
    SUBSET_FILES,
    TRAINER_FILES,
    budget_dir,
)
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
from targetsel.select import select
from targetsel.select.dedup import DedupResult, DedupSettings

_COPIED = "the quick brown fox jumps over the lazy dog near the quiet river bank every single morning"


def _pool() -> ExampleSet:
    rows = [{"id": "copy", "prompt": _COPIED, "completion": "yes", "source": "x"}]
    rows += [
        {
            "id": f"r{i}",
            "prompt": f"{('apples', 'trains')[i % 2]} question {i % 12} about one shared topic",
            "completion": "a",
        }
        for i in range(40)  # twelve texts: near-duplicate control has rows to skip
    ]
    return ExampleSet.from_records(rows, source="pool")


def _queries(word: str, first: str | None = None) -> ExampleSet:
    rows = [{"prompt": f"{word} question {i}", "completion": "b"} for i in range(3)]
    if first is not None:
        rows[0]["prompt"] = first
    return ExampleSet.from_records(rows, source=word)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_round_trip_of_every_step(tmp_path: Path) -> None:
    pool, out = _pool(), tmp_path / "out"
    queries = {"a": _queries("apples", _COPIED), "b": _queries("trains")}
    res = run_selection(
        pool,
        queries,
        LexicalRepresentation(dim=64),
        budgets=[4, 8],
        output=out,
        dedup=DedupSettings(text_threshold=0.3),
    )
    art = SelectionArtifact.open(out)
    assert art.budgets() == [4, 8] and art.largest().path == out / budget_dir(8)
    meta = art.read_selection()
    assert meta.model_dump(exclude_unset=True) == json.loads((out / budget_dir(8) / SELECTION_FILE).read_text())
    assert [t.name for t in meta.targets.targets] == ["a", "b"] and meta.decontamination.removed == 1
    assert art.load_subset().ids == [p.id for p in meta.picks] == [pool.ids[i] for i in res.ranking.indices[:8]]
    # the reports: written once beside the budgets, each budget's selection.json naming them
    assert res.contamination_path == art.contamination_path == out / CONTAMINATION_FILE
    assert res.dedup_path == art.duplicates_path == out / DUPLICATES_FILE
    assert art.read_report("decontamination") == _lines(res.contamination.jsonl())
    assert art.read_report("dedup") == _lines(res.dedup.jsonl(pool.ids)) != []
    assert art.read_report("dedup", limit=1) == _lines(res.dedup.jsonl(pool.ids))[:1]
    for b in (4, 8):
        one = SelectionArtifact.open(out / budget_dir(b) / SELECTION_FILE)
        assert one.budgets() == [b] and one.read_selection().budget == b
        assert one.report_path("decontamination").resolve() == out / CONTAMINATION_FILE
    with pytest.raises(ConfigurationError, match="step must be one of"):
        art.report_path("scores")


def test_every_name_of_the_layout_is_written(tmp_path: Path) -> None:
    pool = _pool()
    ranking = select(np.random.default_rng(0).random((2, len(pool))), "round_robin", budget=3)
    reports = {
        "contamination": Contamination(n_pool=len(pool)),
        "dedup": DedupResult(DedupSettings(threshold=0.9), np.arange(3), walked=3),
    }
    seen: set[str] = set()
    for fmt in EXPORT_FORMATS:
        art = SelectionArtifact(tmp_path / fmt)
        art.write_budgets(pool, ranking, [2, 3], format=fmt, **reports)
        seen |= {p.name for p in art.path.rglob("*") if p.parent in (art.path, art.path / budget_dir(3))}
    write_page(tmp_path / "jsonl", pool=pool)
    seen |= {p.name for p in (tmp_path / "jsonl").iterdir()}
    used = {
        "SELECTION_FILE": SELECTION_FILE in seen,
        "SUBSET_FILES": set(SUBSET_FILES.values()) <= seen,
        "LLAMAFACTORY_INFO_FILE": names.LLAMAFACTORY_INFO_FILE in seen,
        "AXOLOTL_DATASETS_FILE": names.AXOLOTL_DATASETS_FILE in seen,
        "TRAINER_FILES": set(TRAINER_FILES.values()) <= seen,
        "CONTAMINATION_FILE": CONTAMINATION_FILE in seen,
        "DUPLICATES_FILE": DUPLICATES_FILE in seen,
        "REPORT_FILES": set(names.REPORT_FILES.values()) <= seen,
        "EXPLORE_PAGE": EXPLORE_PAGE in seen,
        "BUDGET_PREFIX": {budget_dir(2), budget_dir(3)} <= seen,
        "FILE_FORMATS": all(SelectionArtifact(tmp_path / f"s.{f}").is_file for f in names.FILE_FORMATS),
    }
    constants = {n for n in names.__all__ if n.isupper()}
    assert set(used) == constants, "a layout constant this test does not check"
    assert all(used.values()), [n for n, ok in used.items() if not ok]
    assert set(SUBSET_FILES) == set(EXPORT_FORMATS)


def test_a_subset_file_with_its_sidecars(tmp_path: Path) -> None:
    pool = _pool()
    ranking = select(np.random.default_rng(1).random((2, len(pool))), "round_robin", budget=5)
    contamination = Contamination(n_pool=len(pool))
    art = SelectionArtifact(tmp_path / "sub.parquet")
    with pytest.raises(ConfigurationError, match="one folder each"):
        art.write_budgets(pool, ranking, [2, 5], format="parquet", contamination=contamination)
    assert not any(tmp_path.iterdir())
    for _ in range(2):  # written again over the first run's files
        art.write_budgets(pool, ranking, [5], format="parquet", contamination=contamination)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"sub.{CONTAMINATION_FILE}",
        "sub.parquet",
        f"sub.{SELECTION_FILE}",
    ]
    assert art.page_path == tmp_path / "sub.html"
    for given in ("sub.parquet", f"sub.{SELECTION_FILE}"):
        found = SelectionArtifact.open(tmp_path / given)
        assert found.path == art.path and found.find_subset() == art.path
        assert found.read_report("decontamination") == [] and found.report_path("dedup") is None
        assert found.load_subset().ids == [pool.ids[i] for i in ranking.indices]


def _truncated(folder: Path) -> None:
    export_one(folder)
    meta = folder / SELECTION_FILE
    meta.write_bytes(meta.read_bytes()[:200])


def _wrong_type(folder: Path) -> None:
    export_one(folder)
    meta = folder / SELECTION_FILE
    doc = json.loads(meta.read_text())
    doc["picks"][0]["score"] = "high"
    meta.write_text(json.dumps(doc))


def export_one(folder: Path) -> None:
    pool = _pool()
    SelectionArtifact(folder).write(pool, select(np.ones((1, len(pool))), "random", budget=3))


_BAD = {
    "missing": (lambda f: None, MissingArtifactError, "no such file or directory"),
    "empty": (lambda f: f.mkdir(), MissingArtifactError, "not a selection folder"),
    "other files": (
        lambda f: (f.mkdir(), (f / "notes.txt").write_text("x"), (f / "budget-x").mkdir()),
        MissingArtifactError,
        "not a selection folder",
    ),
    "a budget folder without its file": (
        lambda f: (f.mkdir(), (f / budget_dir(5)).mkdir()),
        MissingArtifactError,
        "not a selection folder",
    ),
    "truncated": (_truncated, InvalidDataError, "not valid JSON"),
    "wrong type": (_wrong_type, InvalidDataError, "must be a number, got 'high'"),
}


@pytest.mark.parametrize("case", sorted(_BAD))
def test_not_a_selection_is_one_clear_error(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, error, needle = _BAD[case]
    folder = tmp_path / "sel"
    make(folder)
    with pytest.raises(error, match=needle):
        SelectionArtifact.open(folder)
    argvs = (
        ["explore", str(folder), "-o", str(tmp_path / "page.html"), "-q"],
        ["diagnose", "-s", str(folder), "-r", "lexical", "--no-store", "-o", str(tmp_path / "diag"), "-q"],
    )
    for argv in argvs:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("targetsel: error:") and needle in err, err


def test_other_paths_and_a_missing_subset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "lonely.jsonl").write_text("{}\n")
    for name in ("notes.txt", "lonely.jsonl"):
        with pytest.raises(MissingArtifactError, match="not a selection"):
            SelectionArtifact.open(tmp_path / name)
    export_one(tmp_path / "sel")
    (tmp_path / "sel" / SUBSET_FILES["jsonl"]).unlink()
    with pytest.raises(MissingArtifactError, match="the selection is incomplete"):
        SelectionArtifact.open(tmp_path / "sel").find_subset()
    bad = tmp_path / "sel" / CONTAMINATION_FILE
    bad.write_text("[1]\n")
    doc = json.loads((tmp_path / "sel" / SELECTION_FILE).read_text())
    doc["decontamination"] = Contamination(n_pool=doc["pool"]["rows"]).block(CONTAMINATION_FILE)
    (tmp_path / "sel" / SELECTION_FILE).write_text(json.dumps(doc))
    with pytest.raises(InvalidDataError, match="line 1 is not a record"):
        SelectionArtifact.open(tmp_path / "sel").read_report("decontamination")


# ------------------------------------------------------------------ the layout's names, in one module
_NAMES = {SELECTION_FILE, CONTAMINATION_FILE, DUPLICATES_FILE, EXPLORE_PAGE, *TRAINER_FILES.values()}
_NAMES |= set(SUBSET_FILES.values()) - {SUBSET_FILES["hf"]}  # "subset" alone is also a word: see _joins
_PREFIXES = (names.BUDGET_PREFIX, CONTAMINATION_FILE.split(".")[0] + "-", DUPLICATES_FILE.split(".")[0] + "-")


def _spells_a_name(text: str) -> bool:
    """A literal (or a literal part of an f-string) that names a layout file or builds one's name."""
    base = text.strip().lstrip("^").rsplit("/", 1)[-1]
    return (
        base in _NAMES
        or base.startswith(_PREFIXES)
        or any(base == f".{n}" or base.endswith(f".{n}") for n in _NAMES if n.count(".") == 1)
    )


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, nodes) and n.body and isinstance(n.body[0], ast.Expr)
        if isinstance(n.body[0].value, ast.Constant)
    }


def _joins(tree: ast.AST) -> list[str]:
    """``x / "subset"`` and ``x.with_name("subset")``: the ``hf`` subset folder's name in a path."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and isinstance(n.right, ast.Constant):
            out.append(n.right.value)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("with_name", "joinpath"):
            out += [a.value for a in n.args if isinstance(a, ast.Constant)]
    return [v for v in out if v == SUBSET_FILES["hf"]]


def test_no_other_module_spells_the_layout() -> None:
    src = Path(targetsel.__file__).parent
    layout = Path(names.__file__)
    found = []
    for path in sorted(src.rglob("*.py")):
        if path == layout:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            literal = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            if literal and _spells_a_name(node.value):
                found.append(f"{path.relative_to(src)}:{node.lineno}: {node.value!r}")
        found += [f"{path.relative_to(src)}: / {v!r}" for v in _joins(tree)]
    assert not found, "use the constants of targetsel.export.layout:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "text",
    ["selection.json", "out/contamination.jsonl", "budget-", "^budget-(\\d+)$", ".selection.json", "contamination-"],
)
def test_the_scan_sees_a_spelled_name(text: str) -> None:
    assert _spells_a_name(text)
    assert not _spells_a_name(f"read {text} first")  # prose in a message is not a path
