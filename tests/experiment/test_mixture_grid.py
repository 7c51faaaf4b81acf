"""``grid: mixture``: one subset selected for several tasks together, one model trained on it, evaluated
on every task; end to end on CPU with a tiny random Llama, then a crash and a resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from targetsel.cli import main
from targetsel.errors import ConfigurationError
from targetsel.experiment import DONE_FILE, ExperimentConfig, build_grid, load_config, run_experiment
from targetsel.experiment.cells import _Runner
from targetsel.pipeline import run_selection
from targetsel.report import read_results
from targetsel.represent import LexicalRepresentation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mixture_demo.yaml"
TASKS = ["math", "dates"]
METHOD = "LEXICAL (RR)"


def mixture_config(model_dir: Path, **overrides) -> dict:
    cfg = {
        "name": "tiny-mixture",
        "model": str(model_dir),
        "pool": "demo",
        "pool_limit": 300,
        "tasks": [{"name": t} for t in TASKS],
        "grid": "mixture",
        "mixture": {"mix": "equal"},
        "representations": [{"name": "lexical", "params": {"dim": 256}}],
        "algorithms": ["round_robin"],
        "budgets": [5, 10],
        "seeds": [0],
        "train": {
            "epochs": 1,
            "effective_batch_size": 5,
            "per_device_batch_size": 5,
            "max_length": 64,
            "learning_rate": 1e-3,
            "lora_r": 4,
            "lora_alpha": 8,
        },
        "evaluate": {"metrics": ["dev_loss", "test_loss"], "max_length": 64, "loss_limit": 4, "batch_size": 4},
    }
    cfg.update(overrides)
    return cfg


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def mixture_run(tiny_llama_dir, tmp_path_factory):
    """The grid with a crash in the diagnosis of its last cell (after training and evaluation), resumed."""
    out = tmp_path_factory.mktemp("mixture") / "run"
    cfg = ExperimentConfig.from_dict(mixture_config(tiny_llama_dir))
    victim = build_grid(cfg)[-1]

    def crash(cell, stage):
        if cell == victim and stage == "diagnose":
            raise Crash("simulated kill")

    with pytest.raises(Crash):
        run_experiment(cfg, out, hook=crash, quiet=True)
    finished = [c.key for c in build_grid(cfg) if (out / "cells" / c.key / DONE_FILE).is_file()]
    stages: list[tuple[str, str]] = []
    summary = run_experiment(cfg, out, hook=lambda c, s: stages.append((c.key, s)), quiet=True)
    return cfg, out, victim, finished, summary, stages


def test_grid_cells_and_resume(mixture_run):
    cfg, out, victim, finished, summary, stages = mixture_run
    keys = [c.key for c in build_grid(cfg)]
    assert keys == [
        "math/zero-shot",
        "dates/zero-shot",
        "mixture/random/b5-s0",
        "mixture/random/b10-s0",
        "mixture/lexical-rr/b5-s0",
        "mixture/lexical-rr/b10-s0",
    ]
    assert finished == keys[:-1] and victim.key == keys[-1]
    assert summary.ran == [victim.key] and summary.skipped == keys[:-1]
    assert [s for k, s in stages] == ["select", "train", "evaluate", "diagnose"]
    again = run_experiment(cfg, out, report=False, hook=lambda c, s: pytest.fail(f"reran {c.key}"), quiet=True)
    assert again.ran == [] and again.skipped == keys


def test_one_model_per_method_budget_seed(mixture_run):
    _, out, _, _, _, _ = mixture_run
    finals = sorted(p.parents[2].relative_to(out / "cells").as_posix() for p in out.rglob("final/adapter_config.json"))
    assert finals == [
        "mixture/lexical-rr/b10-s0",
        "mixture/lexical-rr/b5-s0",
        "mixture/random/b10-s0",
        "mixture/random/b5-s0",
    ]
    assert not any((out / "cells" / task / "lexical-rr").exists() for task in TASKS)  # no per-task training
    cell = out / "cells" / "mixture" / "lexical-rr" / "b10-s0"
    assert {p.name for p in cell.iterdir()} >= {"eval-math.json", "eval-dates.json", "diagnosis-math"}


def test_rows_for_every_task_and_the_composition(mixture_run):
    _, out, _, _, summary, _ = mixture_run
    df = read_results(summary.results)
    mix = df[df["experiment"] == "mixture"]
    assert set(mix["method"]) == {"Random", METHOD} and set(mix["budget"]) == {5, 10}
    per_cell = mix.groupby(["method", "budget"])["dataset"].agg(lambda d: sorted(set(d)))
    assert all(tasks == sorted(TASKS) for tasks in per_cell)
    for task in TASKS:
        rows = mix[(mix["dataset"] == task) & (mix["method"] == METHOD) & (mix["budget"] == 10)]
        assert {"dev_loss", "test_loss", "subset_distance", "subset_share"} <= set(rows["metric"])
        assert np.isfinite(rows["value"]).all()
    zero = df[df["experiment"] == "zero_shot"]
    assert set(zero["dataset"]) == set(TASKS)
    share = mix[mix["metric"] == "subset_share"]
    assert set(share["method"]) == {METHOD}  # Random picks for no task
    for budget in (5, 10):
        cell = out / "cells" / "mixture" / "lexical-rr" / f"b{budget}-s0"
        sel = json.loads((cell / "selection" / "selection.json").read_text())
        picks = {t["name"]: t["picks"] for t in sel["targets"]["targets"]}
        assert sel["targets"]["mix"] == "equal" and sum(picks.values()) == budget
        assert max(picks.values()) - min(picks.values()) <= 1  # equal shares, to within one pick
        assert [p["target"] for p in sel["picks"]].count("math") == picks["math"]
        got = share[share["budget"] == budget].set_index("dataset")["value"].to_dict()
        assert got == pytest.approx({t: picks[t] / budget for t in TASKS})
        rows = json.loads((cell / "results.json").read_text())
        assert rows["cell"]["targets"] == TASKS
        assert {r["dataset"] for r in rows["rows"] if r["metric"] == "subset_share"} == set(TASKS)


def test_selection_equals_run_selection_with_the_same_mix(mixture_run, tmp_path):
    cfg, out, _, _, _, _ = mixture_run
    runner = _Runner(cfg, out, redo=False, hook=None, quiet=True)
    parts = [runner.task_data(t) for t in TASKS]
    tests = [(str(p.task.test), p.test) for p in parts]
    for budget in (5, 10):
        ref = run_selection(
            runner.pool,
            {p.name: p.dev for p in parts},
            LexicalRepresentation(dim=256),
            mix="equal",
            method="round_robin",
            budgets=[budget],
            evaluation=tests,
            decontaminate=cfg.decontaminate.settings(),  # (the default: on, 13-grams)
        )
        sel = json.loads(
            (out / "cells" / "mixture" / "lexical-rr" / f"b{budget}-s0" / "selection" / "selection.json").read_text()
        )
        assert [p["index"] for p in sel["picks"]] == ref.ranking.indices.tolist()
        assert [p["target"] for p in sel["picks"]] == ref.ranking.extra["target"].tolist()
    # the pool rows overlapping any task's query or test items (the union) are out of every subset
    removed = {json.loads(x)["pool_id"] for x in (out / "contamination-mixture.jsonl").read_text().splitlines()}
    assert removed == {runner.pool.ids[int(i)] for i in ref.contamination.removed}
    found = [p.contamination(tmp_path) for p in parts]
    alone = [{runner.pool.ids[int(i)] for i in f.removed} for f in found if f is not None]
    assert all(a and a < removed for a in alone) and set.union(*alone) == removed
    for key in ("random/b10-s0", "lexical-rr/b10-s0"):
        sel = json.loads((out / "cells" / "mixture" / key / "selection" / "selection.json").read_text())
        assert not removed & {p["id"] for p in sel["picks"]}


def test_report_and_dry_run(mixture_run, tmp_path, capsys):
    cfg, out, _, _, _, _ = mixture_run
    report = out / "report"
    assert (report / "mixture_dev_loss.png").stat().st_size > 1000
    assert not list(report.glob("budget_*.png")) and not (report / "mixture_subset_share.png").exists()
    summary = (report / "summary.md").read_text()
    assert "Several tasks trained together" in summary and "Share of each subset picked for each task" in summary
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(mixture_config(Path(cfg.model))))
    assert main(["experiment", "run", str(path), "-o", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "done     mixture/lexical-rr/b10-s0" in lines and lines[-1] == "6 cells: 6 done"
    assert main(["report", str(out / "results.csv"), "-o", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "mixture_test_loss.png").is_file()


def test_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.grid == "mixture" and [t.name for t in cfg.tasks] == ["math", "dates", "humaneval"]
    assert cfg.mix_settings().kind == "equal" and cfg.methods() == ["EMBED (RR)"]
    keys = [c.key for c in build_grid(cfg)]
    assert keys[:3] == ["math/zero-shot", "dates/zero-shot", "humaneval/zero-shot"]
    assert keys[3:] == ["mixture/random/b30-s0", "mixture/random/b90-s0", "mixture/embed-rr/b30-s0",
                        "mixture/embed-rr/b90-s0"]  # fmt: skip


def _base(**kw) -> dict:
    raw = {"model": "smollm2-135m", "pool": "demo", "tasks": TASKS, "representations": ["lexical"],
           "algorithms": ["round_robin"], "budgets": [20], "grid": "mixture"}  # fmt: skip
    return {**raw, **kw}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grid": "budget", "mixture": {"mix": "equal"}}, "mixture: is read only with `grid: mixture`"),
        ({"grid": "quantile", "mixture": {"mix": "equal"}, "algorithms": [], "budgets": []}, "grid: mixture"),
        ({"tasks": ["math"]}, "tasks: the mixture grid trains several tasks together: give at least 2"),
        ({"mixture": {"mix": "weights:math=2,code=1"}}, "mixture.mix: a weight for 'code', which is not a task"),
        ({"mixture": {"mix": "weights:math=2"}}, "mixture.mix: no weight for task 'dates'"),
        ({"mixture": {"mix": "half"}}, "mixture.mix must be one of equal, proportional"),
        ({"mixture": {"mix": "weights:math=-1,dates=1"}}, "weight of 'math' must be a positive number"),
        ({"mixture": {"mix": 2}}, "mixture.mix must be equal, proportional, joint or weights"),
        ({"mixture": {"mxi": "equal"}}, "unknown key"),
        ({"budgets": []}, "the mixture grid needs at least one budget"),
    ],
)
def test_bad_mixture_settings_are_one_line(change, message):
    with pytest.raises(ConfigurationError, match=message) as info:
        ExperimentConfig.from_dict(_base(**change))
    assert "\n" not in str(info.value)


def test_bad_mixture_settings_exit_2_in_the_cli(tmp_path, capsys):
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(_base(mixture={"mix": "weights:math=2,code=1"})))
    assert main(["experiment", "run", str(path), "-o", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mixture.mix" in err and "'code'" in err
    assert not (tmp_path / "out").exists()


def test_decontamination_can_be_tuned_or_switched_off_in_the_config(mixture_run, tmp_path):
    cfg = mixture_run[0]
    raw = mixture_config(Path(cfg.model))

    def runner(name: str, budget: int, setting: object = None) -> _Runner:
        conf = {**raw, "budgets": [budget], **({} if setting is None else {"decontaminate": setting})}
        return _Runner(ExperimentConfig.from_dict(conf), tmp_path / name, redo=False, hook=None, quiet=True)

    def random_picks(r: _Runner) -> set[int]:
        cell = next(c for c in build_grid(r.config) if c.method == "Random")
        return set(r.subset(cell)[0].indices.tolist())

    probe = runner("probe", 10)
    union = probe.data(next(c for c in build_grid(probe.config) if c.targets)).contamination(tmp_path / "probe")
    assert union is not None and union.removed.size > 0
    n_pool, n_clean = union.n_pool, len(union.clean_indices)
    on, off = runner("on", n_clean), runner("off", n_pool, False)
    assert off.task_data("math").contamination(tmp_path / "off") is None
    assert not (tmp_path / "off" / "contamination-math.jsonl").exists()
    assert random_picks(off) == set(range(n_pool))  # off: the random baseline draws from every row
    assert random_picks(on) == set(union.clean_indices.tolist())  # on (the default): the clean rows only
    # each setting is its own cell: the settings are part of every cell's digest
    same = {"on": runner("on", 10), "off": runner("off", 10, False), "longer": runner("longer", 10, {"ngram": 20})}
    digests = [{r.digest(c) for c in build_grid(r.config)} for r in same.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(digests) for b in digests[i + 1 :])
    with pytest.raises(ConfigurationError, match="decontaminate: unknown key"):
        ExperimentConfig.from_dict({**raw, "decontaminate": {"ngarm": 8}})
    with pytest.raises(ConfigurationError, match="decontaminate must be true, false or a mapping"):
        ExperimentConfig.from_dict({**raw, "decontaminate": "maybe"})
