"""Corrupt artifacts read back by the commands that read them: ``selection.json``, ``diagnosis.json``,
a store manifest, ``results.csv``, an experiment cell's ``done.json`` / ``results.json`` and the
experiment YAML.

Each artifact is made once per module from the bundled demo (by the code that normally writes it),
then mutated by hypothesis: a value replaced by one of another JSON type, a key removed, a key
added, the file cut to a prefix of its bytes. The reading command runs in-process and must exit 0
or 2, never raise; exit 2 prints exactly one line. Where the artifact's model says a value is
typed and required, a wrong type, a missing key or a cut file must exit 2; exit 0 is allowed only
where the model's docstring says the change is tolerated (unknown keys, optional keys, ``null``
where a value may be absent, free-form provenance).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targetsel.cli import main

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

#: One value of each JSON kind; a "wrong type" mutation picks one whose kind differs from the current value's.
_SAMPLES: dict[str, Any] = {"null": None, "bool": True, "number": 7.5, "string": "x", "list": [1], "object": {"k": 1}}

Path_ = tuple[str | int, ...]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):  # the first few elements stand for the rest
            yield from _paths(v, (*prefix, i))


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _mutate(doc: Any, data: st.DataObject) -> tuple[str, Path_, Any]:
    """Apply one mutation to ``doc`` in place: ``(kind, path, new value)``."""
    kind = data.draw(st.sampled_from(["type", "type", "delete", "extra"]), label="mutation")
    if kind == "extra":
        dicts = [p for p in _paths(doc) if isinstance(_get(doc, p), dict)]
        path = data.draw(st.sampled_from(dicts), label="path")
        _get(doc, path)["zz_unknown_key"] = data.draw(st.sampled_from(list(_SAMPLES.values())))
        return kind, path, None
    if kind == "delete":
        keys = [p for p in _paths(doc) if p and isinstance(_get(doc, p[:-1]), dict)]
        path = data.draw(st.sampled_from(keys), label="path")
        del _get(doc, path[:-1])[path[-1]]
        return kind, path, None
    path = data.draw(st.sampled_from(list(_paths(doc))), label="path")
    current = _get(doc, path)
    new = copy.deepcopy(
        data.draw(st.sampled_from([v for k, v in _SAMPLES.items() if k != _kind(current)]), label="value")
    )
    if not path:
        return kind, path, new
    _get(doc, path[:-1])[path[-1]] = new
    return kind, path, new


def _under(path: Path_, patterns: list[Path_]) -> bool:
    """Whether ``path`` starts with one of ``patterns`` (``"*"`` matches any key or index)."""
    return any(len(path) >= len(p) and all(q in ("*", a) for q, a in zip(p, path, strict=False)) for p in patterns)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    capsys.readouterr()
    rc = main(argv)  # an exception here (a traceback) fails the test
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.strip() and not line.startswith(("WARNING ", "INFO "))]
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        assert len(errors) == 1 and errors[0].startswith("targetsel: error: "), err
        assert "Traceback" not in err
    return rc


def _write_json(path: Path, doc: Any, *, indent: int | None = 1) -> None:
    path.write_text(json.dumps(doc, indent=indent), encoding="utf-8")


def _cut(raw: bytes, data: st.DataObject, end: int) -> bytes:
    """A prefix of ``raw`` that stops before byte ``end`` (so the document is never complete)."""
    return raw[: data.draw(st.integers(0, end - 1), label="cut")]


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A selection (lexical, round-robin, 20 picks) with its feature stores and diagnosis, a tidy
    results CSV, and an experiment whose cells are all done (their work replaced by fixed rows)."""
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import demo_pool_path, demo_query_path
    from targetsel.diagnose import diagnose_selection
    from targetsel.experiment import ExperimentConfig, run_experiment
    from targetsel.experiment import cells as cells_module
    from targetsel.pipeline import run_selection
    from targetsel.report import write_results
    from targetsel.represent import LexicalRepresentation

    root = tmp_path_factory.mktemp("artifacts")
    pool, queries = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    rep = LexicalRepresentation(dim=256)
    sel, stores = root / "sel", root / "stores"
    run_selection(pool, queries, rep, budgets=[20], output=sel, store_dir=stores)
    diagnose_selection(sel, pool, queries, rep, random_subsets=2).save(sel)

    rows = [
        {"experiment": "budget", "dataset": "math", "method": m, "budget": b, "bin": None, "seed": 0}
        | {"metric": "dev_loss", "value": 1.0 + b / 100 + (m == "Random")}
        for m in ("Random", "LEXICAL (RR)")
        for b in (20, 40)
    ]
    results = write_results(pd.DataFrame(rows), root / "results.csv")

    config = {
        "name": "art",
        "model": "smollm2-135m",
        "pool": "demo",
        "pool_limit": 200,
        "tasks": [{"name": "math"}],
        "representations": [{"name": "lexical", "params": {"dim": 64}}],
        "algorithms": ["round_robin"],
        "budgets": [10],
        "seeds": [0],
        "diagnose": {"enabled": False},
    }
    cfg_path = root / "experiment.yaml"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def fake_cell(self, cell, folder):  # the runner's bookkeeping is real, the cell's work is not
        return [
            {**{k: v for k, v in cell.identity().items() if k != "task"}, "dataset": cell.task}
            | {"metric": "dev_loss", "value": 1.5}
        ]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cells_module._Runner, "run_cell", fake_cell)
        run_experiment(ExperimentConfig.from_dict(config), root / "exp", report=False, quiet=True)
    return {"root": root, "sel": sel, "stores": stores, "results": results, "config": cfg_path, "exp": root / "exp"}


