"""Pools that grow: a changed pool re-encodes only the shards whose rows changed (targetsel.store.grow).

Every case checks the files themselves: a reused shard keeps its inode, mtime and bytes, a redone
one is a new file, and the store ends equal, file for file (manifest included), to a fresh encode
of the new pool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import ExampleSet
from targetsel.errors import ArtifactMismatchError
from targetsel.represent import LexicalRepresentation
from targetsel.store import FeatureStore, compress_store
from targetsel.store import grow as grow_module

SHARD = 10


def records(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "prompt": f"row {i} asks about {'maths' if i % 3 else 'code'} topic {i % 7}",
            "completion": str(i),
        }
        for i in range(start, start + n)
    ]


def pool(recs: list[dict]) -> ExampleSet:
    return ExampleSet.from_records(recs)


def snapshot(path: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every shard and per-row file: (inode, mtime_ns, bytes)."""
    out = {}
    for p in sorted(path.glob("*.npy")):
        st = p.stat()
        out[p.name] = (st.st_ino, st.st_mtime_ns, p.read_bytes())
    return out


def files(path: Path) -> dict[str, bytes]:
    """The store's files as a fresh encode must match them (the manifest without the library version)."""
    out = {p.name: p.read_bytes() for p in sorted(path.glob("*.npy"))}
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.pop("library_version")
    out["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return out


def redone(before: dict, after: dict) -> list[str]:
    """Files of ``after`` that are not the untouched files of ``before`` (new, or rewritten)."""
    return sorted(n for n in after if before.get(n) != after[n])


def encode(rep: LexicalRepresentation, recs: list[dict], path: Path, **kw) -> FeatureStore:
    store = rep.encode(pool(recs), store=path, shard_size=SHARD, **kw)
    assert isinstance(store, FeatureStore)
    return store


def check_equals_fresh(rep: LexicalRepresentation, recs: list[dict], path: Path, tmp_path: Path) -> None:
    fresh = encode(rep, recs, tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}")
    assert files(path) == files(fresh.path)
    np.testing.assert_array_equal(FeatureStore.open(path).to_array(), rep.encode(pool(recs)).to_array())


@pytest.mark.parametrize("dtype", ["float32", "int8", "bit"])
def test_appending_one_percent_encodes_only_the_new_shards(tmp_path: Path, dtype: str) -> None:
    rep = LexicalRepresentation(dim=32, feature_dtype=dtype)
    old = records(195)  # 20 shards, the last one (rows 190-194) partial
    encode(rep, old, tmp_path / "s")
    before = snapshot(tmp_path / "s")
    grown = old + records(2, start=195)  # +1%: rows 195-196 go into shard 19
    store = encode(rep, grown, tmp_path / "s")
    after = snapshot(tmp_path / "s")
    names = ["shard-00019.npy"] if dtype == "float32" else sorted([f"{rep_aux(dtype)}-00019.npy", "shard-00019.npy"])
    assert redone(before, after) == names
    assert store.reused_shards == tuple(range(19)) and store.written_shards == [19]
    check_equals_fresh(rep, grown, tmp_path / "s", tmp_path)
    more = grown + records(25, start=197)  # past the last shard: 19 again (partial before) and 20-22
    store = encode(rep, more, tmp_path / "s")
    assert store.written_shards == [19, 20, 21, 22] and len(store.reused_shards) == 19
    check_equals_fresh(rep, more, tmp_path / "s", tmp_path)


def rep_aux(dtype: str) -> str:
    return {"int8": "scale", "bit": "norm"}[dtype]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("edit", [4]),  # one row in the middle (row 45)
        ("swap inside a shard", [4]),  # rows 41 and 48
        ("swap across shards", [3, 6]),  # rows 35 and 62
        ("insert", list(range(4, 10))),  # a row inserted at 45 moves every later row
    ],
)
def test_editing_or_reordering_redoes_exactly_the_shards_holding_changed_rows(
    tmp_path: Path, change: str, expected: list[int]
) -> None:
    rep = LexicalRepresentation(dim=32)
    old = records(95)
    encode(rep, old, tmp_path / "s")
    before = snapshot(tmp_path / "s")
    new = [dict(r) for r in old]
    if change == "edit":
        new[45]["completion"] = "an edited answer"
    elif change == "swap inside a shard":
        new[41], new[48] = new[48], new[41]
    elif change == "swap across shards":
        new[35], new[62] = new[62], new[35]
    else:
        new.insert(45, records(1, start=1000)[0])
    store = encode(rep, new, tmp_path / "s")
    assert store.written_shards == expected
    assert redone(before, snapshot(tmp_path / "s")) == [f"shard-{i:05d}.npy" for i in expected]
    check_equals_fresh(rep, new, tmp_path / "s", tmp_path)


