"""Export: selected rows round-trip through `datasets`; selection.json carries provenance."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from targetsel.data import ExampleSet, load_examples
from targetsel.errors import ConfigurationError
from targetsel.export import export
from targetsel.score import Scores
from targetsel.select import select


def pool() -> ExampleSet:
    rows = [
        {
            "id": f"r{i}",
            "source": "a" if i % 2 else "b",
            "meta": {"k": i} if i % 3 else {"k": "x"},
            "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
        }
        for i in range(10)
    ]
    return ExampleSet.from_records(rows, source="mem")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_round_trips_through_datasets(tmp_path: Path, fmt: str) -> None:
    p = pool()
    scores = Scores.from_matrix(np.random.default_rng(0).random((3, 10)), provenance={"similarity": "cosine"})
    ranking = select(scores, "round_robin", budget=6)
    data_path, meta_path = export(p, ranking[:4], tmp_path / "out", format=fmt, provenance=scores.provenance)
    assert data_path.name == f"subset.{fmt}" and meta_path.name == "selection.json"
    loader = "json" if fmt == "jsonl" else "parquet"
    ds = datasets.load_dataset(loader, data_files=str(data_path), split="train")
    assert ds["id"] == [f"r{i}" for i in ranking.indices[:4]]
    assert set(ds.column_names) >= {"id", "source", "messages", "meta"}
    back = load_examples(data_path)
    assert back.ids == [f"r{i}" for i in ranking.indices[:4]]
    expected = [{"k": int(i)} if i % 3 else {"k": "x"} for i in ranking.indices[:4]]
    got = [r["meta"] for r in back.rows()]
    # Parquet keeps free-form columns (no common Arrow type) as JSON text, as selection.json says.
    assert got == (expected if fmt == "jsonl" else [json.dumps(e, separators=(",", ":")) for e in expected])
    meta = json.loads(meta_path.read_text())
    assert meta["method"] == "round_robin" and meta["budget"] == 4 and meta["json_text_columns"] == ["meta"]
    assert meta["pool"]["fingerprint"] == p.fingerprint and meta["representation"] == {"similarity": "cosine"}
    assert [pk["index"] for pk in meta["picks"]] == ranking.indices[:4].tolist()
    assert [pk["query_index"] for pk in meta["picks"]] == ranking.query_index[:4].tolist()


def test_export_to_a_file_path(tmp_path: Path) -> None:
    ranking = select(np.ones((1, 10)), "random", budget=3, seed=2)
    data_path, meta_path = export(pool(), ranking, tmp_path / "sub.jsonl")
    assert data_path.exists() and meta_path.name == "sub.selection.json"
    assert json.loads(meta_path.read_text())["picks"][0]["score"] is None


def test_export_refuses_mismatched_ranking(tmp_path: Path) -> None:
    ranking = select(np.ones((1, 4)), "random", budget=2)
    with pytest.raises(ConfigurationError, match="4 candidates"):
        export(pool(), ranking, tmp_path)
    assert not any(tmp_path.iterdir())
