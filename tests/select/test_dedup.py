"""Near-duplicate control (targetsel.select.dedup): exact against brute force, a ranking, deterministic,
budgets met by walking further, its artifacts, and bad thresholds refused before any work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import ExampleSet
from targetsel.decontaminate import normalize_words
from targetsel.errors import ConfigurationError
from targetsel.export import SelectionFile
from targetsel.params.artifacts import read_artifact
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
from targetsel.select import select
from targetsel.select.base import Ranking
from targetsel.select.dedup import (
    DedupResult,
    DedupSettings,
    DedupWalk,
    array_reader,
    dedup_ranking,
    pool_texts,
)


def _ranking(order: np.ndarray, n: int) -> Ranking:
    b = len(order)
    return Ranking(np.asarray(order, np.int64), np.zeros(b, np.int64), np.arange(b, dtype=np.float32), "demo", {}, n)


def _planted(n: int = 400, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random rows, a quarter of them near-copies of another row (noise of varied size); a random order."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    for i in rng.choice(n, n // 4, replace=False):
        j = int(rng.integers(n))
        x[i] = x[j] + rng.normal(size=d) * rng.uniform(0.0, 0.6)
    return x.astype(np.float32), rng.permutation(n)


def _brute_features(x: np.ndarray, order: np.ndarray, t: float, budget: int | None = None):
    """The definition: walk in order; max cosine (float64 of the unit float32 rows) to every kept row."""
    u = array_reader(x)(np.arange(len(x))).astype(np.float64)
    kept: list[int] = []
    dups = []
    for pos, i in enumerate(order.tolist()):
        if budget is not None and len(kept) == budget:
            break
        sims = [float(u[i] @ u[order[k]]) for k in kept]
        best = int(np.argmax(sims)) if sims else -1
        if sims and sims[best] >= t:
            dups.append((pos, i, best, int(order[kept[best]]), sims[best]))
        else:
            kept.append(pos)
    return kept, dups


def _shingles(text: str, k: int = 5) -> set[tuple[str, ...]]:
    w = normalize_words(text)
    return {tuple(w[i : i + k]) for i in range(len(w) - k + 1)} or ({tuple(w)} if w else set())


def _brute_text(texts: list[str], order: np.ndarray, t: float):
    kept: list[int] = []
    dups = []
    sets = [_shingles(s) for s in texts]
    for pos, i in enumerate(order.tolist()):
        best, bj = -1, -1.0
        for slot, k in enumerate(kept):
            a, b = sets[i], sets[order[k]]
            j = len(a & b) / len(a | b) if a and b else 0.0
            if j >= t and j > bj:
                best, bj = slot, j
        if best >= 0:
            dups.append((pos, i, best, int(order[kept[best]]), bj))
        else:
            kept.append(pos)
    return kept, dups


def _as_tuples(result: DedupResult):
    return [(d.position, d.index, d.of_rank, d.of_index, d.similarity) for d in result.duplicates]


def _texts(n: int = 300, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choice(vocab, int(rng.integers(3, 30)))) for _ in range(n)]
    for i in rng.choice(n, n // 3, replace=False):  # near-copies: a word or two changed, or cut
        words = texts[int(rng.integers(n))].split()
        for _ in range(int(rng.integers(0, 3))):
            words[int(rng.integers(len(words)))] = str(rng.choice(vocab))
        texts[i] = ("Re: " if rng.random() < 0.3 else "") + " ".join(words[: max(1, len(words) - int(rng.integers(3)))])
    texts[5] = ""  # no words: never a duplicate
    texts[6] = "!!"
    return texts


@pytest.mark.parametrize("t", [0.5, 0.8, 0.95])
def test_features_equal_brute_force(t: float) -> None:
    x, order = _planted()
    out, res = dedup_ranking(
        _ranking(order, len(x)), DedupSettings(threshold=t), features=array_reader(x), block_rows=37
    )
    kept, dups = _brute_features(x, order, t)
    assert res.kept.tolist() == kept and out.indices.tolist() == order[kept].tolist()
    got = _as_tuples(res)
    assert [g[:4] for g in got] == [d[:4] for d in dups] and len(dups) > 10
    np.testing.assert_allclose([g[4] for g in got], [d[4] for d in dups], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out.scores, np.asarray(kept, np.float32))  # per-pick values follow the picks


@pytest.mark.parametrize("t", [0.3, 0.6, 1.0])
def test_text_equals_brute_force(t: float) -> None:
    texts = _texts()
    order = np.random.default_rng(2).permutation(len(texts))
    reader = pool_texts(ExampleSet.from_records([{"prompt": s or "-", "completion": "x"} for s in texts]))
    _, res = dedup_ranking(
        _ranking(order, len(texts)), DedupSettings(text_threshold=t, shingle=5), texts=lambda r: [texts[i] for i in r]
    )
    kept, dups = _brute_text(texts, order, t)
    assert res.kept.tolist() == kept and len(dups) >= 4
    assert _as_tuples(res) == [(*d[:4], pytest.approx(d[4])) for d in dups]
    assert reader(np.array([1]))[0] == texts[1] + "\nx"


def test_both_tests_together_skip_on_either() -> None:
    x, order = _planted(n=300, seed=3)
    texts = _texts(300, seed=4)
    s = DedupSettings(threshold=0.9, text_threshold=0.7)
    _, both = dedup_ranking(_ranking(order, 300), s, features=array_reader(x), texts=lambda r: [texts[i] for i in r])
    kinds = {d.by for d in both.duplicates}
    assert kinds == {"cosine", "jaccard"}
    # the definition, one candidate at a time against the kept rows
    u = array_reader(x)(np.arange(300)).astype(np.float64)
    sets = [_shingles(t) for t in texts]
    kept: list[int] = []
    for i in order.tolist():
        cos = max((u[i] @ u[k] for k in kept), default=-1.0)
        jac = max((len(sets[i] & sets[k]) / len(sets[i] | sets[k]) for k in kept if sets[i] and sets[k]), default=0)
        if cos < 0.9 and jac < 0.7:
            kept.append(i)
    assert both.apply(_ranking(order, 300)).indices.tolist() == kept


def test_prefix_property_and_per_budget_counts() -> None:
    x, order = _planted(seed=5)
    r = _ranking(order, len(x))
    full, res = dedup_ranking(r, DedupSettings(threshold=0.8), features=array_reader(x))
    for b in (1, 10, 57, len(full)):
        part, pres = dedup_ranking(r, DedupSettings(threshold=0.8), features=array_reader(x), budget=b)
        assert part.indices.tolist() == full.indices[:b].tolist()
        assert len(pres.duplicates) == res.skipped_before(b) == pres.block(b)["skipped"]
        assert pres.walked == b + len(pres.duplicates) == pres.block(b)["walked"]


@pytest.mark.parametrize("block_rows,col_rows,read_rows", [(1, 1, 1), (7, 5, 50), (64, 1000, 33), (4096, 16384, 4096)])
def test_same_result_whatever_the_block_sizes(block_rows: int, col_rows: int, read_rows: int) -> None:
    x, order = _planted(n=500, d=24, seed=6)
    texts = _texts(500, seed=7)
    s = DedupSettings(threshold=0.7, text_threshold=0.6)
    ref = DedupWalk(s, 500, features=array_reader(x), texts=lambda r: [texts[i] for i in r])
    ref.feed(order)
    walk = DedupWalk(
        s,
        500,
        features=array_reader(x),
        texts=lambda r: [texts[i] for i in r],
        block_rows=block_rows,
        col_rows=col_rows,
        read_rows=read_rows,
    )
    for piece in np.array_split(order, 3):  # fed in pieces, as the pipeline continues a walk
        walk.feed(piece)
    assert _as_tuples(walk.result()) == _as_tuples(ref.result())
    assert walk.result().kept.tolist() == ref.result().kept.tolist()


_CHILD = """
import json, sys, numpy as np
sys.path.insert(0, {tests!r})
from test_dedup import _planted, _ranking
from targetsel.select.dedup import DedupSettings, array_reader, dedup_ranking
x, order = _planted(n=500, d=24, seed=6)
_, res = dedup_ranking(_ranking(order, 500), DedupSettings(threshold=0.7), features=array_reader(x), block_rows=13)
print(json.dumps([[d.position, d.of_rank, d.similarity] for d in res.duplicates]))
"""


def test_same_result_in_another_process() -> None:
    x, order = _planted(n=500, d=24, seed=6)
    _, res = dedup_ranking(_ranking(order, 500), DedupSettings(threshold=0.7), features=array_reader(x))
    code = _CHILD.format(tests=str(Path(__file__).parent))
    env_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(env_out.stdout) == [[d.position, d.of_rank, d.similarity] for d in res.duplicates]


def _dup_pool(n: int = 240, distinct: int = 60) -> ExampleSet:
    """``distinct`` different rows, the rest exact copies of the first few (lexical cosine 1)."""
    rng = np.random.default_rng(8)
    words = [f"tok{i}" for i in range(400)]
    base = [" ".join(rng.choice(words, 12)) for _ in range(distinct)]
    rows = [base[i] if i < distinct else base[i % 3] for i in range(n)]
    return ExampleSet.from_records([{"prompt": p, "completion": "ok", "source": "s"} for p in rows])


def test_pipeline_walks_further_to_meet_the_budget(tmp_path: Path) -> None:
    pool = _dup_pool()
    queries = ExampleSet.from_records([{"prompt": pool.texts()[0].split("\n")[0][:40], "completion": "ok"}])
    rep = LexicalRepresentation()
    plain = run_selection(pool, queries, rep, budgets=[len(pool)], decontaminate=False)
    res = run_selection(
        pool, queries, rep, budgets=[20, 50], decontaminate=False, dedup=DedupSettings(threshold=0.99), output=tmp_path
    )
    # the first ranking (50 + 50 // 4 + 16 = 78 rows) held fewer than 50 distinct rows: walked further
    assert len(res.ranking) == 50 and res.dedup is not None and res.dedup.walked > 78
    sources = [np.asarray(s.to_array(), np.float32) for s in rep.encode_for_scoring(pool, role="candidate").sources]
    ref, _ = dedup_ranking(plain.ranking, DedupSettings(threshold=0.99), features=array_reader(sources[0]), budget=50)
    assert res.ranking.indices.tolist() == ref.indices.tolist()
    # artifacts: the block of each budget read back through the model, duplicates.jsonl beside them
    meta = read_artifact(tmp_path / "budget-20" / "selection.json", SelectionFile, fix="rerun")
    assert meta.dedup is not None and meta.dedup.threshold == 0.99 and meta.dedup.by == "selection"
    assert meta.dedup.skipped == res.dedup.skipped_before(20) and meta.dedup.file == "../duplicates.jsonl"
    lines = [json.loads(s) for s in (tmp_path / "duplicates.jsonl").read_text().splitlines()]
    assert len(lines) == len(res.dedup.duplicates) and lines[0]["by"] == "cosine"
    first = lines[0]
    assert first["id"] == pool.ids[first["index"]] and first["similarity"] >= 0.99
    assert res.ranking.indices[first["duplicate_of"]["rank"]] == first["duplicate_of"]["index"]
    assert res.dedup.summary(res.dedup_path).startswith("dedup: skipped ")
    # a budget the pool cannot meet: one error, naming the rows left; nothing written
    with pytest.raises(ConfigurationError, match=r"only 60 of the 240 pool rows remain .* budget <= 60"):
        run_selection(
            pool,
            queries,
            rep,
            budgets=[61],
            decontaminate=False,
            dedup=DedupSettings(threshold=0.99),
            output=tmp_path / "none",
        )
    assert not (tmp_path / "none").exists()


def test_dedup_off_leaves_selection_json_as_before(tmp_path: Path) -> None:
    pool = _dup_pool(80, 40)
    queries = ExampleSet.from_records([{"prompt": "tok1 tok2", "completion": "ok"}])
    run_selection(pool, queries, LexicalRepresentation(), budgets=[10], decontaminate=False, output=tmp_path / "a")
    meta = json.loads((tmp_path / "a" / "selection.json").read_text())
    assert "dedup" not in meta and list(meta)[-1] == "picks"
    assert not (tmp_path / "a" / "duplicates.jsonl").exists()


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("value", ["0", "1.5", "-1", "abc", "nan"])
@pytest.mark.parametrize("flag", ["--dedup", "--dedup-text"])
def test_bad_thresholds_are_one_line_and_write_nothing(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    err = _refused(["select", "-b", "5", f"{flag}={value}", "-o", str(out), "--no-store"], capsys)
    assert err.startswith(f"targetsel: error: {flag} ") and "(0, 1]" in err
    assert not out.exists()


def test_dedup_by_needs_dedup_and_a_known_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(["select", "-b", "5", "--dedup-by", "embed", "-o", str(tmp_path / "o")], capsys)
    assert "--dedup-by needs --dedup THRESHOLD" in err
    err = _refused(["select", "-b", "5", "--dedup", "0.9", "--dedup-by", "bm25", "-o", str(tmp_path / "o")], capsys)
    assert "--dedup-by must be selection or embed" in err
    assert not (tmp_path / "o").exists()


def test_dedup_by_embed_on_a_slice_of_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from targetsel.demo import demo_pool_path, demo_query_path

    rows = [json.loads(s) for s in Path(demo_pool_path()).read_text().splitlines()[:120]]
    rows += [dict(r, id=f"{r.get('id', i)}-copy") for i, r in enumerate(rows[:30])]  # exact copies
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = ["select", "--pool", str(pool), "--query", str(demo_query_path("math", "dev")), "-r", "lexical"]
    argv += ["-b", "60", "--dedup", "0.97", "--dedup-by", "embed", "-o", str(out), "--no-store", "--no-decontaminate"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    line = next(s for s in printed.splitlines() if s.startswith("dedup: "))
    assert line.endswith(f"to an earlier pick → {out / 'duplicates.jsonl'}") and "cosine ≥ 0.97 (embed)" in line
    meta = read_artifact(out / "selection.json", SelectionFile, fix="rerun")
    assert meta.dedup is not None and meta.dedup.by == "embed" and meta.dedup.walked == 60 + meta.dedup.skipped
    dups = [json.loads(s) for s in (out / "duplicates.jsonl").read_text().splitlines()]
    assert len(dups) == meta.dedup.skipped
    picked = {p.index for p in meta.picks}
    assert all(d["duplicate_of"]["index"] in picked and d["index"] not in picked for d in dups)


def test_select_whole_pool_is_a_ranking_dedup_can_walk() -> None:
    # the pipeline relies on it: every selector ranks the whole pool (budget None = N)
    s = np.random.default_rng(0).random((3, 30))
    assert len(select(s, "round_robin", budget=None)) == 30