class _Restore:
    """Put a file back as it was after each example."""

    def __init__(self, path: Path) -> None:
        self.path, self.raw = path, path.read_bytes()

    def __enter__(self) -> bytes:
        return self.raw

    def __exit__(self, *exc: object) -> None:
        self.path.write_bytes(self.raw)


# ----------------------------------------------------------------------------------- selection.json
#: Where selection.json may change and still be read: free-form or partly typed provenance and
#: per-pick extras (tolerated, see ``targetsel.export.SelectionFile``).
_SELECTION_FREE: list[Path_] = [("params",), ("representation",), ("picks", "*", "zz_unknown_key")]
_SELECTION_OPTIONAL: list[Path_] = [("json_text_columns",), ("decontamination",)]
_SELECTION_NULLABLE: list[Path_] = [("queries",), ("picks", "*", "query_index"), ("picks", "*", "score")]
_SELECTION_NULLABLE += [("decontamination",)] + [
    ("decontamination", k) for k in ("n", "min_words", "parts", "threshold", "file")
]


def _must_fail(
    kind: str, path: Path_, new: Any, free: list[Path_], optional: list[Path_], nullable: list[Path_]
) -> bool:
    if kind == "extra" or _under(path, free):
        return False
    if kind == "delete":
        return not _under(path, optional)
    return not (new is None and any(len(p) == len(path) and _under(path, [p]) for p in nullable))


def _corrupt_json(
    target: Path,
    raw: bytes,
    data: st.DataObject,
    rules: tuple[list[Path_], list[Path_], list[Path_]],
    *,
    indent: int | None = 1,
) -> tuple[bool, str, Path_]:
    """Cut the JSON artifact ``target`` (its text ``raw``) short, or change one field of it.

    Returns whether its reader must refuse it, given the ``(free, optional, nullable)`` rules, and
    the mutation's kind and path (``"truncate"`` and ``()`` for a cut file).
    """
    doc = json.loads(raw)
    if data.draw(st.booleans(), label="truncate"):
        target.write_bytes(_cut(raw, data, raw.rindex(b"}")))
        return True, "truncate", ()
    kind, path, new = _mutate(doc, data)
    if not path and kind == "type":
        doc = new
    _write_json(target, doc, indent=indent)
    return _must_fail(kind, path, new, *rules), kind, path


