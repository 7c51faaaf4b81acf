"""Several targets, one budget (targetsel.select.mixture and run_selection with several query sets):
the merge against brute force, its prefix property and shares, determinism across chunk sizes and
processes, selection.json's per-pick target, and bad input refused with one line before any write."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.errors import ConfigurationError
from targetsel.export import SelectionFile
from targetsel.params.artifacts import read_artifact
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
from targetsel.select.dedup import DedupSettings
from targetsel.select.mixture import MixSettings, interleave, slot_targets

TASKS = ("math", "dates", "humaneval")


def _brute(
    rankings: list[np.ndarray], weights: list[float], length: int, exact: bool = False
) -> tuple[list[int], list[int]]:
    """The rule read literally: the smallest (picks + 1) / weight (a float quotient, or with ``exact``
    a fraction), ties to the lower index; the target's next row not yet taken."""
    w = [Fraction(x) for x in weights] if exact else [float(x) for x in weights]
    counts, ptr, taken = [0] * len(w), [0] * len(w), set()
    rows, targets = [], []
    for _ in range(length):
        t = min(range(len(w)), key=lambda i: ((counts[i] + 1) / w[i], i))
        counts[t] += 1
        r = rankings[t]
        while ptr[t] < len(r) and int(r[ptr[t]]) in taken:
            ptr[t] += 1
        if ptr[t] == len(r):
            break
        taken.add(int(r[ptr[t]]))
        rows.append(int(r[ptr[t]]))
        targets.append(t)
        ptr[t] += 1
    return rows, targets


@pytest.mark.parametrize("seed", range(16))
def test_interleave_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, t = int(rng.integers(5, 60)), int(rng.integers(1, 5))
    rankings = [rng.permutation(n)[: int(rng.integers(1, n + 1))] for _ in range(t)]
    weights = [float(x) for x in rng.choice([1.0, 2.0, 3.0, 7.0, 0.1, 1 / 3], size=t)]
    length = int(rng.integers(1, n + 1))
    merged = interleave(rankings, weights, length, n)
    rows, targets = _brute(rankings, weights, length)
    if all(float(x).is_integer() for x in weights):  # integer weights: float quotients decide as fractions do
        assert (rows, targets) == _brute(rankings, weights, length, exact=True)
    assert merged.indices.tolist() == rows
    assert merged.target.tolist() == targets
    assert len(set(rows)) == len(rows)
    assert (merged.dry is None) == (len(rows) == length)


def test_merged_prefix_and_shares_at_every_prefix() -> None:
    rng = np.random.default_rng(3)
    n = 300
    rankings = [rng.permutation(n) for _ in range(3)]
    weights = [2.0, 1.0, 1.0]
    full = interleave(rankings, weights, n, n)
    assert sorted(full.indices.tolist()) == list(range(n))  # whole rankings: every row once
    for length in (1, 7, 50, 123, 299):
        assert interleave(rankings, weights, length, n).indices.tolist() == full.indices[:length].tolist()
    share = np.asarray(weights) / sum(weights)
    for k in range(1, n + 1):
        counts = np.bincount(full.target[:k], minlength=3)
        assert np.all(np.abs(counts - share * k) <= 1), (k, counts)


