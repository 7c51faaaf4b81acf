"""End to end: a tiny experiment on CPU through select → train → evaluate → diagnose → report,
then a simulated crash and a resume that redoes only the unfinished cell."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from targetsel.cli import main
from targetsel.errors import ArtifactMismatchError, ConfigurationError
from targetsel.experiment import DONE_FILE, ExperimentConfig, build_grid, run_experiment
from targetsel.report import read_results


def tiny_config(model_dir: Path, **overrides) -> dict:
    cfg = {
        "name": "tiny",
        "model": str(model_dir),
        "pool": "demo",
        "pool_limit": 300,
        "tasks": [{"name": "math"}],
        "representations": [{"name": "lexical", "params": {"dim": 256}}],
        "algorithms": ["round_robin"],
        "budgets": [8, 16],
        "seeds": [0],
        "train": {
            "epochs": 1,
            "effective_batch_size": 4,
            "per_device_batch_size": 4,
            "max_length": 64,
            "learning_rate": 1e-3,
            "lora_r": 4,
            "lora_alpha": 8,
        },
        "evaluate": {"max_length": 64, "loss_limit": 6, "limit": 3, "max_new_tokens": 4, "batch_size": 6},
    }
    cfg.update(overrides)
    return cfg


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def finished_run(tiny_llama_dir, tmp_path_factory):
    """Run the grid with a crash in the training of the last cell, then resume it."""
    out = tmp_path_factory.mktemp("exp") / "run"
    cfg = ExperimentConfig.from_dict(tiny_config(tiny_llama_dir))
    victim = build_grid(cfg)[-1]

    def crash(cell, stage):
        if cell == victim and stage == "train":
            raise Crash("simulated kill")

    with pytest.raises(Crash):
        run_experiment(cfg, out, hook=crash, quiet=True)
    after_crash = {
        "results": read_results(out / "results.csv"),
        "partial_exists": (out / "cells" / victim.key / "selection" / "selection.json").is_file(),
        "victim_done": (out / "cells" / victim.key / DONE_FILE).is_file(),
        "mtimes": {c.key: (out / "cells" / c.key / DONE_FILE).stat().st_mtime_ns for c in build_grid(cfg)[:-1]},
    }
    stages: list[tuple[str, str]] = []
    summary = run_experiment(cfg, out, hook=lambda c, s: stages.append((c.key, s)), quiet=True)
    return cfg, out, victim, after_crash, summary, stages


def test_crash_leaves_finished_cells_and_partial_results(finished_run):
    _, _, _, after_crash, _, _ = finished_run
    assert after_crash["partial_exists"] and not after_crash["victim_done"]
    df = after_crash["results"]
    # Everything but the victim is in the CSV already: zero-shot 3 metrics, 3 trained cells x 6.
    assert len(df) == 3 + 3 * 6
    assert not ((df["method"] == "LEXICAL (RR)") & (df["budget"] == 16)).any()


def test_resume_redoes_only_the_unfinished_cell(finished_run):
    cfg, out, victim, after_crash, summary, stages = finished_run
    keys = [c.key for c in build_grid(cfg)]
    assert summary.ran == [victim.key]
    assert summary.skipped == keys[:-1]
    assert stages == [(victim.key, s) for s in ("select", "train", "evaluate", "diagnose")]
    for key, mtime in after_crash["mtimes"].items():  # finished cells untouched
        assert (out / "cells" / key / DONE_FILE).stat().st_mtime_ns == mtime
    # A third run does nothing.
    again = run_experiment(cfg, out, report=False, hook=lambda c, s: pytest.fail(f"reran {c.key}"), quiet=True)
    assert again.ran == [] and len(again.skipped) == len(keys)


def test_results_csv_content(finished_run):
    _, out, _, _, _, _ = finished_run
    raw = pd.read_csv(out / "results.csv")
    assert list(raw.columns) == ["experiment", "dataset", "method", "budget", "bin", "seed", "metric", "value"]
    df = read_results(out / "results.csv")
    assert len(df) == 3 + 4 * 6
    assert set(df["method"]) == {"Zero-shot", "Random", "LEXICAL (RR)"}
    assert set(df["dataset"]) == {"math"}
    assert all(math.isfinite(v) for v in df["value"])
    zero = df[df["method"] == "Zero-shot"]
    assert set(zero["experiment"]) == {"zero_shot"} and zero["budget"].isna().all()
    assert set(zero["metric"]) == {"dev_loss", "test_loss", "true_metric"}
    trained = df[df["method"] != "Zero-shot"]
    assert set(trained["budget"]) == {8, 16} and set(trained["seed"]) == {0}
    assert set(trained["metric"]) == {
        "dev_loss",
        "test_loss",
        "true_metric",
        "subset_distance",
        "subset_mmd_distance",
        "subset_nn_distance",
    }
    acc = df[df["metric"] == "true_metric"]["value"]
    assert ((acc >= 0) & (acc <= 1)).all()
    dist = df[df["metric"] == "subset_distance"].set_index(["method", "budget"])["value"]
    assert ((dist > 0) & (dist < 1)).all()
    # Round-robin subsets are closer to the query set than random ones (same lexical space).
    assert dist[("LEXICAL (RR)", 16)] < dist[("Random", 16)]


def test_cell_artifacts_and_report(finished_run):
    _, out, victim, _, _, _ = finished_run
    cell = out / "cells" / victim.key
    sel = json.loads((cell / "selection" / "selection.json").read_text())
    assert sel["budget"] == 16 and sel["method"] == "round_robin"
    assert len((cell / "selection" / "subset.jsonl").read_text().splitlines()) == 16
    assert (cell / "train" / "final" / "adapter_config.json").is_file()
    ev = json.loads((cell / "eval.json").read_text())
    assert set(ev["metrics"]) == {"dev_loss", "test_loss", "true_metric"}
    assert not list(cell.glob("eval-*")) and not list(cell.glob("diagnosis-*"))  # per-task names: mixture cells only
    diag = json.loads((cell / "diagnosis" / "diagnosis.json").read_text())
    assert diag["coverage_from"] == "query_index" and sum(diag["points"][-1]["coverage"]) == 16
    assert [p["budget"] for p in diag["points"]] == [2, 4, 8, 16]  # the distance curve over prefixes
    assert (cell / "diagnosis" / "diagnosis.png").stat().st_size > 1000
    pngs = sorted((out / "report").glob("*.png"))
    assert {p.name for p in pngs} >= {"budget_dev_loss.png", "budget_true_metric.png"}
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert (out / "report" / "summary.md").read_text().count("LEXICAL (RR)") >= 1
    # the task's pool rows overlapping its query/test items are listed and never picked
    removed = [json.loads(x) for x in (out / "contamination-math.jsonl").read_text().splitlines()]
    assert not {r["pool_id"] for r in removed} & {p["id"] for p in sel["picks"]}


def test_cli_reuses_cells_and_rejects_changed_settings(finished_run, tmp_path, capsys):
    cfg, out, _, _, _, _ = finished_run
    path = tmp_path / "exp.yaml"
    raw = tiny_config(Path(cfg.model))
    path.write_text(yaml.safe_dump(raw))
    assert main(["experiment", "run", str(path), "-o", str(out), "--no-report"]) == 0
    assert "0 cells ran, 5 reused" in capsys.readouterr().out
    assert main(["experiment", "run", str(path), "-o", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("done ") == 5
    raw["evaluate"]["limit"] = 2
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ArtifactMismatchError, match="other settings"):
        run_experiment(ExperimentConfig.from_dict(raw), out)
    assert main(["experiment", "run", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--redo" in err


def test_quantile_grid_end_to_end(tiny_llama_dir, tmp_path):
    raw = tiny_config(tiny_llama_dir, grid="quantile", algorithms=[], budgets=[], quantile={"bins": 3, "per_bin": 6})
    raw["evaluate"]["metrics"] = ["dev_loss"]
    cfg = ExperimentConfig.from_dict(raw)
    summary = run_experiment(cfg, tmp_path / "q", quiet=True)
    assert len(summary.ran) == 1 + 1 + 3
    df = read_results(summary.results)
    q = df[df["experiment"] == "quantile"]
    assert sorted(q["bin"].unique()) == [0, 1, 2] and set(q["method"]) == {"LEXICAL (RR)"}
    dist = q[q["metric"] == "subset_distance"].set_index("bin")["value"]
    # Farther quantiles of the round-robin order are farther from the query set.
    assert dist[0] < dist[2]
    assert (tmp_path / "q" / "report" / "quantile_dev_loss.png").stat().st_size > 1000
    assert "LEXICAL (RR)" in (tmp_path / "q" / "report" / "spearman.csv").read_text()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tiny_llama_dir, tmp_path):
    raw = tiny_config(tiny_llama_dir, seeds=[0, 1])
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    cells = build_grid(ExperimentConfig.from_dict(raw))
    cmd = [sys.executable, "-m", "targetsel", "experiment", "run", str(path), "-o", str(out), "-q"]
    env = {**os.environ, "TARGETSEL_QUIET": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Kill as soon as the first trained cell is finished.
    first_trained = out / "cells" / cells[1].key / DONE_FILE
    deadline = time.monotonic() + 300
    while not first_trained.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert proc.returncode == -9, "the run ended before it could be killed"
    done_before = {c.key: (out / "cells" / c.key / DONE_FILE).stat().st_mtime_ns for c in cells
                   if (out / "cells" / c.key / DONE_FILE).is_file()}  # fmt: skip
    assert 2 <= len(done_before) < len(cells)

    rerun = subprocess.run(cmd[:-1], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(cells) - len(done_before)} cells ran, {len(done_before)} reused" in rerun.stdout
    for key, mtime in done_before.items():
        assert (out / "cells" / key / DONE_FILE).stat().st_mtime_ns == mtime
    df = read_results(out / "results.csv")
    assert len(df) == 3 + (len(cells) - 1) * 6
    assert set(df["seed"].dropna()) == {0, 1}


def test_killed_cell_resumes_its_training_from_the_last_step(tiny_llama_dir, tmp_path, monkeypatch):
    """A cell killed mid-training keeps its ``train/``: the rerun continues from the last step checkpoint."""
    from transformers import Trainer

    import targetsel.train.core as train_core

    base = tiny_config(tiny_llama_dir)
    train = {**base["train"], "save_steps": 1, "effective_batch_size": 2, "per_device_batch_size": 2}
    cfg = ExperimentConfig.from_dict({**base, "budgets": [16], "train": train})
    out = tmp_path / "run"
    real_step = Trainer.training_step
    seen = {"steps": 0}

    def dying_step(self, *args, **kwargs):
        seen["steps"] += 1
        if seen["steps"] == 4:  # steps 1-3 are saved; the process "dies" in step 4
            raise Crash("killed mid-training")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", dying_step)
    with pytest.raises(Crash):
        run_experiment(cfg, out, report=False, quiet=True)
    monkeypatch.setattr(Trainer, "training_step", real_step)
    points = []
    real_find = train_core.find_resume_point

    def spy(*args, **kwargs):
        point = real_find(*args, **kwargs)
        points.append(point)
        return point

    monkeypatch.setattr(train_core, "find_resume_point", spy)
    summary = run_experiment(cfg, out, report=False, quiet=True)
    # the first trained cell died in step 4 and resumes at step 3; the cells after it start fresh
    assert [p.global_step if p is not None else None for p in points] == [3] + [None] * (len(summary.ran) - 1)
    assert summary.ran and all((out / "cells" / key / DONE_FILE).is_file() for key in summary.ran)


def test_quantile_grid_with_less_warmup_and_distance_vs_loss(tiny_llama_dir, tmp_path):
    """A gradient representation without checkpoints: the harness runs LESS's warmup once (cached),
    the grid runs on its features, and the report answers "does distance predict loss?"."""
    warm = {"fraction": 0.05, "epochs": 2, "lora_r": 4, "lora_alpha": 8, "effective_batch_size": 4,
            "per_device_batch_size": 4, "max_length": 64, "learning_rate": 1e-3}  # fmt: skip
    rep = {"name": "gradient", "params": {"dim": 128, "max_length": 64}, "warmup": warm}
    raw = tiny_config(
        tiny_llama_dir, grid="quantile", algorithms=[], budgets=[], quantile={"bins": 3, "per_bin": 6},
        representations=[rep], pool_limit=120,
    )  # fmt: skip
    raw["evaluate"]["metrics"] = ["dev_loss"]
    cfg = ExperimentConfig.from_dict(raw)
    out = tmp_path / "less"
    summary = run_experiment(cfg, out, quiet=True)
    assert len(summary.ran) == 1 + 1 + 3
    folder = out / "warmup" / "LESS"
    assert sorted(p.name for p in folder.glob("checkpoint-epoch-*")) == ["checkpoint-epoch-1", "checkpoint-epoch-2"]
    done = json.loads((folder / "warmup_done.json").read_text())
    assert done["settings"]["fraction"] == 0.05 and done["settings"]["train"]["lora_r"] == 4
    df = read_results(summary.results)
    assert set(df.loc[df["experiment"] == "quantile", "method"]) == {"LESS (RR)"}
    # the store manifests name the two warmup checkpoints
    manifests = [json.loads(p.read_text()) for p in (out / "stores").rglob("manifest.json")]
    names = {m["params"]["checkpoint"]["name"] for m in manifests if m.get("representation") == "gradient"}
    assert names == {"checkpoint-epoch-1", "checkpoint-epoch-2"}
    assert (out / "report" / "distance_vs_loss.csv").is_file()
    # a rerun reuses the warmup and every cell
    stamp = (folder / "warmup_done.json").stat().st_mtime_ns
    again = run_experiment(cfg, out, report=False, quiet=True)
    assert again.ran == [] and (folder / "warmup_done.json").stat().st_mtime_ns == stamp
    # bad warmup settings fail when the config is read
    with pytest.raises(ConfigurationError, match="warmup"):
        ExperimentConfig.from_dict({**raw, "representations": [{**rep, "warmup": {"fraction": 2}}]})
    with pytest.raises(ConfigurationError, match="warmup"):
        ExperimentConfig.from_dict({**raw, "representations": [{"name": "embed", "warmup": {}}]})


@pytest.mark.slow
def test_smollm2_quantile_less_and_embed_end_to_end(tmp_path, smollm2):
    """The paper's distance-quantile protocol, shrunken, on the real SmolLM2-135M-Instruct (offline,
    from the cache): LESS warmup in the harness, LESS and EMBED features, 2 bins × 8 examples,
    1 task; select → train → evaluate → diagnose → report, with "does distance predict loss?"."""

    import numpy as np

    warm = {"fraction": 0.05, "epochs": 2, "lora_r": 16, "lora_alpha": 64, "effective_batch_size": 4,
            "per_device_batch_size": 2, "max_length": 128, "learning_rate": 1e-4}  # fmt: skip
    raw = {
        "name": "smollm2-quantile-small",
        "model": "smollm2-135m",
        "pool": "demo",
        "pool_limit": 160,
        "tasks": [{"name": "math"}],
        "grid": "quantile",
        "representations": [
            {"name": "gradient", "params": {"dim": 1024, "max_length": 128}, "warmup": warm},
            {"name": "embed"},
        ],
        "algorithms": [],
        "budgets": [],
        "seeds": [0],
        "quantile": {"bins": 2, "per_bin": 8},
        "train": {
            "epochs": 1,
            "learning_rate": 1e-4,
            "effective_batch_size": 4,
            "per_device_batch_size": 4,
            "max_length": 128,
            "lora_r": 8,
            "lora_alpha": 16,
        },
        "evaluate": {"metrics": ["dev_loss", "test_loss"], "max_length": 128, "loss_limit": 8, "batch_size": 8},
    }
    summary = run_experiment(ExperimentConfig.from_dict(raw), tmp_path / "run", quiet=True)
    df = read_results(summary.results)
    q = df[df["experiment"] == "quantile"]
    assert set(q["method"]) == {"LESS (RR)", "EMBED (RR)"} and sorted(q["bin"].unique()) == [0, 1]
    for method in ("LESS (RR)", "EMBED (RR)"):
        rows = q[q["method"] == method]
        dev = rows[rows["metric"] == "dev_loss"]["value"]
        dist = rows[rows["metric"] == "subset_distance"].set_index("bin")["value"]
        assert len(dev) == 2 and np.isfinite(dev).all()
        assert dist[0] < dist[1]  # the nearer quantile is nearer the query set, in its own representation
    assert sorted(p.name for p in (tmp_path / "run" / "warmup" / "LESS").glob("checkpoint-epoch-*")) == [
        "checkpoint-epoch-1",
        "checkpoint-epoch-2",
    ]
    assert (tmp_path / "run" / "report" / "quantile_dev_loss.png").stat().st_size > 1000
