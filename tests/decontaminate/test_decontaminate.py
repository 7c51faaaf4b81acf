"""Decontamination: n-gram and feature tests, the exact clean-pool selection, its artifacts and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import ExampleSet
from targetsel.decontaminate import (
    Contamination,
    DecontaminationSettings,
    find_contamination,
    normalize_words,
    parse_methods,
)
from targetsel.decontaminate import ngram as ngram_module
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation

NAMES = ["Maya", "Omar", "Grace", "Farid", "Lena", "Ivan", "Sofia", "Kenji", "Amara", "Tomas"]
THINGS = ["stamps", "apples", "marbles", "books", "coins", "shells", "pencils", "cards", "stickers", "beads"]
PLACES = ["market", "library", "park", "school", "harbour", "museum", "garden", "station", "bakery", "farm"]


def problem(rng: np.random.Generator) -> tuple[str, str]:
    """A word problem of one task (same frame, other names, numbers, places): ~35 words.

    Every 13 consecutive words hold one of its three random numbers, so two problems share a 13-gram
    only when they share a number and the words around it.
    """
    a, b, c = (int(x) for x in rng.integers(10, 999, size=3))
    n1, n2 = rng.choice(NAMES, 2, replace=False)
    t, p, q = rng.choice(THINGS), rng.choice(PLACES), rng.choice(PLACES)
    text = (
        f"{n1} has {a} {t} and walks to the {p} where {n2} gives {n1} {b} more {t}. "
        f"Later {n1} visits the {q} and stays {c} minutes. How many {t} does {n1} have now?"
    )
    return text, f"{n1} has {a} + {b} = {a + b} {t}.\n#### {a + b}"


def rows(texts: list[tuple[str, str]], prefix: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}{i}",
            "source": "math",
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        }
        for i, (q, a) in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def task() -> dict:
    """Items (query + test), and a pool of the same task with planted copies at known rows."""
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    problems = []
    while len(problems) < 260:
        q, a = problem(rng)
        if q not in seen:
            seen.add(q)
            problems.append((q, a))
    query, test, pool = problems[:20], problems[20:40], list(problems[40:])
    planted = {
        # exact copy of a query item
        5: (query[0][0], query[0][1]),
        # case, spacing and punctuation changed
        17: (query[1][0].upper().replace(" ", "   ").replace(".", " ;").replace("?", "!!"), "no idea"),
        # inside a longer prompt, test item
        60: ("Please help me with my homework, it is due tomorrow: " + test[3][0] + " Thanks a lot!", "sure"),
        # the question quoted in the assistant turn
        101: ("Explain this.", "My teacher wrote: " + test[4][0] + " and I copied it."),
    }
    for row, msgs in sorted(planted.items()):
        pool.insert(row, msgs)
    return {
        "query": ExampleSet.from_records(rows(query, "q"), source="query.jsonl"),
        "test": ExampleSet.from_records(rows(test, "t"), source="test.jsonl"),
        "pool": ExampleSet.from_records(rows(pool, "p"), source="pool.jsonl"),
        "planted": sorted(planted),
    }


def sets(task: dict) -> list[tuple[str, ExampleSet]]:
    return [("query", task["query"]), ("test.jsonl", task["test"])]


# ----------------------------------------------------------------------------------- n-gram test
def test_finds_every_planted_copy_and_nothing_else(task: dict) -> None:
    c = find_contamination(task["pool"], sets(task))
    assert c.removed.tolist() == task["planted"]
    by_row = {m.pool_index: m for m in c.matches}
    assert (by_row[5].item_file, by_row[5].item_index) == ("query", 0)
    assert (by_row[17].item_file, by_row[17].item_index) == ("query", 1)
    assert (by_row[60].item_file, by_row[60].item_id) == ("test.jsonl", "t3")
    for m in c.matches:
        assert m.method == "ngram" and m.evidence["n"] == 13 and m.evidence["part"] == "question"
        words = m.evidence["ngram"].split()
        assert len(words) == 13
        item = dict(sets(task))[m.item_file]
        assert " ".join(words) in " ".join(normalize_words(item.messages(m.item_index)[0]["content"]))
    # same-task rows (same frame, other names and numbers) all stay
    assert len(c.clean_indices) == len(task["pool"]) - 4
    assert c.items_skipped == 0 and c.hash_collisions == 0


def test_normalisation_case_spacing_punctuation() -> None:
    assert normalize_words("Hello,   WORLD!\tIt's\n3.5") == normalize_words("hello world it s 3 5")


def test_answers_can_be_left_out() -> None:
    question = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    answer = "alpha beta gamma delta epsilon zeta eta theta iota"
    items = ExampleSet.from_records([{"prompt": question, "completion": answer}])
    pool = ExampleSet.from_records([{"prompt": "x", "completion": f"so: {answer.upper()}!"}])
    assert find_contamination(pool, items).matches[0].evidence["part"] == "answer"
    off = ngram_module.find_ngram_contamination(pool, [("query", items)], DecontaminationSettings(answers=False))
    assert off.removed.tolist() == []


@pytest.mark.parametrize("dtype", ["int8", "bit"])
def test_row_subset_scores_like_the_gathered_rows(dtype: str) -> None:
    from targetsel.score import score
    from targetsel.store import EncodedFeatures, RowSubset

    rng = np.random.default_rng(1)
    x, q = rng.normal(size=(9000, 16)).astype(np.float32), rng.normal(size=(3, 16)).astype(np.float32)
    keep = np.sort(rng.choice(9000, size=8800, replace=False))
    full = EncodedFeatures.from_float(x, dtype)
    gathered = EncodedFeatures.from_float(x[keep], dtype)
    for query_dtype in ("float", dtype):
        a = score(q, RowSubset(full, keep), query_dtype=query_dtype).matrix
        b = score(q, gathered, query_dtype=query_dtype).matrix
        np.testing.assert_array_equal(a, b)


def test_short_items_rule() -> None:
    items = ExampleSet.from_records(
        [
            {"prompt": "name the capital city of the small country of andorra", "completion": "Andorra la Vella"},  # 10
            {"prompt": "what is two plus two", "completion": "4"},  # 5 words: skipped
        ]
    )
    pool = ExampleSet.from_records(
        [
            {"prompt": "Quiz: Name the capital city of the small country of Andorra?", "completion": "x"},
            {"prompt": "name the capital city of the small country of france", "completion": "Paris"},
            {"prompt": "What is two plus two?", "completion": "four"},
        ]
    )
    c = find_contamination(pool, items)
    assert c.removed.tolist() == [0]
    assert c.matches[0].evidence == {
        "ngram": "name the capital city of the small country of andorra",
        "n": 10,
        "part": "question",
    }
    assert c.items_skipped == 1
    assert "1 items shorter than 8 words skipped" in c.summary()


def test_template_ngrams_shared_by_many_items_are_not_matched() -> None:
    header = "the following is a multiple choice question about general knowledge please answer it carefully"
    items = ExampleSet.from_records(
        [{"prompt": f"{header}: question number {i} asks something", "completion": "A"} for i in range(6)]
    )
    pool = ExampleSet.from_records([{"prompt": f"{header}: a new question about rivers", "completion": "B"}])
    c = find_contamination(pool, items)
    assert c.removed.tolist() == [] and c.template_ngrams > 0
    assert find_contamination(pool, items, template_items=0).removed.tolist() == [0]


def test_hash_collisions_are_confirmed_on_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    words = [f"w{i}" for i in range(13)]
    items = ExampleSet.from_records([{"prompt": " ".join(words), "completion": "ok"}])
    pool = ExampleSet.from_records(
        [{"prompt": " ".join(reversed(words)), "completion": "x"}, {"prompt": " ".join(words), "completion": "y"}]
    )
    original = ngram_module._window_hashes
    # an order-blind hash: the reversed row collides with the item
    monkeypatch.setattr(
        ngram_module, "_window_hashes", lambda v, lengths, mult: original(v, lengths, np.ones_like(mult))
    )
    c = find_contamination(pool, items)
    assert c.removed.tolist() == [1]
    assert c.hash_collisions >= 1


def test_batches_do_not_change_the_result(task: dict) -> None:
    a = find_contamination(task["pool"], sets(task), batch_rows=7)
    b = find_contamination(task["pool"], sets(task))
    assert [m.to_json() for m in a.matches] == [m.to_json() for m in b.matches]


def test_parse_methods_and_settings() -> None:
    assert parse_methods(["ngram:9", "features:0.9"]) == DecontaminationSettings(ngram=9, threshold=0.9)
    assert parse_methods("features:1").ngram is None
    for bad in ("features:2", "features:0", "ngram:0", "ngram:x", "cosine:0.9", "features:"):
        with pytest.raises(ConfigurationError):
            parse_methods(bad)


# ------------------------------------------------------------------------------- in the pipeline
@pytest.mark.parametrize("method", ["round_robin", "doubly_greedy", "random"])
def test_clean_pool_selection_equals_hand_deleted_pool(task: dict, method: str) -> None:
    pool = task["pool"]
    rep = LexicalRepresentation()
    res = run_selection(
        pool, task["query"], rep, method=method, budgets=[60], evaluation=[("test.jsonl", task["test"])]
    )
    assert res.contamination is not None and res.contamination.removed.tolist() == task["planted"]
    clean = res.contamination.clean_indices
    by_hand = run_selection(pool.select(clean), task["query"], rep, method=method, budgets=[60], decontaminate=False)
    assert res.ranking.n_candidates == len(pool)
    assert res.ranking.indices.tolist() == clean[by_hand.ranking.indices].tolist()
    np.testing.assert_array_equal(res.ranking.scores, by_hand.ranking.scores)
    np.testing.assert_array_equal(res.ranking.query_index, by_hand.ranking.query_index)
    assert not set(res.ranking.indices.tolist()) & set(task["planted"])


def test_features_mode(task: dict) -> None:
    pool = task["pool"]
    settings = DecontaminationSettings(ngram=None, threshold=0.99)
    res = run_selection(pool, task["query"], LexicalRepresentation(), budgets=[10], decontaminate=settings)
    c = res.contamination
    assert c is not None
    assert 5 in c.removed.tolist()  # the exact copy of a query item: cosine 1
    assert all(m.method == "features" and m.evidence["cosine"] >= 0.99 for m in c.matches)
    assert len(c.matches) < 5  # same-task rows stay
    both = run_selection(
        pool,
        task["query"],
        LexicalRepresentation(),
        budgets=[10],
        decontaminate=DecontaminationSettings(threshold=0.99),
    )
    assert set(both.contamination.removed.tolist()) >= {5, 17}
    assert {m.pool_index: m.method for m in both.contamination.matches}[5] == "ngram"


def test_budget_beyond_the_clean_pool_is_refused(task: dict, tmp_path: Path) -> None:
    n = len(task["pool"])
    with pytest.raises(ConfigurationError, match="left after decontamination"):
        run_selection(task["pool"], task["query"], LexicalRepresentation(), budgets=[n - 1], output=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_artifacts(task: dict, tmp_path: Path) -> None:
    from targetsel.diagnose import load_selection
    from targetsel.explore import write_page

    out = tmp_path / "out"
    res = run_selection(
        task["pool"],
        task["query"],
        LexicalRepresentation(),
        budgets=[10, 20],
        output=out,
        evaluation=[("test.jsonl", task["test"])],
    )
    lines = [json.loads(x) for x in (out / "contamination.jsonl").read_text().splitlines()]
    assert [x["pool_index"] for x in lines] == task["planted"]
    assert lines[0] == {
        "pool_index": 5,
        "pool_id": "p5",
        "item": {"file": "query", "id": "q0", "index": 0},
        "method": "ngram",
        "evidence": lines[0]["evidence"],
    }
    assert set(lines[0]["evidence"]) == {"ngram", "n", "part"}
    meta = load_selection(out / "budget-20" / "selection.json")
    block = meta["decontamination"]
    assert block["removed"] == 4 and block["pool_rows"] == len(task["pool"]) and block["n"] == 13
    assert [c["file"] for c in block["checked"]] == ["query", "test.jsonl"] and block["items"] == 40
    assert block["file"] == "../contamination.jsonl"
    ids = [p["id"] for p in meta["picks"]]
    assert [p["index"] for p in meta["picks"]] == [int(i[1:]) for i in ids]  # rows of the whole pool
    assert res.contamination_path == out / "contamination.jsonl"
    page = write_page(out, pool=task["pool"])
    html = Path(page).read_text()
    assert 'id="h-decontamination">removed 4 of 224 pool rows' in html
    assert " 40 evaluation items" in html  # the block's count, not the dict's items method
    assert html.count("<tr><td>") == 4
    # validated on read
    bad = json.loads((out / "budget-20" / "selection.json").read_text())
    bad["decontamination"]["removed"] = "four"
    (out / "budget-20" / "selection.json").write_text(json.dumps(bad))
    with pytest.raises(InvalidDataError, match=r"decontamination\.removed"):
        load_selection(out / "budget-20" / "selection.json")


def test_off_leaves_selection_json_as_before(task: dict, tmp_path: Path) -> None:
    run_selection(
        task["pool"], task["query"], LexicalRepresentation(), budgets=[10], output=tmp_path / "a", decontaminate=False
    )
    meta = json.loads((tmp_path / "a" / "selection.json").read_text())
    assert "decontamination" not in meta and not (tmp_path / "a" / "contamination.jsonl").exists()
    assert list(meta) == [
        "method",
        "params",
        "budget",
        "pool",
        "queries",
        "representation",
        "json_text_columns",
        "library_version",
        "picks",
    ]


def test_precomputed_contamination_must_match_the_pool(task: dict) -> None:
    with pytest.raises(ConfigurationError, match="pool of 3 rows"):
        run_selection(task["pool"], task["query"], LexicalRepresentation(), budgets=[5], decontaminate=Contamination(3))


# ---------------------------------------------------------------------------------------- CLI
def _write(path: Path, es: ExampleSet) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in es.rows()))
    return path


def test_cli_select_removes_and_reports(
    task: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))
    pool, query, test = (_write(tmp_path / f"{k}.jsonl", task[k]) for k in ("pool", "query", "test"))
    out = tmp_path / "out"
    args = ["select", "--pool", str(pool), "--query", str(query), "--test", str(test), "-r", "lexical", "-b", "10"]
    assert main([*args, "--no-store", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    line = "decontamination: removed 4 of 224 pool rows (13-gram overlap with 40 query/test items)"
    assert f"{line} → {out / 'contamination.jsonl'}" in text.replace("\n", "")
    assert len((out / "contamination.jsonl").read_text().splitlines()) == 4
    off = tmp_path / "off"
    assert (
        main(
            [
                "select",
                "--pool",
                str(pool),
                "--query",
                str(query),
                "-r",
                "lexical",
                "-b",
                "10",
                "--no-store",
                "-o",
                str(off),
                "--no-decontaminate",
                "-q",
            ]
        )
        == 0
    )
    assert "decontamination" not in json.loads((off / "selection.json").read_text())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--decontaminate-by", "features:2"], "--decontaminate-by features:2: the cosine threshold must be in (0, 1]"),
        (["--decontaminate-by", "ngram:0"], "--decontaminate-by ngram:0: N must be a positive integer"),
        (["--test", "missing.jsonl"], "missing.jsonl"),
        (["--test", "{query}", "--no-decontaminate"], "--no-decontaminate turns decontamination off"),
    ],
)
def test_cli_bad_input(
    task: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    query = _write(tmp_path / "query.jsonl", task["query"])
    pool = _write(tmp_path / "pool.jsonl", task["pool"])
    out = tmp_path / "out"
    extra = [e.format(query=query) for e in extra]
    rc = main(
        ["select", "--pool", str(pool), "--query", str(query), "-r", "lexical", "-b", "5", "-o", str(out), *extra]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


def test_ascii_and_unicode_rows_match_alike() -> None:
    text = "the naïve café owner in zürich sold forty two croissants before the early morning rush began"
    items = ExampleSet.from_records(
        [
            {"prompt": text, "completion": "ok"},
            {
                "prompt": "an ascii only question with exactly enough words to be matched by thirteen grams",
                "completion": "x",
            },
        ]
    )
    pool = ExampleSet.from_records(
        [
            {"prompt": "Copy: " + text.upper() + " — fin", "completion": "a"},
            {
                "prompt": "AN ASCII-ONLY question, with exactly enough words to be matched by thirteen grams.",
                "completion": "b",
            },
            {"prompt": "Unrelated \x01 row with an odd control byte", "completion": "c"},
        ]
    )
    c = find_contamination(pool, items, batch_rows=2)
    assert c.removed.tolist() == [0, 1]
    assert c.matches[0].evidence["ngram"].startswith("the naïve café owner in zürich")
