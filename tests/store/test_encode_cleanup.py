"""An encode that fails with an error before its first finished shard leaves no store behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetsel.data import ExampleSet
from targetsel.errors import InvalidDataError
from targetsel.represent import LexicalRepresentation
from targetsel.store import FeatureStore


def examples(n: int = 23) -> ExampleSet:
    return ExampleSet.from_records(
        [{"prompt": f"question {i} about topic {i % 4}", "completion": "x"} for i in range(n)]
    )


class Failing(LexicalRepresentation):
    def __init__(self, fail_after: int) -> None:
        super().__init__(dim=32)
        self.fail_after, self.calls = fail_after, 0

    def encode_rows(self, examples, start, stop, role="candidate"):
        if self.calls >= self.fail_after:
            raise InvalidDataError("the model cannot be loaded")
        self.calls += 1
        return super().encode_rows(examples, start, stop, role)


def test_an_error_before_the_first_shard_removes_the_store(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError):
        Failing(0).encode(examples(), store=tmp_path / "cache" / "s", shard_size=5)
    assert list(tmp_path.iterdir()) == []  # the cache folder it created is gone as well
    # a rerun with other inputs is not blocked by a leftover manifest
    LexicalRepresentation(dim=64).encode(examples(), store=tmp_path / "cache" / "s", shard_size=5)


def test_an_error_after_a_finished_shard_keeps_the_progress(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError):
        Failing(2).encode(examples(), store=tmp_path / "s", shard_size=5)
    assert len(FeatureStore.open(tmp_path / "s", require_complete=False).missing_shards()) == 3


def test_an_error_leaves_an_existing_store_folder_alone(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "README").write_text("mine")
    with pytest.raises(InvalidDataError):
        Failing(0).encode(examples(), store=tmp_path / "s", shard_size=5, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["README"]


def test_a_failing_worker_of_several_leaves_the_shared_store(tmp_path: Path) -> None:
    """``--shard i/n``: other workers may be filling the store; a failing one removes nothing."""
    LexicalRepresentation(dim=32).encode(examples(), store=tmp_path / "s", shard_size=5, shards=(0, 2))
    with pytest.raises(InvalidDataError):
        Failing(0).encode(examples(), store=tmp_path / "s", shard_size=5, shards=(1, 2))
    assert FeatureStore.open(tmp_path / "s", require_complete=False).missing_shards() == [1, 3]
    fresh = tmp_path / "fresh"
    with pytest.raises(InvalidDataError):
        Failing(0).encode(examples(), store=fresh, shard_size=5, shards=(1, 2))
    assert FeatureStore.exists(fresh)  # a worker that started first made it; the others reuse it
