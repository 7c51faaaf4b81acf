"""Experiment config: validation on load (one clear error per mistake), grid shape, labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from targetsel.cli import main
from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.experiment import ExperimentConfig, build_grid, load_config, method_label


@pytest.fixture(autouse=True)
def _builtin_model_may_be_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The configs name the built-in smollm2-135m, which passes the up-front model check where it
    may be fetched on first use; these tests never load it, so nothing is downloaded."""
    monkeypatch.delenv("TARGETSEL_OFFLINE", raising=False)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "experiment_demo.yaml"


def base(**kw):
    d = {
        "model": "smollm2-135m",
        "pool": "demo",
        "tasks": ["math"],
        "representations": ["lexical"],
        "algorithms": ["round_robin"],
        "budgets": [20, 40],
    }
    d.update(kw)
    return d


def test_bundled_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.grid == "budget" and cfg.methods() == ["EMBED (RR)"]
    assert cfg.tasks[0].query.endswith("dev.jsonl") and cfg.tasks[0].test.endswith("test.jsonl")
    tc = cfg.train_config(3)
    assert tc.seed == 3 and tc.epochs == 1 and not tc.save_every_epoch


def test_paper_training_defaults_and_labels():
    tc = ExperimentConfig.from_dict(base()).train_config(0)
    assert (tc.epochs, tc.learning_rate, tc.effective_batch_size, tc.warmup_ratio, tc.weight_decay) == (
        2,
        2e-5,
        128,
        0.03,
        0.0,
    )
    assert tc.lr_scheduler == "linear"
    assert method_label("gradient", "round_robin") == "LESS (RR)"
    assert method_label("hidden", "doubly_greedy") == "RDS+ (DG)"
    assert method_label("embed", "round_robin") == "EMBED (RR)"


def test_grid_shapes():
    cells = build_grid(ExperimentConfig.from_dict(base(seeds=[0, 1], algorithms=["round_robin", "doubly_greedy"])))
    # zero-shot + per seed (random x 2 budgets + 1 rep x 2 algos x 2 budgets)
    assert len(cells) == 1 + 2 * (2 + 4)
    assert len({c.key for c in cells}) == len(cells)
    assert {c.method for c in cells} == {"Zero-shot", "Random", "LEXICAL (RR)", "LEXICAL (DG)"}
    q = build_grid(
        ExperimentConfig.from_dict(base(grid="quantile", representations=["lexical", "embed"], quantile={"bins": 4}))
    )
    assert sorted({c.bin for c in q if c.bin is not None}) == [0, 1, 2, 3]
    assert {c.experiment for c in q} == {"zero_shot", "budget", "quantile"}
    focus = build_grid(ExperimentConfig.from_dict(base(grid="quantile", quantile={"bins": 2, "focus": True})))
    assert "quantile_focus" in {c.experiment for c in focus}
    # mixture: each task's zero-shot, then per seed one cell per budget for Random and each method, for all tasks
    mix = build_grid(ExperimentConfig.from_dict(base(grid="mixture", tasks=["math", "dates"], seeds=[0, 1])))
    assert len(mix) == 2 + 2 * (2 + 2) and len({c.key for c in mix}) == len(mix)
    assert [c.key for c in mix[:4]] == [
        "math/zero-shot",
        "dates/zero-shot",
        "mixture/random/b20-s0",
        "mixture/random/b40-s0",
    ]
    assert {c.targets for c in mix if c.experiment == "mixture"} == {("math", "dates")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"budgets": []}, "budgets"),
        ({"budgets": [0]}, "positive"),
        ({"budgets": [10, 10]}, "unique"),
        ({"algorithms": ["random"]}, "always added"),
        ({"algorithms": ["nope"]}, "unknown selection method"),
        ({"representations": ["nope"]}, "unknown representation"),
        ({"grid": "cube"}, "grid must be"),
        ({"seeds": [-1]}, "seeds"),
        ({"tasks": ["my_task"]}, "needs `query:`"),
        ({"train": {"epochz": 2}}, "unknown setting"),
        ({"train": {"seed": 2}}, "seeds:"),
        ({"train": {"epochs": 0}}, "epochs"),
        ({"evaluate": {"metrics": ["bleu"]}}, "metrics"),
        ({"quantile": {"bins": 1}}, "bins"),
        ({"diagnose": {"representation": "embed"}}, "not one of the grid"),
        ({"typo": 1}, "unknown key"),
        ({"tasks": ["humaneval"]}, "allow_code_execution"),
    ],
)
def test_invalid_configs_fail_on_load(change, message):
    with pytest.raises(ConfigurationError, match=message):
        ExperimentConfig.from_dict(base(**change))