def test_a_pool_that_shrinks(tmp_path: Path) -> None:
    rep = LexicalRepresentation(dim=32)
    old = records(95)
    encode(rep, old, tmp_path / "s")
    before = snapshot(tmp_path / "s")
    store = encode(rep, old[:73], tmp_path / "s")  # shard 7 becomes partial, 8 and 9 go
    assert store.written_shards == [7] and store.reused_shards == tuple(range(7))
    assert redone(before, snapshot(tmp_path / "s")) == ["shard-00007.npy"]
    assert not (tmp_path / "s" / "shard-00008.npy").exists() and not (tmp_path / "s" / "shard-00009.npy").exists()
    check_equals_fresh(rep, old[:73], tmp_path / "s", tmp_path)
    store = encode(rep, old[:70], tmp_path / "s")  # exactly 7 full shards: nothing to encode
    assert store.written_shards == [] and store.reused_shards == tuple(range(7))
    check_equals_fresh(rep, old[:70], tmp_path / "s", tmp_path)


class Interrupt(KeyboardInterrupt):
    """A kill: the store keeps what it has, to resume."""


class Killed(LexicalRepresentation):
    """Dies after encoding ``fail_after`` shards."""

    def __init__(self, fail_after: int) -> None:
        super().__init__(dim=32)
        self.fail_after, self.calls = fail_after, 0

    def encode_rows(self, examples, start, stop, role="candidate"):
        if self.calls >= self.fail_after:
            raise Interrupt
        self.calls += 1
        return super().encode_rows(examples, start, stop, role)


def test_a_killed_regrow_resumes(tmp_path: Path) -> None:
    old, new = records(95), records(95)
    new[15]["completion"] = new[55]["completion"] = new[85]["completion"] = "changed"
    new += records(20, start=95)  # shards 1, 5, 8, 9 (was partial), 10, 11 to encode
    encode(LexicalRepresentation(dim=32), old, tmp_path / "s")
    with pytest.raises(Interrupt):
        Killed(fail_after=2).encode(pool(new), store=tmp_path / "s", shard_size=SHARD)
    partial = FeatureStore.open(tmp_path / "s", require_complete=False)
    assert partial.manifest["fingerprint"] == pool(new).fingerprint  # the manifest is the new pool's ...
    assert partial.missing_shards() == [8, 9, 10, 11]  # ... and claims exactly the shards it has
    rep = Killed(fail_after=99)
    store = rep.encode(pool(new), store=tmp_path / "s", shard_size=SHARD)
    assert rep.calls == 4 and store.written_shards == [8, 9, 10, 11] and store.reused_shards == ()
    check_equals_fresh(LexicalRepresentation(dim=32), new, tmp_path / "s", tmp_path)