def test_slot_rule_ties_go_to_the_lower_target() -> None:
    assert slot_targets([1.0, 2.0], 6).tolist() == [1, 0, 1, 1, 0, 1]
    assert slot_targets([2.0, 1.0], 3).tolist() == [0, 0, 1]  # 1/2 < 1/1; then 2/2 ties 1/1: target 0
    assert slot_targets([0.1, 0.1, 0.1], 4).tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weights", "needs the weights"),
        ("weights:", "needs the weights"),
        ("weights:math=0", "positive number"),
        ("weights:math=-2", "positive number"),
        ("weights:math=x", "positive number"),
        ("weights:math=nan", "positive number"),
        ("weights:math=1,math=2", "twice"),
        ("weights:math", "NAME=WEIGHT"),
        ("equal:math=1", "takes no weights"),
        ("uniform", "must be one of"),
    ],
)
def test_bad_mix_settings(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MixSettings.parse(text)


def test_weights_must_name_the_targets() -> None:
    with pytest.raises(ConfigurationError, match="'code', which is not a target"):
        MixSettings.parse("weights:math=1,code=2").weights_for(["math", "dates"], [1, 1])
    with pytest.raises(ConfigurationError, match="no weight for target 'dates'"):
        MixSettings.parse("weights:math=1").weights_for(["math", "dates"], [1, 1])


# ------------------------------------------------------------------ the pipeline, on the bundled demo


@pytest.fixture(scope="module")
def demo() -> tuple:
    pool = load_pool(demo_pool_path())
    return pool, {t: load_queries(demo_query_path(t)) for t in TASKS}


def _run(demo: tuple, **kw) -> object:
    pool, targets = demo
    kw.setdefault("budgets", [120])
    return run_selection(pool, targets, LexicalRepresentation(), **kw)


@pytest.mark.parametrize("mix", ["equal", "proportional", "weights:math=2,dates=1,humaneval=1"])
def test_mixture_prefix_shares_and_chunks(demo: tuple, mix: str) -> None:
    big = _run(demo, mix=mix)
    small = _run(demo, mix=mix, budgets=[17, 45], chunk_rows=37)
    assert small.ranking.indices.tolist() == big.ranking.indices[:45].tolist()
    assert small.ranking.extra["target"].tolist() == big.ranking.extra["target"][:45].tolist()
    targets = big.ranking.extra["target"]
    assert len(set(big.ranking.indices.tolist())) == 120
    weights = MixSettings.parse(mix).weights_for(list(TASKS), [len(demo[1][t]) for t in TASKS])
    share = weights / weights.sum()
    for k in (1, 17, 45, 120):
        counts = np.array([(targets[:k] == t).sum() for t in TASKS])
        assert np.all(np.abs(counts - share * k) <= 1)
    assert [c for _, c in big.summaries[0]["composition"]] == [int((targets == t).sum()) for t in TASKS]


def test_each_target_is_its_own_selection(demo: tuple) -> None:
    """Each target's picks, in order, are its own single-target ranking with the others' picks skipped."""
    pool, targets = demo
    mixed = _run(demo, mix="equal")
    for name in TASKS:
        alone = run_selection(pool, targets[name], LexicalRepresentation(), budgets=[len(pool) - 100])
        mine = mixed.ranking.indices[mixed.ranking.extra["target"] == name]
        others = set(mixed.ranking.indices.tolist()) - set(mine.tolist())
        order = [int(i) for i in alone.ranking.indices if int(i) not in others]
        assert mine.tolist() == order[: len(mine)]
        q = mixed.ranking.query_index[mixed.ranking.extra["target"] == name]
        assert q.min() >= 0 and q.max() < len(targets[name])


def test_joint_ranks_the_union(demo: tuple) -> None:
    r = _run(demo, mix="joint", budgets=[60])
    t = r.ranking.extra["target"]
    # round-robin over the union: query 0 of math, 1 of math... the union's query order
    assert t[0] == "math"
    assert all(0 <= q < len(demo[1][name]) for q, name in zip(r.ranking.query_index, t, strict=True))


def test_dedup_runs_on_the_merged_ranking(demo: tuple) -> None:
    r = _run(demo, mix="equal", dedup=DedupSettings(text_threshold=0.5), budgets=[90])
    assert len(set(r.ranking.indices.tolist())) == 90
    assert [c for _, c in r.summaries[0]["composition"]] == [int((r.ranking.extra["target"] == t).sum()) for t in TASKS]


def test_one_named_target_is_the_single_selection(demo: tuple, tmp_path: Path) -> None:
    pool, targets = demo
    rep = LexicalRepresentation()
    run_selection(pool, targets["math"], rep, budgets=[40], output=tmp_path / "a")
    run_selection(pool, {"math": targets["math"]}, rep, budgets=[40], output=tmp_path / "b")
    assert (tmp_path / "a" / "selection.json").read_bytes() == (tmp_path / "b" / "selection.json").read_bytes()
    meta = json.loads((tmp_path / "a" / "selection.json").read_text())
    assert "targets" not in meta and all("target" not in p for p in meta["picks"])


def test_same_query_set_twice_is_refused(demo: tuple, tmp_path: Path) -> None:
    pool, targets = demo
    with pytest.raises(ConfigurationError, match="same query set"):
        run_selection(
            pool, {"a": targets["math"], "b": targets["math"]}, LexicalRepresentation(), budgets=[5], output=tmp_path
        )
    assert not any(tmp_path.iterdir())


_CHILD = """
import json
from targetsel.data import load_pool, load_queries
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.pipeline import run_selection
from targetsel.represent import LexicalRepresentation
t = {n: load_queries(demo_query_path(n)) for n in ("math", "dates", "humaneval")}
r = run_selection(load_pool(demo_pool_path()), t, LexicalRepresentation(), budgets=[120], chunk_rows=1000)
print(json.dumps([r.ranking.indices.tolist(), r.ranking.extra["target"].tolist()]))
"""


def test_deterministic_across_processes(demo: tuple) -> None:
    here = _run(demo)
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(out.stdout) == [here.ranking.indices.tolist(), here.ranking.extra["target"].tolist()]


# ------------------------------------------------------------------ the CLI


def _query_args() -> list[str]:
    return [a for t in TASKS for a in ("--query", f"{t}={demo_query_path(t)}")]


def test_cli_three_demo_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["select", "--pool", str(demo_pool_path()), *_query_args(), "-r", "lexical", "--budgets", "30,90"]
    assert main([*argv, "-o", str(out), "--no-store"]) == 0
    printed = capsys.readouterr().out
    assert "mix equal" in printed and "humaneval" in printed
    for b in (30, 90):
        meta = read_artifact(out / f"budget-{b}" / "selection.json", SelectionFile, fix="re-run")
        assert meta.queries is None and meta.targets is not None and meta.targets.mix == "equal"
        assert [t.picks for t in meta.targets.targets] == [b // 3] * 3
        assert [p.target for p in meta.picks][:3] == list(TASKS)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--query", "math=X", "--query", "math=Y"], "names target 'math' twice"),
        (["--mix", "weights:code=1"], "'code', which is not a target"),
        (["--mix", "weights:math=0,dates=1,humaneval=1"], "must be a positive number"),
        (["--mix", "weights"], "--mix weights needs the weights"),
        (["--query", "maths=MATH"], "have the same query set"),
        (["--query", "bare.jsonl"], "has no name"),  # with the three named ones
    ],
)
def test_cli_bad_input(extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _query_args() if extra[0] != "--query" or "maths" in extra[1] else []
    extra = [e.replace("MATH", str(demo_query_path("math"))) for e in extra]
    if extra[1] == "bare.jsonl":
        args = _query_args()
    out = tmp_path / "out"
    argv = ["select", "--pool", str(demo_pool_path()), *args, *extra, "-r", "lexical", "-b", "9", "-o", str(out)]
    assert main([*argv, "--no-store"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_streaming_scores_give_the_dense_merge(demo: tuple) -> None:
    """Streaming top-k scores are computed per target; round-robin is exact on them."""
    assert _run(demo, top_k=150).ranking.indices.tolist() == _run(demo).ranking.indices.tolist()


@pytest.mark.parametrize(
    "method", ["doubly_greedy", "mean_sim", "random", "uot", "knn_uniform", "knn_kde", "quantiles"]
)
def test_every_method_mixes(demo: tuple, method: str) -> None:
    r = _run(demo, method=method, budgets=[12, 30])
    assert len(set(r.ranking.indices.tolist())) == 30
    assert [c for _, c in r.summaries[0]["composition"]] == [4, 4, 4]
    assert [c for _, c in r.summaries[1]["composition"]] == [10, 10, 10]


@pytest.mark.parametrize("mix", ["proportional", "joint", "weights:math=3,dates=1,humaneval=1"])
def test_cli_mix_kinds(mix: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["select", "--pool", str(demo_pool_path()), *_query_args(), "-r", "lexical", "-b", "50", "--mix", mix]
    assert main([*argv, "-o", str(out), "--no-store", "--quiet"]) == 0
    meta = read_artifact(out / "selection.json", SelectionFile, fix="re-run")
    assert meta.targets is not None and meta.targets.mix == mix
    counts = [t.picks for t in meta.targets.targets]
    assert sum(counts) == 50
    if mix == "proportional":
        assert counts == [18, 18, 14]  # 50 : 50 : 40 queries
    elif mix.startswith("weights"):
        assert counts == [30, 10, 10]


def test_rank_targets_is_the_pipeline_merge(demo: tuple) -> None:
    """The public ranking step gives run_selection's merged ranking (no decontamination, same views)."""
    from targetsel.pipeline import rank_targets
    from targetsel.score import FeatureViews
    from targetsel.select import get_selector

    pool, targets = demo
    rep = LexicalRepresentation()
    candidates = rep.encode_for_scoring(pool, role="candidate")
    views = [FeatureViews(rep.encode_for_scoring(targets[name], role="query"), candidates) for name in TASKS]
    merged = rank_targets(get_selector("round_robin"), views, list(TASKS), [1.0, 1.0, 1.0], 90)
    r = _run(demo, budgets=[90], decontaminate=False)
    assert merged.indices.tolist() == r.ranking.indices.tolist()
    assert merged.extra["target"].tolist() == r.ranking.extra["target"].tolist()
