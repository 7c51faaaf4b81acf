"""Feature store: shards, atomic writes, resume with identical bytes, manifest checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from targetsel.data import ExampleSet
from targetsel.errors import ArtifactMismatchError, IncompleteArtifactError, InvalidDataError, MissingArtifactError
from targetsel.represent import LexicalRepresentation
from targetsel.represent.base import Representation
from targetsel.store import FeatureStore, InMemoryFeatures, StoreSpec


def examples(n: int = 23) -> ExampleSet:
    return ExampleSet.from_records(
        [{"prompt": f"question number {i} about {'math' if i % 2 else 'code'}", "completion": str(i)} for i in range(n)]
    )


class Interrupt(KeyboardInterrupt):
    """An interruption (Ctrl-C, like a kill): the store keeps what it has, to resume; an error
    before the first shard would remove the store instead (tests/store/test_encode_cleanup.py)."""


class FlakyLexical(LexicalRepresentation):
    """Dies after encoding ``fail_after`` shards, like a killed process."""

    def __init__(self, fail_after: int) -> None:
        super().__init__(dim=32)
        self.fail_after = fail_after
        self.calls = 0

    def encode_rows(self, examples, start, stop, role="candidate"):
        if self.calls >= self.fail_after:
            raise Interrupt
        self.calls += 1
        return super().encode_rows(examples, start, stop, role)


def shard_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("shard-*.npy"))}


def test_store_round_trip_and_shard_ranges(tmp_path: Path) -> None:
    es = examples()
    store = LexicalRepresentation(dim=32).encode(es, store=tmp_path / "s", shard_size=5)
    assert isinstance(store, FeatureStore)
    assert store.num_shards == 5 and store.shard_range(4) == (20, 23)
    ref = LexicalRepresentation(dim=32).encode(es).to_array()
    np.testing.assert_array_equal(store.to_array(), ref)
    np.testing.assert_array_equal(store.read_rows(3, 12), ref[3:12])
    assert [s for s, _ in store.iter_chunks(3)] == [0, 3, 5, 8, 10, 13, 15, 18, 20]
    assert isinstance(store.read_shard(0), np.memmap)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["fingerprint"] == es.fingerprint and manifest["num_rows"] == 23 and manifest["dim"] == 32


def test_fresh_and_reopened_store_describe_themselves_alike(tmp_path: Path) -> None:
    """A store just written and the same store opened again give the same manifest, key order
    included (it is copied into selection.json, which must not depend on whether encoding ran)."""
    fresh = LexicalRepresentation(dim=32).encode(examples(), store=tmp_path / "s", shard_size=5)
    again = FeatureStore.open(tmp_path / "s")
    assert json.dumps(fresh.manifest) == json.dumps(again.manifest)
    assert list(fresh.manifest) == sorted(fresh.manifest)


@pytest.mark.parametrize("fail_after", [0, 1, 3])
def test_resume_after_interrupt_gives_identical_bytes(tmp_path: Path, fail_after: int) -> None:
    es = examples()
    full = LexicalRepresentation(dim=32).encode(es, store=tmp_path / "full", shard_size=5)
    with pytest.raises(Interrupt):
        FlakyLexical(fail_after).encode(es, store=tmp_path / "r", shard_size=5)
    partial = FeatureStore.open(tmp_path / "r", require_complete=False)
    assert len(partial.missing_shards()) == 5 - fail_after
    assert not list((tmp_path / "r").glob(".*tmp"))  # no temp files left behind
    with pytest.raises(IncompleteArtifactError, match="rerun"):
        FeatureStore.open(tmp_path / "r")
    rep = FlakyLexical(10)
    rep.encode(es, store=tmp_path / "r", shard_size=5)
    assert rep.calls == 5 - fail_after  # only the missing shards were computed
    assert shard_bytes(tmp_path / "r") == shard_bytes(full.path)


def test_manifest_mismatch_is_refused_then_overwritten(tmp_path: Path) -> None:
    es = examples()
    LexicalRepresentation(dim=32).encode(es, store=tmp_path / "s", shard_size=5)
    with pytest.raises(ArtifactMismatchError, match="--overwrite"):
        LexicalRepresentation(dim=64).encode(es, store=tmp_path / "s", shard_size=5)
    other = ExampleSet.from_records([{"prompt": f"another pool, row {i}", "completion": "x"} for i in range(23)])
    with pytest.raises(ArtifactMismatchError, match="fingerprint"):  # no shard in common: not a grown pool
        LexicalRepresentation(dim=32).encode(other, store=tmp_path / "s", shard_size=5)
    store = LexicalRepresentation(dim=64).encode(es, store=tmp_path / "s", shard_size=5, overwrite=True)
    assert store.dim == 64 and store.to_array().shape == (23, 64)


def test_partial_shard_set_for_multi_process_runs(tmp_path: Path) -> None:
    es = examples()
    rep = LexicalRepresentation(dim=32)
    a = rep.encode(es, store=tmp_path / "s", shard_size=5, shards=(0, 2))
    assert a.missing_shards() == [1, 3]
    b = rep.encode(es, store=tmp_path / "s", shard_size=5, shards=(1, 2))
    assert b.is_complete
    np.testing.assert_array_equal(b.to_array(), rep.encode(es).to_array())


def test_truncated_shard_and_bad_writes(tmp_path: Path) -> None:
    store = LexicalRepresentation(dim=32).encode(examples(), store=tmp_path / "s", shard_size=5)
    p = store.shard_path(1)
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(IncompleteArtifactError, match="shard"):
        store.read_shard(1)
    with pytest.raises(InvalidDataError, match="shape"):
        store.write_shard(0, np.zeros((4, 32)))
    with pytest.raises(InvalidDataError, match="non-finite"):
        store.write_shard(0, np.full((5, 32), np.nan))
    with pytest.raises(MissingArtifactError):
        FeatureStore.open(tmp_path / "none")


def test_non_store_directory_is_not_clobbered(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "precious.txt").write_text("x")
    spec = StoreSpec(representation="toy", model="none", dim=2, num_rows=1, fingerprint="f")
    with pytest.raises(ArtifactMismatchError, match="non-empty"):
        FeatureStore.create(tmp_path / "d", spec)
    assert (tmp_path / "d" / "precious.txt").exists()


def test_manifest_from_another_version(tmp_path: Path) -> None:
    store = LexicalRepresentation(dim=8).encode(examples(3), store=tmp_path / "s")
    m = json.loads((store.path / "manifest.json").read_text())
    m["format_version"] = 99
    (store.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactMismatchError, match="format version"):
        FeatureStore.open(store.path)


def test_in_memory_features_interface() -> None:
    f = InMemoryFeatures(np.arange(12, dtype=np.float32).reshape(4, 3))
    assert f.num_rows == 4 and f.dim == 3 and f.read_rows(1, 3).shape == (2, 3)
    with pytest.raises(InvalidDataError):
        InMemoryFeatures(np.zeros(3))


def test_representation_shape_contract_is_checked(tmp_path: Path) -> None:
    class Broken(LexicalRepresentation):
        def encode_rows(self, examples, start, stop, role="candidate"):
            return np.zeros((1, self.dim))

    from targetsel.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="shape"):
        Broken(dim=4).encode(examples(3))
    assert issubclass(Broken, Representation)


@pytest.mark.parametrize(
    "edit", [{"dim": "32"}, {"dim": -1}, {"num_shards": 99}, {"dtype": "int4"}, {"params": []}, {"model": None}]
)
def test_manifest_schema_is_validated(tmp_path: Path, edit: dict) -> None:
    store = LexicalRepresentation(dim=8).encode(examples(3), store=tmp_path / "s")
    m = json.loads((store.path / "manifest.json").read_text())
    m.update(edit)
    (store.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(InvalidDataError, match="manifest"):
        FeatureStore.open(store.path)