def test_killed_between_removing_stale_shards_and_writing_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old manifest stays, with fewer shards: a consistent store that the rerun regrows."""
    rep = LexicalRepresentation(dim=32)
    old, new = records(95), records(95)
    new[45]["completion"] = "changed"
    encode(rep, old, tmp_path / "s")

    def killed(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Interrupt

    with monkeypatch.context() as m:
        m.setattr(grow_module, "atomic_write_text", killed)
        with pytest.raises(Interrupt):
            encode(rep, new, tmp_path / "s")
    partial = FeatureStore.open(tmp_path / "s", require_complete=False)
    assert partial.manifest["fingerprint"] == pool(old).fingerprint and partial.missing_shards() == [4]
    np.testing.assert_array_equal(partial.read_rows(0, 40), rep.encode(pool(old)).to_array()[:40])
    store = encode(rep, new, tmp_path / "s")
    assert store.written_shards == [4]
    check_equals_fresh(rep, new, tmp_path / "s", tmp_path)


@pytest.mark.parametrize(
    ("other", "kw", "key"),
    [
        (LexicalRepresentation(dim=64), {}, "dim"),
        (LexicalRepresentation(dim=32, ngram=1), {}, "params"),
        (LexicalRepresentation(dim=32, feature_dtype="float16"), {}, "dtype"),
        (LexicalRepresentation(dim=32), {"shard_size": 5}, "shard_size"),
    ],
)
def test_other_settings_are_never_reused(tmp_path: Path, other: LexicalRepresentation, kw: dict, key: str) -> None:
    old = records(95)
    encode(LexicalRepresentation(dim=32), old, tmp_path / "s")
    grown = old + records(1, start=95)
    shard_size = kw.get("shard_size", SHARD)
    with pytest.raises(ArtifactMismatchError, match=f"{key}: store has"):
        other.encode(pool(grown), store=tmp_path / "s", shard_size=shard_size)
    store = other.encode(pool(grown), store=tmp_path / "s", shard_size=shard_size, overwrite=True)
    assert store.reused_shards == () and store.written_shards == list(range(store.num_shards))


def test_a_store_of_another_pool_is_refused_without_overwrite(tmp_path: Path) -> None:
    rep = LexicalRepresentation(dim=32)
    encode(rep, records(30), tmp_path / "s")
    before = snapshot(tmp_path / "s")
    with pytest.raises(ArtifactMismatchError, match="none of its finished shards holds the same rows"):
        encode(rep, records(30, start=500), tmp_path / "s")
    assert snapshot(tmp_path / "s") == before  # nothing removed
    store = encode(rep, records(30, start=500), tmp_path / "s", overwrite=True)
    assert store.written_shards == [0, 1, 2]


def test_a_store_without_shard_fingerprints_gains_them_on_the_next_run(tmp_path: Path) -> None:
    """Stores written before shard fingerprints were recorded: refused as before until the
    unchanged pool is encoded once more, which records them; then they grow."""
    rep = LexicalRepresentation(dim=32)
    old = records(45)
    encode(rep, old, tmp_path / "s")
    mpath = tmp_path / "s" / "manifest.json"
    m = json.loads(mpath.read_text())
    del m["shard_fingerprints"]
    mpath.write_text(json.dumps(m))
    with pytest.raises(ArtifactMismatchError, match="fingerprint"):
        encode(rep, old + records(1, start=45), tmp_path / "s")
    store = encode(rep, old, tmp_path / "s")
    assert store.written_shards == [] and "shard_fingerprints" in json.loads(mpath.read_text())
    store = encode(rep, old + records(1, start=45), tmp_path / "s")
    assert store.written_shards == [4] and len(store.reused_shards) == 4


def test_select_store_cache_links_the_unchanged_shards_of_the_earlier_pool(tmp_path: Path) -> None:
    """``encode_for_scoring`` (what ``select`` uses) keeps one store per pool version: the new one
    shares the files of the unchanged shards (hard links), the old one stays valid."""
    rep = LexicalRepresentation(dim=32)
    old, grown = records(95), records(97)
    (a,) = rep.encode_for_scoring(pool(old), role="candidate", store_dir=tmp_path / "cache", shard_size=SHARD).sources
    before = snapshot(a.path)
    (b,) = rep.encode_for_scoring(pool(grown), role="candidate", store_dir=tmp_path / "cache", shard_size=SHARD).sources
    assert b.path != a.path and b.reused_shards == tuple(range(9)) and b.written_shards == [9]
    for i in range(9):
        assert os.path.samefile(a.shard_path(i), b.shard_path(i))
    assert snapshot(a.path) == before
    check_equals_fresh(rep, grown, b.path, tmp_path)
    np.testing.assert_array_equal(FeatureStore.open(a.path).to_array(), rep.encode(pool(old)).to_array())
    (c,) = rep.encode_for_scoring(pool(grown), role="candidate", store_dir=tmp_path / "cache", shard_size=SHARD).sources
    assert c.path == b.path and c.reused_shards == () and c.written_shards == []  # a rerun: nothing to do


def test_select_on_a_grown_pool_reuses_the_cached_shards(tmp_path: Path) -> None:
    from targetsel.pipeline import run_selection

    rep = LexicalRepresentation(dim=8)
    short = [{"id": f"r{i}", "prompt": f"q {i % 50}", "completion": "a"} for i in range(4140)]
    queries = pool([{"prompt": "q 3", "completion": "x"}])
    for recs in (short[:4100], short):  # shards of the default 4096 rows: the first is reused
        run_selection(pool(recs), queries, rep, budgets=[5], store_dir=tmp_path / "cache", decontaminate=False)
    stores = sorted((tmp_path / "cache").glob("lexical-candidate-*"))
    assert len(stores) == 2
    assert os.path.samefile(stores[0] / "shard-00000.npy", stores[1] / "shard-00000.npy")
    assert not os.path.samefile(stores[0] / "shard-00001.npy", stores[1] / "shard-00001.npy")


def test_compressing_a_grown_store_recompresses_only_its_changed_shards(tmp_path: Path) -> None:
    rep = LexicalRepresentation(dim=32)
    encode(rep, records(95), tmp_path / "f32")
    compress_store(tmp_path / "f32", tmp_path / "i8", dtype="int8")
    before = snapshot(tmp_path / "i8")
    encode(rep, records(97), tmp_path / "f32")
    compress_store(tmp_path / "f32", tmp_path / "i8", dtype="int8")
    assert redone(before, snapshot(tmp_path / "i8")) == ["scale-00009.npy", "shard-00009.npy"]
    fresh = compress_store(tmp_path / "f32", tmp_path / "fresh", dtype="int8")
    assert files(tmp_path / "i8") == files(fresh.path)


def test_cli_encode_says_how_many_shards_it_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "pool.jsonl"
    args = ["encode", str(data), "--store", str(tmp_path / "s"), "-r", "lexical", "-p", "dim=32", "--shard-size", "10"]

    def run(recs: list[dict]) -> str:
        data.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
        assert main(args) == 0
        return " ".join(capsys.readouterr().out.split())  # the console may wrap the line

    assert "10/10 shards complete (10 encoded now, 0 reused from the previous pool)" in run(records(95))
    assert "10/10 shards complete (1 encoded now, 9 reused from the previous pool)" in run(records(97))
