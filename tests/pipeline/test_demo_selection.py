"""The bundled demo: embed + round-robin puts on-target examples first (the README's promise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from targetsel.data import load_pool, load_queries
from targetsel.demo import DEMO_TASKS, RELEVANT_SOURCES, demo_pool_path, demo_query_path
from targetsel.pipeline import run_selection
from targetsel.represent import EmbedRepresentation
from targetsel.select import select


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("cache")
    import os

    os.environ["TARGETSEL_CACHE"] = str(cache)
    pool = load_pool(demo_pool_path())
    rep = EmbedRepresentation()
    pool_feats = rep.encode(pool)
    queries = {t: load_queries(demo_query_path(t)) for t in DEMO_TASKS}
    return pool, rep, pool_feats, queries


def precision_at(pool, indices, task: str) -> float:
    sources = pool.column("source")
    return float(np.mean([sources[int(i)] in RELEVANT_SOURCES[task] for i in indices]))


def test_embed_round_robin_precision_at_100(demo_features) -> None:
    import targetsel as ts

    pool, rep, pool_feats, queries = demo_features
    precisions = {}
    for task, q in queries.items():
        scores = ts.score(rep.encode(q, role="query"), pool_feats)
        ranking = select(scores, "round_robin", budget=100)
        precisions[task] = precision_at(pool, ranking.indices, task)
    print("precision@100 (embed, round_robin):", precisions)
    assert sum(p >= 0.8 for p in precisions.values()) >= 2, precisions


def test_random_baseline_is_not_targeted(demo_features) -> None:
    pool, rep, pool_feats, queries = demo_features
    import targetsel as ts

    scores = ts.score(rep.encode(queries["math"], role="query"), pool_feats)
    ranking = select(scores, "random", budget=100, seed=0)
    assert precision_at(pool, ranking.indices, "math") < 0.3


def test_run_selection_exports_every_budget(tmp_path: Path) -> None:
    from targetsel.represent import LexicalRepresentation

    pool, query = load_pool(demo_pool_path()), load_queries(demo_query_path("dates"))
    result = run_selection(
        pool, query, LexicalRepresentation(), budgets=[20, 50], output=tmp_path / "o", store_dir=tmp_path / "s"
    )
    assert set(result.outputs) == {20, 50}
    rows = (tmp_path / "o" / "budget-50" / "subset.jsonl").read_text().splitlines()
    first20 = (tmp_path / "o" / "budget-20" / "subset.jsonl").read_text().splitlines()
    assert rows[:20] == first20  # one ranking serves every budget
    meta = json.loads((tmp_path / "o" / "budget-20" / "selection.json").read_text())
    assert meta["queries"]["fingerprint"] == query.fingerprint
    assert result.summaries[1]["top_sources"][0][0] == "date_reasoning"


def test_streaming_round_robin_refills_when_lists_run_out(tmp_path: Path) -> None:
    from targetsel.represent import LexicalRepresentation

    pool, query = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    dense = run_selection(pool, query, LexicalRepresentation(), budgets=[400])
    # top_k=2 is far too small for 400 picks over 50 queries: round-robin refills the lists that run
    # out by rescoring with the taken candidates excluded, and stays exact
    stream = run_selection(pool, query, LexicalRepresentation(), budgets=[400], top_k=2)
    assert stream.scores.top_k == 2
    np.testing.assert_array_equal(stream.ranking.indices, dense.ranking.indices)
    np.testing.assert_array_equal(stream.ranking.query_index, dense.ranking.query_index)


def test_an_export_failing_half_way_leaves_no_budget_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several budgets, the second export fails (say, a full disk): nothing of this run is left."""
    from targetsel.export import SelectionArtifact
    from targetsel.represent import LexicalRepresentation

    pool, query = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    real_write, calls = SelectionArtifact.write, []

    def failing_write(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(SelectionArtifact, "write", failing_write)
    kept = tmp_path / "out"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(OSError, match="No space left"):
        run_selection(pool, query, LexicalRepresentation(dim=64), budgets=[10, 20], output=kept)
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]  # what was there stays; nothing new
    with pytest.raises(OSError):
        calls.clear()
        run_selection(pool, query, LexicalRepresentation(dim=64), budgets=[10, 20], output=tmp_path / "new")
    assert not (tmp_path / "new").exists()
