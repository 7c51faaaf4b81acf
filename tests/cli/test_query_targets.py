"""``--query`` as ``select``, ``diagnose`` and ``explore`` read it: one path, or ``NAME=PATH`` each."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetsel.cli._common import parse_query_targets
from targetsel.errors import ConfigurationError


def test_paths_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_query_targets(None) is None and parse_query_targets([]) is None
    assert parse_query_targets(["a.jsonl", "b.jsonl"]) == Path("b.jsonl")  # a bare one given again replaces
    assert parse_query_targets(["math=a.jsonl"]) == Path("a.jsonl")
    assert parse_query_targets(["math=a.jsonl", "code=sub/b.jsonl"]) == {
        "math": Path("a.jsonl"),
        "code": Path("sub/b.jsonl"),
    }
    Path("x=y.jsonl").write_text("", encoding="utf-8")
    assert parse_query_targets(["x=y.jsonl"]) == Path("x=y.jsonl")  # an existing file is a path


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (["math=a.jsonl", "math=b.jsonl"], "--query names target 'math' twice"),
        (["math=a.jsonl", "code=./a.jsonl"], "targets 'math' and 'code' have the same query set (a.jsonl)"),
        (["math=a.jsonl", "code= "], "--query code=  names no query set"),
        (["math="], "--query math= names no query set; give NAME=PATH"),
        (["math=a.jsonl", "b.jsonl"], "--query b.jsonl has no name"),
    ],
)
def test_bad_queries(query: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as info:
        parse_query_targets(query)
    assert message in str(info.value) and "\n" not in str(info.value)
