"""``targetsel train`` and ``warmup`` take their settings options from ``TrainConfig``'s fields."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from targetsel.cli import app, main
from targetsel.cli._options import field_flags, field_help
from targetsel.cli.train import WARMUP_FIXED
from targetsel.train import TrainConfig

#: The settings flags of each command: a renamed flag breaks scripts, so they are pinned here.
TRAIN_FLAGS = {
    "lora": ["--full"],
    "lora_r": ["--lora-r"],
    "lora_alpha": ["--lora-alpha"],
    "lora_dropout": ["--lora-dropout"],
    "target_modules": ["--target-modules"],
    "epochs": ["--epochs"],
    "learning_rate": ["--learning-rate", "--lr"],
    "lr_scheduler": ["--lr-scheduler"],
    "warmup_ratio": ["--warmup-ratio"],
    "effective_batch_size": ["--effective-batch-size"],
    "per_device_batch_size": ["--per-device-batch-size"],
    "weight_decay": ["--weight-decay"],
    "seed": ["--seed"],
    "max_length": ["--max-length"],
    "save_every_epoch": ["--no-checkpoints"],
    "save_steps": ["--save-steps"],
    "max_steps": ["--max-steps"],
    "dtype": ["--dtype"],
    "device": ["--device"],
}


def _options(verb: str) -> dict[str, Any]:
    import typer.main

    return {p.name: p for p in typer.main.get_command(app).commands[verb].params}


@pytest.mark.parametrize("verb", ["train", "warmup"])
def test_every_field_is_an_option_with_the_field_help(verb: str) -> None:
    options = _options(verb)
    for f in dataclasses.fields(TrainConfig):
        if verb == "warmup" and f.name in WARMUP_FIXED:
            assert f.name not in options
            continue
        assert f.name in options, f"{verb} has no option for TrainConfig.{f.name}"
        option = options[f.name]
        assert f.metadata["help"] and option.help == field_help(f), f.name
        assert tuple(option.opts) == field_flags(f) == tuple(TRAIN_FLAGS[f.name]), f.name
        default = f.default if "switch" not in f.metadata else False
        assert option.default == (",".join(default) if isinstance(default, tuple) else default), f.name


def test_warmup_fixes_only_what_warmup_requires() -> None:
    from targetsel.train import LESS_WARMUP

    assert WARMUP_FIXED == ("lora", "save_every_epoch")
    assert all(getattr(LESS_WARMUP, name) is True for name in WARMUP_FIXED)


def test_the_flag_list_is_complete() -> None:
    assert set(TRAIN_FLAGS) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """``train_model`` and ``warmup`` replaced by recorders of the settings they get."""
    import targetsel.train

    seen: dict[str, Any] = {}

    def train_model(model: str, examples: Any, output: Path, config: TrainConfig, **kw: Any) -> Path:
        seen["train"] = config
        return output / "final"

    def warmup(model: str, examples: Any, output: Path, *, config: TrainConfig, **kw: Any) -> list[Path]:
        seen["warmup"] = (config, kw["fraction"], kw["seed"])
        return []

    monkeypatch.setattr(targetsel.train, "train_model", train_model)
    monkeypatch.setattr(targetsel.train, "warmup", warmup)
    rows = [{"prompt": f"what is {i} plus {i}", "completion": str(2 * i)} for i in range(4)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "model").mkdir()
    return seen


def test_the_options_build_the_settings(captured: dict[str, Any], tmp_path: Path) -> None:
    data, model, out = str(tmp_path / "data.jsonl"), str(tmp_path / "model"), str(tmp_path / "out")
    assert main(["train", data, "-m", model, "-o", out, "--quiet"]) == 0
    assert captured["train"] == TrainConfig()
    argv = ["train", data, "-m", model, "-o", out, "--quiet", "--full", "--no-checkpoints", "--lr", "1e-4"]
    argv += ["--target-modules", " q_proj, v_proj,,", "--lora-r", "8", "--device", "cpu", "--save-steps", "0"]
    assert main(argv) == 0
    expected = TrainConfig(
        lora=False,
        save_every_epoch=False,
        learning_rate=1e-4,
        target_modules=("q_proj", "v_proj"),
        lora_r=8,
        device="cpu",
        save_steps=0,
    )
    assert captured["train"] == expected
    argv = ["warmup", "--pool", data, "-m", model, "-o", out, "--quiet", "--fraction", "0.5", "--subset-seed", "3"]
    assert main([*argv, "--epochs", "1", "--learning-rate", "1e-3", "--dtype", "bf16"]) == 0
    assert captured["warmup"] == (TrainConfig(epochs=1, learning_rate=1e-3, dtype="bf16"), 0.5, 3)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--lora-r", "0"], "lora_r must be positive, got 0"),
        (["--lr-scheduler", "step"], "--lr-scheduler must be one of linear, cosine, constant or constant_with_warmup"),
        (["--target-modules", ","], "target_modules must name at least one module"),
    ],
)
def test_bad_settings_are_one_line(
    extra: list[str], message: str, captured: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for verb in (["train", str(tmp_path / "data.jsonl")], ["warmup", "--pool", str(tmp_path / "data.jsonl")]):
        assert main([*verb, "-m", str(tmp_path / "model"), "-o", str(tmp_path / "out"), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("targetsel: error: ") and message in err and err.count("\n") == 1
    assert not captured
