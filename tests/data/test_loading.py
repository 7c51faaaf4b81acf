"""Data layer: every input format, conversions, ids, fingerprints and validation errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pytest

from targetsel.data import ExampleSet, load_examples, normalize_row, render_text
from targetsel.errors import InvalidDataError, MissingArtifactError

CHAT = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def rows3() -> list[dict]:
    return [
        {"id": "a", "messages": CHAT, "source": "math"},
        {"id": "b", "messages": [{"role": "system", "content": "Be brief."}, *CHAT], "source": "math"},
        {
            "id": "c",
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "source": "chat",
        },
    ]


def test_jsonl_keeps_columns_and_ids(tmp_path: Path) -> None:
    es = load_examples(write_jsonl(tmp_path / "p.jsonl", rows3()))
    assert len(es) == 3 and es.ids == ["a", "b", "c"]
    assert es.column("source") == ["math", "math", "chat"]
    assert es.messages(1)[0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "disk", "jsonl.gz", "json-array"])
def test_other_formats_give_the_same_examples(tmp_path: Path, fmt: str) -> None:
    ref = load_examples(write_jsonl(tmp_path / "p.jsonl", rows3()))
    ds = datasets.Dataset.from_list(rows3())
    if fmt == "parquet":
        path = tmp_path / "p.parquet"
        ds.to_parquet(str(path))
    elif fmt == "arrow":
        ds.save_to_disk(str(tmp_path / "saved"))
        path = next((tmp_path / "saved").glob("*.arrow"))
    elif fmt == "disk":
        path = tmp_path / "saved"
        datasets.DatasetDict({"train": ds}).save_to_disk(str(path))
    elif fmt == "jsonl.gz":
        path = tmp_path / "p.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write("\n".join(json.dumps(r) for r in rows3()))
    else:
        path = tmp_path / "p.json"
        path.write_text(json.dumps(rows3()))
    es = load_examples(path)
    assert es.ids == ref.ids
    assert es.fingerprint == ref.fingerprint


def test_conversions_to_messages() -> None:
    assert normalize_row({"prompt": "p", "completion": "c"}) == [
        {"role": "user", "content": "p"},
        {"role": "assistant", "content": "c"},
    ]
    assert normalize_row({"prompts": "p", "labels": ["c"]})[1] == {"role": "assistant", "content": "c"}
    assert normalize_row({"instruction": "Do", "input": "x", "output": "y"})[0]["content"] == "Do\n\nx"
    assert normalize_row({"instruction": "Do", "input": "", "output": "y"})[0]["content"] == "Do"


def test_converted_rows_keep_original_columns(tmp_path: Path) -> None:
    es = load_examples(write_jsonl(tmp_path / "q.jsonl", [{"prompt": "p", "completion": "c", "answer": "c"}]))
    assert set(es.column_names) >= {"prompt", "completion", "answer", "messages"}


def test_content_hash_ids_are_stable_and_unique(tmp_path: Path) -> None:
    rows = [{"messages": CHAT}, {"messages": CHAT}, {"prompt": "x", "completion": "y"}]
    a = load_examples(write_jsonl(tmp_path / "a.jsonl", rows))
    b = load_examples(write_jsonl(tmp_path / "b.jsonl", rows))
    assert a.ids == b.ids and len(set(a.ids)) == 3
    assert a.fingerprint == b.fingerprint
    changed = load_examples(write_jsonl(tmp_path / "c.jsonl", [*rows[:2], {"prompt": "x", "completion": "z"}]))
    assert changed.fingerprint != a.fingerprint


def test_mixed_type_metadata_column_round_trips(tmp_path: Path) -> None:
    rows = [{"messages": CHAT, "meta": {"n": 1}}, {"messages": CHAT, "meta": {"n": "one"}}]
    es = load_examples(write_jsonl(tmp_path / "m.jsonl", rows))
    assert es.json_columns == ["meta"]
    assert [r["meta"] for r in es.rows()] == [{"n": 1}, {"n": "one"}]


BAD_ROWS = {
    "invalid JSON": '{"messages": [',
    "no `messages`": {"text": "hello"},
    "`messages` is empty": {"messages": []},
    "unknown role": {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]},
    "no assistant turn": {"messages": [{"role": "user", "content": "x"}]},
    "empty or non-string content": {
        "messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "y"}]
    },
    "duplicate id": {"id": "a", "messages": CHAT},
    "not valid UTF-8": None,
}


@pytest.mark.parametrize("reason", list(BAD_ROWS))
def test_validation_names_file_and_row(tmp_path: Path, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"id": "a", "messages": CHAT})
    if reason == "not valid UTF-8":
        path.write_bytes(good.encode() + b"\n" + b'{"messages": "\xff\xfe"}\n')
    else:
        bad = BAD_ROWS[reason]
        write_jsonl(path, [good, bad if isinstance(bad, str) else json.dumps(bad)])
    with pytest.raises(InvalidDataError) as err:
        load_examples(path)
    msg = str(err.value)
    assert str(path) in msg and "row 2" in msg and reason.split()[0].strip("`") in msg
    es = load_examples(path, skip_invalid=True)
    assert len(es) == 1 and es.skipped == [2]


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError):
        load_examples(tmp_path / "nope.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InvalidDataError, match="unknown file type"):
        load_examples(tmp_path / "x.csv")


def test_all_rows_invalid_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError, match="no valid rows"):
        load_examples(write_jsonl(tmp_path / "e.jsonl", [{"x": 1}]), skip_invalid=True)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InvalidDataError, match="no valid rows"):
        load_examples(tmp_path / "empty.jsonl")


def test_render_text_turns() -> None:
    msgs = [{"role": "system", "content": "S"}, *CHAT]
    assert render_text(msgs, "user") == "What is 2+2?"
    assert render_text(msgs, "assistant") == "4"
    assert render_text(msgs, "all").startswith("System: S\nUser:")


def test_select_subset_keeps_ids() -> None:
    es = ExampleSet.from_records(rows3())
    sub = es.select([2, 0])
    assert sub.ids == ["c", "a"] and sub.column("source") == ["chat", "math"]