@SETTINGS
@given(data=st.data())
def test_corrupt_selection_json(made: dict[str, Path], data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    meta_path = made["sel"] / "selection.json"
    out = made["root"] / "out"
    with _Restore(meta_path) as raw:
        must_fail, _, _ = _corrupt_json(
            meta_path, raw, data, (_SELECTION_FREE, _SELECTION_OPTIONAL, _SELECTION_NULLABLE)
        )
        command = data.draw(st.sampled_from(["explore", "diagnose"]), label="command")
        if command == "explore":
            argv = ["explore", str(made["sel"]), "-o", str(out / "page.html"), "--quiet"]
        else:
            argv = ["diagnose", "-s", str(made["sel"]), "-r", "lexical", "-p", "dim=256", "--no-store"]
            argv += ["--random-subsets", "0", "-o", str(out / "diag"), "--quiet"]
        rc = _run(argv, capsys)
        if must_fail:
            assert rc == 2


# ----------------------------------------------------------------------------------- diagnosis.json
_DIAGNOSIS_FREE: list[Path_] = [("info",)]
_DIAGNOSIS_OPTIONAL: list[Path_] = [("info",), ("points", "*", "composition"), ("points", "*", "random_mean")]
_DIAGNOSIS_OPTIONAL += [("points", "*", k) for k in ("random_std", "random_percentile", "random_z")]
_DIAGNOSIS_NULLABLE: list[Path_] = [("points", "*", k) for k in ("random_mean", "random_std", "random_percentile")]
_DIAGNOSIS_NULLABLE += [("points", "*", "random_z")]


@SETTINGS
@given(data=st.data())
def test_corrupt_diagnosis_json(made: dict[str, Path], data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    diag = made["sel"] / "diagnosis.json"
    with _Restore(diag) as raw:
        # info's typed keys (method, n_picks, settings.random_baseline...) fail too; anything else there is free
        must_fail, _, _ = _corrupt_json(diag, raw, data, (_DIAGNOSIS_FREE, _DIAGNOSIS_OPTIONAL, _DIAGNOSIS_NULLABLE))
        rc = _run(["explore", str(made["sel"]), "-o", str(made["root"] / "page.html"), "--quiet"], capsys)
        if must_fail:
            assert rc == 2


# ----------------------------------------------------------------------------------- store manifest
_MANIFEST_FREE: list[Path_] = [("params",)]  # a reuse key: any change is a mismatch (exit 2) or harmless
# shard_fingerprints: absent or null in stores written before pools could grow (they gain it later)
_MANIFEST_OPTIONAL: list[Path_] = [("library_version",), ("normalized",), ("shard_fingerprints",)]
_MANIFEST_NULLABLE: list[Path_] = [("library_version",), ("shard_fingerprints",)]


@settings(SETTINGS, max_examples=25)
@given(data=st.data())
def test_corrupt_store_manifest(made: dict[str, Path], data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    manifests = sorted(made["stores"].glob("*/manifest.json"))
    manifest = data.draw(st.sampled_from(manifests), label="store")
    with _Restore(manifest) as raw:
        must_fail, _, _ = _corrupt_json(
            manifest, raw, data, (_MANIFEST_FREE, _MANIFEST_OPTIONAL, _MANIFEST_NULLABLE), indent=2
        )
        out = made["root"] / "reselect"
        argv = ["select", "-r", "lexical", "-p", "dim=256", "--store-dir", str(made["stores"]), "-b", "20"]
        rc = _run([*argv, "-o", str(out), "--quiet"], capsys)
        shutil.rmtree(out, ignore_errors=True)
        if must_fail:
            assert rc == 2


# -------------------------------------------------------------------------------------- results.csv
@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_corrupt_results_csv(made: dict[str, Path], data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    csv = made["results"]
    with _Restore(csv) as raw:
        text = raw.decode()
        lines = text.splitlines()
        header = lines[0].split(",")
        how = data.draw(st.sampled_from(["cell", "cell", "drop_column", "extra_column", "truncate"]), label="how")
        must_fail = True
        if how == "truncate":
            cut = _cut(raw, data, len(raw))
            csv.write_bytes(cut)
            rest = cut.decode(errors="replace").split("\n")[-1]
            # a cut at a line end, or inside the last (value) field, leaves a shorter but well-formed table
            must_fail = rest.count(",") < len(header) - 1 and rest != ""
            must_fail = must_fail or len(cut) <= len(lines[0])
        else:
            table = [line.split(",") for line in lines]
            if how == "cell":
                row = data.draw(st.integers(1, len(table) - 1), label="row")
                col = data.draw(st.sampled_from(["experiment", "budget", "bin", "seed", "value"]), label="column")
                bad = {"experiment": "budgett", "budget": "twelve", "bin": "1.5", "seed": "x", "value": "high"}[col]
                table[row][header.index(col)] = bad
            elif how == "drop_column":
                col = data.draw(st.sampled_from(header), label="column")
                must_fail = col in ("dataset", "method", "metric", "value")
                i = header.index(col)
                table = [r[:i] + r[i + 1 :] for r in table]
            else:
                table = [[*r, v] for r, v in zip(table, ["note", *["n"] * (len(table) - 1)], strict=True)]
                must_fail = False  # extra columns are kept (read_results' docstring)
            csv.write_text("\n".join(",".join(r) for r in table) + "\n", encoding="utf-8")
        rc = _run(["report", str(csv), "-o", str(made["root"] / "report"), "--quiet"], capsys)
        if must_fail:
            assert rc == 2


# ----------------------------------------------------------------------------- experiment cell files
_DONE_FREE: list[Path_] = [("cell",)]


@SETTINGS
@given(data=st.data())
def test_corrupt_experiment_cell_files(
    made: dict[str, Path], data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(made["exp"].glob("cells/**/done.json")) + sorted(made["exp"].glob("cells/**/results.json"))
    target = data.draw(st.sampled_from(files), label="file")
    with _Restore(target) as raw:
        nullable = [("rows", "*", k) for k in ("budget", "bin", "seed")]
        must_fail, kind, path = _corrupt_json(target, raw, data, (_DONE_FREE, [], nullable))
        # results.json rows refuse unknown keys; elsewhere unknown keys are ignored
        must_fail = must_fail or (kind == "extra" and _under(path, [("rows", "*")]))
        argv = ["experiment", "run", str(made["config"]), "-o", str(made["exp"]), "--no-report", "--quiet"]
        rc = _run(argv, capsys)
        if must_fail:
            assert rc == 2


# ------------------------------------------------------------------------------------ experiment YAML
@SETTINGS
@given(data=st.data())
def test_corrupt_experiment_yaml(
    made: dict[str, Path], data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    config = made["config"]
    with _Restore(config) as raw:
        doc = yaml.safe_load(raw)
        if data.draw(st.booleans(), label="truncate"):
            config.write_bytes(_cut(raw, data, len(raw)))  # a prefix of YAML may well be a valid config
        else:
            kind, path, new = _mutate(doc, data)
            config.write_text(yaml.safe_dump(new if (not path and kind == "type") else doc), encoding="utf-8")
        _run(["experiment", "run", str(config), "-o", str(made["exp"]), "--dry-run"], capsys)