def test_missing_files_and_yaml_errors(tmp_path, capsys):
    with pytest.raises(MissingArtifactError):
        ExperimentConfig.from_dict(base(pool="nowhere.jsonl"), base=tmp_path)
    with pytest.raises(ConfigurationError, match="missing required key"):
        ExperimentConfig.from_dict({"pool": "demo"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_config(bad)
    # Relative paths resolve against the config's folder.
    (tmp_path / "q.jsonl").write_text('{"prompt": "1+1?", "completion": "#### 2", "answer": "2"}\n')
    good = tmp_path / "exp.yaml"
    good.write_text(yaml.safe_dump(base(tasks=[{"name": "toy", "query": "q.jsonl", "answer_format": "number"}])))
    cfg = load_config(good)
    assert cfg.tasks[0].query == str(tmp_path / "q.jsonl") and cfg.tasks[0].test is None
    assert cfg.eval_config(cfg.tasks[0]).metrics == ("dev_loss", "true_metric")
    # The CLI reports config errors as one line and exit status 2, before any work.
    bad.write_text(yaml.safe_dump(base(budgets=[10_000])))
    assert main(["experiment", "run", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exceeds the pool size" in err
    assert not (tmp_path / "out").exists()
    assert main(["experiment", "run", str(good)]) == 2
    assert "--output" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"representations": [{"name": "lexical", "params": {"nosuch": 1}}]},
            "representations[0].params: bad parameters for representation 'lexical': unknown parameter 'nosuch'; "
            "valid parameters: dim, feature_dtype, ngram, text_turns",
        ),
        (
            {"representations": ["embed", {"name": "lexical", "params": {"dim": "abc"}}]},
            "representations[1].params: bad parameters for representation 'lexical': dim must be an integer, got 'abc'",
        ),
        (
            {"algorithms": [{"name": "knn_uniform", "params": {"alpha": "x"}}]},
            "bad parameters for method 'knn_uniform': alpha must be a number, got 'x'",
        ),
        (
            {"algorithms": [{"name": "round_robin", "params": {"x": 1}}]},
            "bad parameters for method 'round_robin': unknown parameter 'x'; method 'round_robin' takes no parameters",
        ),
        ({"algorithms": [{"params": {}}]}, "algorithms[0]: missing required key 'name'"),
        ({"keep_models": "no"}, "keep_models must be true or false"),
        ({"pool_limit": True}, "pool_limit must be a positive integer, got True"),
        ({"budgets": [20, True]}, "budgets[1] must be a positive integer, got True"),
        ({"quantile": {"per_bin": 2.5}}, "quantile.per_bin must be a positive integer, got 2.5"),
        ({"tasks": [{"name": "math", "test": 3}]}, "tasks[0].test must be a path string, got 3"),
    ],
)
def test_invalid_configs_name_the_field(change, message):
    with pytest.raises(ConfigurationError) as err:
        ExperimentConfig.from_dict(base(**change))
    assert str(err.value) == message


def test_config_models_keep_the_attribute_api_and_parse_number_text():
    cfg = ExperimentConfig.from_dict(
        base(
            algorithms=[{"name": "uot", "params": {"reg_m_query": "inf", "reg": "5e-2"}, "label": "OT"}],
            budgets=[40, 20],
            quantile=None,
            diagnose={"exact_limit": 10},
        )
    )
    alg = cfg.algorithms[0]
    assert alg.params == {"reg_m_query": float("inf"), "reg": 0.05} and alg.display == "OT"
    assert cfg.budgets == [20, 40] and cfg.seeds == [0] and cfg.keep_models is True
    assert cfg.quantile.__dict__ == {"bins": 5, "per_bin": 100, "focus": False}  # cell digests read these
    assert cfg.diagnose.__dict__ == {"enabled": True, "representation": None, "exact_limit": 10}
    rep = cfg.representations[0]
    assert (rep.name, rep.params, rep.label, rep.warmup, rep.display, rep.needs_warmup) == (
        "lexical",
        {},
        None,
        None,
        "LEXICAL",
        False,
    )
    # config.json keeps the field order of the former dataclasses
    assert list(cfg.to_dict()) == [
        "model",
        "pool",
        "tasks",
        "representations",
        "name",
        "pool_limit",
        "pool_seed",
        "grid",
        "algorithms",
        "budgets",
        "seeds",
        "quantile",
        "train",
        "evaluate",
        "diagnose",
        "output",
        "store_dir",
        "keep_models",
        "decontaminate",
    ]
    assert list(cfg.to_dict()["tasks"][0]) == ["name", "query", "test", "answer_format"]


