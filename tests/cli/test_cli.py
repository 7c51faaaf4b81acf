"""The command line: verbs, help, outputs, and bad input → one stderr line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from targetsel.cli import main

CHAT = [{"role": "user", "content": "add 2 and 3"}, {"role": "assistant", "content": "5"}]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))


def write(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def tiny_pool(path: Path, n: int = 30) -> Path:
    rows = []
    for i in range(n):
        topic = "math" if i % 3 == 0 else "code"
        text = f"what is {i} plus {i + 1}" if topic == "math" else f"write a python function number {i}"
        rows.append(
            {
                "id": f"p{i}",
                "source": topic,
                "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": str(2 * i + 1)}],
            }
        )
    return write(path, rows)


def test_help_lists_every_verb_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in ("encode", "select", "demo", "report"):
        assert verb in out
    for verb in ("encode", "select", "demo"):
        assert main([verb, "--help"]) == 0
        assert "Examples" in capsys.readouterr().out


def test_select_end_to_end_lexical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = tiny_pool(tmp_path / "pool.jsonl")
    query = write(
        tmp_path / "q.jsonl",
        [{"prompt": "what is 1 plus 2", "completion": "3"}, {"prompt": "what is 7 plus 9", "completion": "16"}],
    )
    out = tmp_path / "out"
    rc = main(
        [
            "select",
            "--pool",
            str(pool),
            "--query",
            str(query),
            "--budgets",
            "5,10",
            "-r",
            "lexical",
            "-o",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    for b in (5, 10):
        rows = [json.loads(x) for x in (out / f"budget-{b}" / "subset.jsonl").read_text().splitlines()]
        assert len(rows) == b
        meta = json.loads((out / f"budget-{b}" / "selection.json").read_text())
        assert meta["budget"] == b and meta["representation"]["candidates"][0]["representation"] == "lexical"
    first5 = [json.loads(x)["source"] for x in (out / "budget-5" / "subset.jsonl").read_text().splitlines()]
    assert first5.count("math") >= 4
    stores = list((tmp_path / "cache" / "stores").iterdir())
    assert len(stores) == 2  # pool and query stores, reused by a rerun
    assert (
        main(
            [
                "select",
                "--pool",
                str(pool),
                "--query",
                str(query),
                "--budget",
                "3",
                "-r",
                "lexical",
                "-o",
                str(tmp_path / "o2"),
            ]
        )
        == 0
    )
    assert "top sources" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "stores").iterdir())) == 2


def test_encode_creates_and_resumes_store(tmp_path: Path) -> None:
    pool = tiny_pool(tmp_path / "pool.jsonl")
    args = ["encode", str(pool), "--store", str(tmp_path / "s"), "-r", "lexical", "--shard-size", "8", "-q"]
    assert main([*args, "--shard", "0/2"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").glob("shard-*")) == ["shard-00000.npy", "shard-00002.npy"]
    assert main(args) == 0
    assert len(list((tmp_path / "s").glob("shard-*"))) == 4


BAD_CASES = {
    "bad json": ['{"messages": ['],
    "unknown role": [{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}],
    "no assistant": [{"messages": [{"role": "user", "content": "x"}]}],
    "empty content": [{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}],
    "missing messages": [{"text": "x"}],
    "duplicate ids": [{"id": 1, "messages": CHAT}, {"id": 1, "messages": CHAT}],
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_pool_exit_2_one_line_nothing_written(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = write(tmp_path / "pool.jsonl", [{"id": 0, "messages": CHAT}, *BAD_CASES[case]])
    query = write(tmp_path / "q.jsonl", [{"prompt": "p", "completion": "c"}])
    out = tmp_path / "out"
    rc = main(["select", "--pool", str(pool), "--query", str(query), "--budget", "1", "-r", "lexical", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "row 2" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--budget", "999"], "exceeds the pool size"),
        (["--budget", "0"], "must be positive"),
        (["--budget", "-3"], "must be positive"),
        (["--budget", "2", "--method", "nope"], "--method must be one of doubly_greedy,"),
        (["--budget", "2", "-r", "nope"], "--representation must be one of embed,"),
        (["--budget", "2", "--format", "csv"], "--format"),
        (["--budget", "x"], "budget"),
        (["--budgets", "2,a"], "not an integer"),
        (["--budgets", "1,,2"], "has an empty entry"),
        (["--budgets", "2,"], "has an empty entry"),
        (["--method", "quantiles", "--method-param", "window=0"], "window must be a positive integer"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    pool = tiny_pool(tmp_path / "pool.jsonl", n=10)
    query = write(tmp_path / "q.jsonl", [{"prompt": "p", "completion": "c"}])
    rc = main(["select", "--pool", str(pool), "--query", str(query), "-r", "lexical", "-o", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err
    assert not (tmp_path / "o").exists()


def test_missing_input_and_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["select", "--pool", str(tmp_path / "none.jsonl"), "--query", str(tmp_path / "q.jsonl"), "--budget", "1"])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    pool = tiny_pool(tmp_path / "pool.jsonl", n=10)
    (tmp_path / "file").write_text("x")
    rc = main(
        [
            "select",
            "--pool",
            str(pool),
            "--query",
            str(pool),
            "--budget",
            "1",
            "-r",
            "lexical",
            "-o",
            str(tmp_path / "file" / "sub"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1


def test_console_script_subprocess_exit_code(tmp_path: Path) -> None:
    bad = write(tmp_path / "pool.jsonl", ["not json"])
    env = {**os.environ, "TARGETSEL_CACHE": str(tmp_path / "c")}
    proc = subprocess.run(
        [sys.executable, "-m", "targetsel", "encode", str(bad), "--store", str(tmp_path / "s"), "-r", "lexical"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "row 1: invalid JSON" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_quantiles_streaming_from_the_cli_equals_dense(tmp_path: Path) -> None:
    pool = tiny_pool(tmp_path / "pool.jsonl", n=30)
    query = write(
        tmp_path / "q.jsonl",
        [
            {"prompt": "what is 1 plus 2", "completion": "3"},
            {"prompt": "write a python function", "completion": "def f(): pass"},
        ],
    )
    common = ["select", "--pool", str(pool), "--query", str(query), "-r", "lexical", "--quiet", "--method", "quantiles"]
    params = ["--method-param", "q=3", "--method-param", "n=10", "--method-param", "window=4"]
    assert main([*common, *params, "-o", str(tmp_path / "dense")]) == 0
    # top-k 4: every window runs dry several times and is refilled by rescoring the store
    assert main([*common, *params, "--top-k", "4", "-o", str(tmp_path / "stream")]) == 0
    dense = (tmp_path / "dense" / "subset.jsonl").read_text()
    stream = (tmp_path / "stream" / "subset.jsonl").read_text()
    assert dense == stream and len(dense.splitlines()) == 30
    meta = json.loads((tmp_path / "stream" / "selection.json").read_text())
    assert meta["params"]["fills"] > 1
