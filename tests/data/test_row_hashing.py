"""Hashing rows from Arrow: the same canonical JSON and fingerprints as the row-by-row definition.

Every store manifest holds a pool fingerprint, so the faster hashing must give exactly the value
of the definition (SHA-256 over ``id NUL canonical_json(messages) SOH``, row by row) for every
layout: sliced and multi-chunk columns, reordered selections, awkward characters, other structs.
"""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa
import pytest

from targetsel.data import ExampleSet
from targetsel.data.messages import canonical_json, canonical_messages_json

AWKWARD = ['say "hi"', "back\\slash", "tab\tnew\nline\r", "bell\x07 nul\x00", "é ü 漢字 🙂", "\u2028sep", " ", "}]{["]


def reference_fingerprint(es: ExampleSet) -> str:
    h = hashlib.sha256()
    for i, msgs in enumerate(es.dataset["messages"]):
        h.update(es.ids[i].encode("utf-8") + b"\x00" + canonical_json(msgs).encode("utf-8") + b"\x01")
    return h.hexdigest()


def chats(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        turns = [
            {"role": "user", "content": f"{rng.choice(AWKWARD)} {i}"},
            {"role": "assistant", "content": rng.choice(AWKWARD) + str(i)},
        ]
        rows.append({"id": f"x{i}", "messages": turns * rng.randint(1, 3)})  # 2, 4 or 6 turns
    return rows


def test_arrow_json_equals_canonical_json_for_every_layout() -> None:
    msgs = [r["messages"] for r in chats(60)]
    plain = pa.array(msgs)
    want = [canonical_json(m) for m in msgs]
    assert list(canonical_messages_json(plain)) == want
    assert list(canonical_messages_json(plain.slice(17, 20))) == want[17:37]  # an offset into the buffers
    chunked = pa.chunked_array([plain.slice(0, 10), plain.slice(10, 0), plain.slice(10, 50)])
    assert list(canonical_messages_json(chunked)) == want
    large = plain.cast(pa.large_list(pa.struct([("role", pa.large_string()), ("content", pa.large_string())])))
    assert list(canonical_messages_json(large)) == want
    swapped = plain.cast(pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())])))
    assert list(canonical_messages_json(swapped)) == want


@pytest.mark.parametrize(
    "rows",
    [
        [[{"role": "user", "content": "a", "name": "n"}, {"role": "assistant", "content": "b", "name": None}]],
        [[{"role": "user", "content": "a"}, {"role": "assistant", "content": None}]],
        [[{"role": "user", "content": "a"}], None],
        [[]],
    ],
    ids=["extra field", "null content", "null row", "no turns"],
)
def test_other_layouts_fall_back_to_python_objects(rows: list) -> None:
    col = pa.array(rows)
    assert list(canonical_messages_json(col)) == [canonical_json(m) for m in col.to_pylist()]


def test_fingerprints_equal_the_row_by_row_definition() -> None:
    es = ExampleSet.from_records(chats(50))
    assert es.fingerprint == reference_fingerprint(es)
    picked = es.select([7, 3, 3, 49, 0, 12])  # an indices mapping over the table, a row twice
    assert picked.fingerprint == reference_fingerprint(picked)
    parts = es.shard_fingerprints(8)
    for i, fp in enumerate(parts):
        assert fp == reference_fingerprint(es.select(range(8 * i, min(50, 8 * i + 8))))
    assert es.shard_fingerprints(50) == [es.fingerprint] and es.select([]).shard_fingerprints(4) == []
