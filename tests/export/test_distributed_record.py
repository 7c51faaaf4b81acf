"""``selection.json``'s ``distributed`` block: written only under torchrun, and checked on reading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from targetsel.data import ExampleSet
from targetsel.errors import InvalidDataError
from targetsel.export import SelectionArtifact
from targetsel.export.metadata import DistributedRecord
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
from targetsel.score.ranks import RankGroup


@pytest.mark.parametrize(
    ("ranges", "ok"),
    [
        ([[[0, 4096], [8192, 9000]], [[4096, 8192]]], True),
        ([[[0, 9000]], []], True),  # a rank that owns no shard
        ([[[0, 4096]], [[4000, 9000]]], False),  # overlap
        ([[[0, 4096]], [[5000, 9000]]], False),  # a gap
        ([[[0, 9001]], []], False),  # past the pool
    ],
)
def test_row_ranges_cover_the_pool_once(ranges, ok):
    assert DistributedRecord(world_size=2, row_ranges=ranges).covers(9000) is ok


def test_written_under_ranks_and_refused_when_it_does_not_cover_the_pool(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    pool = ExampleSet.from_records([{"prompt": " ".join(rng.choice(words, 6)), "completion": "a"} for _ in range(50)])
    queries = ExampleSet.from_records([{"prompt": " ".join(rng.choice(words, 6)), "completion": "b"}])
    kw = {"budgets": [5], "decontaminate": False, "store_dir": tmp_path / "s"}
    run_selection(pool, queries, LexicalRepresentation(dim=16), output=tmp_path / "one", **kw)
    assert "distributed" not in json.loads((tmp_path / "one" / "selection.json").read_text())
    with RankGroup(0, 1) as group:
        run_selection(pool, queries, LexicalRepresentation(dim=16), output=tmp_path / "ranked", ranks=group, **kw)
    path = tmp_path / "ranked" / "selection.json"
    meta = json.loads(path.read_text())
    assert meta.pop("distributed") == {"world_size": 1, "row_ranges": [[[0, 50]]]}
    assert meta == json.loads((tmp_path / "one" / "selection.json").read_text())
    bad = json.loads(path.read_text())
    bad["distributed"]["row_ranges"] = [[[0, 40]]]
    path.write_text(json.dumps(bad))
    with pytest.raises(InvalidDataError, match="distributed"):
        SelectionArtifact.open(tmp_path / "ranked").selection  # noqa: B018
