"""Files saved by Windows tools load: a UTF-8 byte-order mark and/or CRLF line ends."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.data import load_examples
from targetsel.errors import InvalidDataError

BOM = b"\xef\xbb\xbf"
ROWS = [
    {"id": "a", "messages": [{"role": "user", "content": "été?"}, {"role": "assistant", "content": "oui"}]},
    {"id": "b", "prompt": "2+2", "completion": "4"},
]


def _jsonl(crlf: bool) -> bytes:
    end = "\r\n" if crlf else "\n"
    return end.join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode() + end.encode()


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".jsonl.gz"])
def test_bom_and_crlf_load_the_same_rows(tmp_path: Path, bom: bool, crlf: bool, suffix: str) -> None:
    if suffix == ".json":
        body = json.dumps(ROWS, ensure_ascii=False, indent=1).encode()
        body = body.replace(b"\n", b"\r\n") if crlf else body
    else:
        body = _jsonl(crlf)
    body = BOM + body if bom else body
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(gzip.compress(body) if suffix.endswith(".gz") else body)
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(_jsonl(False))
    got, want = load_examples(path), load_examples(plain)
    assert len(got) == 2 and got.messages(0)[0]["content"] == "été?"
    assert got.fingerprint == want.fingerprint  # same content, same fingerprint


def test_a_bad_row_after_a_bom_keeps_its_row_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(BOM + _jsonl(True) + b"{broken\r\n")
    with pytest.raises(InvalidDataError, match="row 3: invalid JSON"):
        load_examples(path)


def test_the_cli_selects_from_a_bom_crlf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = tmp_path / "pool.jsonl"
    rows = [{"prompt": f"what is {i} plus {i}", "completion": str(2 * i)} for i in range(12)]
    pool.write_bytes(BOM + "\r\n".join(json.dumps(r) for r in rows).encode() + b"\r\n")
    query = tmp_path / "q.jsonl"
    query.write_bytes(BOM + json.dumps({"prompt": "what is 3 plus 3", "completion": "6"}).encode() + b"\r\n")
    argv = [
        "select",
        "--pool",
        str(pool),
        "--query",
        str(query),
        "-r",
        "lexical",
        "-b",
        "3",
        "-o",
        str(tmp_path / "o"),
        "--no-store",
        "--quiet",
    ]
    assert main(argv) == 0
    assert len((tmp_path / "o" / "subset.jsonl").read_text().splitlines()) == 3
