"""``train`` and ``warmup`` that fail leave nothing they created, and keep an earlier interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.train import TrainConfig
from targetsel.train.core import run_settings
from targetsel.train.resume import RESUME_DIR, start_run

BAD_MODEL = "nobody/not-a-model"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def data(tmp_path: Path, tiny_pool) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tiny_pool.select(range(8)).rows()))
    return path


@pytest.fixture
def corrupt_model(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path) -> Path:
    """A model folder that exists (config, tokenizer) but whose weights file cannot be read."""
    import shutil

    path = tmp_path_factory.mktemp("corrupt") / "model"
    shutil.copytree(tiny_llama_dir, path)
    (path / "model.safetensors").write_bytes(b"not safetensors")
    return path


def _listing(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("targetsel: error: "), err
    return err


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("verb", ["train", "warmup"])
def test_a_model_that_cannot_be_loaded_leaves_nothing(
    verb: str, tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs" / "r1"
    args = [str(data)] if verb == "train" else ["--pool", str(data), "--fraction", "0.5"]
    before = _listing(tmp_path)
    assert main([verb, *args, "-m", BAD_MODEL, "-o", str(out), "--quiet"]) == 2
    assert BAD_MODEL in _one_error_line(capsys)
    assert _listing(tmp_path) == before  # no runs/, no resume/, no warmup_subset.json


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("which", ["missing", "corrupt"])
def test_the_library_loads_the_model_before_writing(which: str, tmp_path: Path, tiny_pool, corrupt_model) -> None:
    from targetsel.train import train_model, warmup

    model = BAD_MODEL if which == "missing" else str(corrupt_model)
    out = tmp_path / "out"
    with pytest.raises(Exception):  # noqa: B017 (a missing model is a TargetselError; corrupt weights raise the loader's error)
        train_model(model, tiny_pool.select(range(4)), out / "t", TrainConfig(lora_r=4))
    with pytest.raises(Exception):  # noqa: B017
        warmup(model, tiny_pool, out / "w", fraction=0.1, config=TrainConfig(lora_r=4))
    assert not out.exists()


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("resume", [[], ["--no-resume"]])
def test_an_interrupted_run_meant_to_be_resumed_is_left_as_it_was(
    resume: list[str], tmp_path: Path, data: Path, tiny_pool, capsys: pytest.CaptureFixture[str]
) -> None:
    from targetsel.data import load_examples

    out = tmp_path / "run"
    # the settings of `targetsel train DATA -m BAD_MODEL` (the flags' defaults are TrainConfig's)
    start_run(out, run_settings(BAD_MODEL, TrainConfig(), load_examples(data)))
    ckpt = out / RESUME_DIR / "checkpoint-2"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 2, "max_steps": 4, "epoch": 1.0}))
    (ckpt / "param_names.json").write_text("[]")
    (out / "checkpoint-epoch-1").mkdir()
    before = _listing(tmp_path)
    assert main(["train", str(data), "-m", BAD_MODEL, "-o", str(out), "--quiet", *resume]) == 2
    err = _one_error_line(capsys)
    assert BAD_MODEL in err and "other settings" not in err  # it got as far as loading the model
    assert _listing(tmp_path) == before


def test_failure_before_the_first_checkpoint_removes_the_run(
    tmp_path: Path, tiny_llama_dir: Path, tiny_pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    from targetsel.errors import InvalidDataError
    from targetsel.train import train_model

    def fail(self, *a, **k):
        assert (tmp_path / "out" / RESUME_DIR).is_dir()  # the run had started
        raise InvalidDataError("the first batch failed")

    monkeypatch.setattr(transformers.Trainer, "train", fail)
    with pytest.raises(InvalidDataError):
        train_model(str(tiny_llama_dir), tiny_pool.select(range(4)), tmp_path / "out", TrainConfig(lora_r=4))
    assert not (tmp_path / "out").exists()


def test_failure_after_a_complete_checkpoint_keeps_it_for_the_rerun(
    tmp_path: Path, tiny_llama_dir: Path, tiny_pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    from targetsel.errors import InvalidDataError
    from targetsel.train import train_model

    out = tmp_path / "out"

    def save_then_fail(self, *a, **k):
        ckpt = out / RESUME_DIR / "checkpoint-1"
        ckpt.mkdir()
        (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 1, "max_steps": 4, "epoch": 0.5}))
        (ckpt / "param_names.json").write_text("[]")
        raise InvalidDataError("step 2 failed")

    monkeypatch.setattr(transformers.Trainer, "train", save_then_fail)
    with pytest.raises(InvalidDataError):
        train_model(str(tiny_llama_dir), tiny_pool.select(range(4)), out, TrainConfig(lora_r=4))
    assert (out / RESUME_DIR / "checkpoint-1" / "param_names.json").is_file()
