"""Fuzzed bad input: whatever the rows, budgets or features, the API raises a targetsel error
(naming the file and row for data) and the CLI prints one line and exits 2 — never a traceback,
a hang, or partial output."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targetsel.cli import main
from targetsel.data import ROLES, load_examples
from targetsel.errors import InvalidDataError, TargetselError
from targetsel.score import Scores, score
from targetsel.select import SELECTORS, select

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
role = st.one_of(st.sampled_from([*ROLES, "bot", "", "USER"]), json_scalar)
content = st.one_of(
    st.text(max_size=30), st.just(""), st.just("   "), json_scalar, st.text(min_size=2000, max_size=3000)
)
turn = st.one_of(st.fixed_dictionaries({"role": role, "content": content}), json_value)
row = st.one_of(
    st.fixed_dictionaries({"messages": st.one_of(st.lists(turn, max_size=4), json_value)}),
    st.fixed_dictionaries(
        {"id": st.one_of(st.text(max_size=3), st.integers(0, 3), json_scalar), "messages": st.lists(turn, max_size=3)}
    ),
    st.fixed_dictionaries({"prompt": content, "completion": content}),
    st.fixed_dictionaries({"instruction": content, "input": content, "output": content}),
    json_value,
)
line = st.one_of(
    row.map(json.dumps), st.binary(max_size=40).map(lambda b: b.decode("latin-1")), st.just("{broken"), st.just("")
)


def write_lines(path: Path, lines: list[str], raw: bytes | None = None) -> Path:
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8", errors="surrogateescape")
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, max_size=6))
def test_loader_accepts_valid_rows_or_names_the_bad_one(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_lines(Path(d) / "pool.jsonl", lines)
        try:
            es = load_examples(path)
        except InvalidDataError as exc:
            msg = str(exc)
            assert str(path) in msg and ("row " in msg or "no valid rows" in msg or "cannot" in msg), msg
            return
        for msgs in es.iter_messages():
            assert msgs and any(m["role"] == "assistant" for m in msgs)
            assert all(m["role"] in ROLES and m["content"].strip() for m in msgs)
        assert len(set(es.ids)) == len(es)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(line, min_size=1, max_size=5), budget=st.integers(-5, 12), raw=st.booleans())
def test_cli_select_exits_0_or_2_with_one_line(
    lines: list[str], budget: int, raw: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as d:
        dp = Path(d)
        pool = write_lines(dp / "pool.jsonl", lines, raw=b"\xff\xfe\x00garbage\n" if raw else None)
        query = write_lines(dp / "q.jsonl", [json.dumps({"prompt": "p", "completion": "c"})])
        out = dp / "out"
        capsys.readouterr()
        rc = main(
            [
                "select",
                "--pool",
                str(pool),
                "--query",
                str(query),
                "--budget",
                str(budget),
                "-r",
                "lexical",
                "--no-store",
                "-o",
                str(out),
                "-q",
            ]
        )
        err = capsys.readouterr().err.strip()
        assert rc in (0, 2)
        if rc == 2:
            assert len(err.splitlines()) == 1 and err.startswith("targetsel: error:") and "Traceback" not in err
            assert not out.exists()
        else:
            assert (out / "subset.jsonl").read_text().count("\n") == budget


@pytest.mark.parametrize("method", sorted(SELECTORS))
@pytest.mark.parametrize("budget", [0, -1, 10**12, 2.5, True])
def test_every_selector_rejects_bad_budgets(method: str, budget) -> None:
    s = Scores.from_matrix(np.random.default_rng(0).random((3, 20)))
    with pytest.raises(TargetselError):
        select(s, method, budget=budget)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_and_scores(bad: float) -> None:
    rng = np.random.default_rng(0)
    c = rng.normal(size=(10, 4))
    c[7, 2] = bad
    with pytest.raises(InvalidDataError, match="row 7"):
        score(rng.normal(size=(2, 4)), c)
    m = rng.random((2, 10))
    m[1, 3] = bad
    with pytest.raises(InvalidDataError):
        select(m, "round_robin", budget=2)


def test_store_from_another_dataset_and_truncated_shard_via_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.dumps({"prompt": f"p{i}", "completion": "c"}) for i in range(10)]
    a = write_lines(tmp_path / "a.jsonl", rows)
    # another pool, not a grown or shrunk one (a prefix of `a` would reuse its first shards)
    b = write_lines(tmp_path / "b.jsonl", [json.dumps({"prompt": f"q{i}", "completion": "d"}) for i in range(9)])
    store = tmp_path / "s"
    assert main(["encode", str(a), "--store", str(store), "-r", "lexical", "-q", "--shard-size", "4"]) == 0
    capsys.readouterr()
    assert main(["encode", str(b), "--store", str(store), "-r", "lexical", "-q", "--shard-size", "4"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    shard = store / "shard-00001.npy"
    shard.write_bytes(shard.read_bytes()[:60])
    from targetsel.store import FeatureStore

    with pytest.raises(TargetselError, match="shard"):
        FeatureStore.open(store).to_array()