def _dry_run(path: Path, out: Path, capsys, *extra: str) -> tuple[int, list[str], str]:
    rc = main(["experiment", "run", str(path), "-o", str(out), "--dry-run", *extra])
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), captured.err


def test_dry_run_marks_the_cells_the_real_run_would_refuse(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    out = tmp_path / "out"
    path.write_text(yaml.safe_dump(base(pool_limit=50, budgets=[20, 80])))
    rc, lines, err = _dry_run(path, out, capsys)
    assert rc == 2 and not out.exists()
    reason = "budget 80 exceeds the pool size 50; lower it or raise pool_limit"
    assert lines == [
        "todo     math/zero-shot",
        "todo     math/random/b20-s0",
        f"refused  math/random/b80-s0  ({reason})",
        "todo     math/lexical-rr/b20-s0",
        f"refused  math/lexical-rr/b80-s0  ({reason})",
        "5 cells: 3 todo, 2 refused",
    ]
    assert err == f"targetsel: error: the real run would refuse 2 of 5 cells, first math/random/b80-s0: {reason}\n"
    # the real run refuses the same config, before any work
    assert main(["experiment", "run", str(path), "-o", str(out)]) == 2
    assert reason in capsys.readouterr().err and not out.exists()
    # quantile bins the pool cannot fill: every quantile cell is refused
    path.write_text(
        yaml.safe_dump(
            base(pool_limit=50, grid="quantile", algorithms=[], budgets=[], quantile={"bins": 4, "per_bin": 20})
        )
    )
    rc, lines, err = _dry_run(path, out, capsys)
    assert rc == 2 and not out.exists() and "cannot hold per_bin=20" in err
    assert sum(line.startswith("refused  math/lexical-rr/q") for line in lines) == 4


def test_dry_run_marks_cells_finished_with_other_settings(tmp_path, capsys):
    from targetsel.experiment.cells import _Runner

    path = tmp_path / "exp.yaml"
    out = tmp_path / "out"
    raw = base(pool_limit=60, budgets=[20])
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    cells = build_grid(cfg)
    runner = _Runner(cfg, out, redo=False, hook=None, quiet=True)
    for cell, digest in zip(cells[:2], [runner.digest(cells[0]), "0" * 16], strict=True):
        folder = out / "cells" / cell.key
        folder.mkdir(parents=True)
        (folder / "done.json").write_text(json.dumps({"digest": digest, "key": cell.key, "seconds": 1.0}))
    before = sorted(out.rglob("*"))
    rc, lines, err = _dry_run(path, out, capsys)
    assert rc == 2 and lines[0] == "done     math/zero-shot" and lines[1].startswith("refused  math/random/b20-s0  (")
    assert "other settings" in lines[1] and err.count("\n") == 1 and "--redo" in err
    rc, lines, err = _dry_run(path, out, capsys, "--redo")
    assert rc == 0 and err == ""
    assert lines == [
        "done     math/zero-shot",
        "redo     math/random/b20-s0",
        "todo     math/lexical-rr/b20-s0",
        "3 cells: 1 done, 1 todo, 1 redo",
    ]
    assert sorted(out.rglob("*")) == before  # nothing written


def test_dry_run_reads_each_task_and_checks_the_model(tmp_path, capsys, monkeypatch):
    (tmp_path / "q.jsonl").write_text('{"prompt": "1+1?", "completion": "#### 2", "answer": "2"}\n{"broken\n')
    path = tmp_path / "exp.yaml"
    out = tmp_path / "out"
    path.write_text(yaml.safe_dump(base(tasks=[{"name": "toy", "query": "q.jsonl", "answer_format": "number"}])))
    rc, lines, err = _dry_run(path, out, capsys)
    assert rc == 2 and not out.exists()
    assert all(line.startswith("refused  toy/") and "task toy: " in line for line in lines[:-1])
    assert err.count("\n") == 1 and "row 2" in err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path.write_text(yaml.safe_dump(base(model="nobody/not-a-model")))
    rc, lines, err = _dry_run(path, out, capsys)
    assert rc == 2 and lines == [] and err.startswith("targetsel: error: model 'nobody/not-a-model' not found")
    assert err.count("\n") == 1 and not out.exists()
