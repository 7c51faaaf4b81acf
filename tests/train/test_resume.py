"""Long runs survive a kill: step checkpoints in OUT/resume, and a rerun continues where the run died.

The main test SIGKILLs a real ``targetsel warmup`` process after its step checkpoint 4 (in the
middle of epoch 2, after ``checkpoint-epoch-1``), runs the same command again, and checks that
the final adapter and both LESS epoch checkpoints are *bitwise* equal (``torch.equal``) to those
of an uninterrupted run. Exact equality holds on CPU because the Trainer restores everything the
remaining steps depend on: weights, AdamW moments, LR schedule, the Python/NumPy/torch RNG states
(LoRA dropout) and the data order (accelerate's seedable sampler reshuffles each epoch from
``seed + epoch``, and the batches already seen in the interrupted epoch are skipped).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from targetsel.cli import main
from targetsel.errors import ArtifactMismatchError, MissingArtifactError
from targetsel.train import RESUME_DIR, TrainConfig, find_resume_point, train_model
from targetsel.train.checkpoints import PARAM_NAMES_FILE
from targetsel.train.core import TRAIN_INFO_FILE
from targetsel.train.resume import (
    RESUME_MANIFEST,
    finish_run,
    prepare_resume,
    read_checkpoint_state,
    record_epoch_checkpoint,
    start_run,
)

LESS_FILES = {
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "optimizer.pt",
    "param_names.json",
    "rng_state.pth",
    "scheduler.pt",
    "trainer_state.json",
    "training_args.bin",
}

# The child is the real CLI; only Trainer.training_step is wrapped, so that once step PAUSE_AT is
# done the process stops in the middle of the next optimizer step (after its first micro-batch,
# gradients half accumulated) and waits there to be killed. The kill thus lands at a known point
# instead of racing the end of the run; the wrapper changes no arithmetic.
_CHILD = """
import os, sys, time
from pathlib import Path
import transformers
from targetsel.cli import main

pause_at, marker = int(os.environ["PAUSE_AT_STEP"]), Path(os.environ["PAUSE_MARKER"])
step, calls = transformers.Trainer.training_step, []

def training_step(self, *args, **kwargs):
    if self.state.global_step >= pause_at:
        calls.append(1)
        if len(calls) == 2:
            marker.write_text(str(os.getpid()))
            time.sleep(600)
    return step(self, *args, **kwargs)

transformers.Trainer.training_step = training_step
sys.exit(main(sys.argv[1:]))
"""


def _write_rows(examples, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in examples.rows():
            fh.write(json.dumps({"messages": row["messages"]}) + "\n")
    return path


def _tensors_equal(a: Path, b: Path) -> bool:
    ta, tb = load_file(a), load_file(b)
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def _optimizer_equal(a: Path, b: Path) -> bool:
    sa, sb = (torch.load(p, map_location="cpu", weights_only=True)["state"] for p in (a, b))
    return sa.keys() == sb.keys() and all(
        sa[i].keys() == sb[i].keys() and all(torch.equal(sa[i][k], sb[i][k]) for k in sa[i]) for i in sa
    )


def _wait_for(path: Path, proc: subprocess.Popen, stderr: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before its pause:\n{stderr.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no pause within {timeout:.0f} s:\n{stderr.read_text()[-3000:]}")
        time.sleep(0.02)


def test_sigkilled_warmup_resumes_to_the_same_adapter(tiny_llama_dir, tiny_pool, tmp_path):
    rows = _write_rows(tiny_pool.select(range(24)), tmp_path / "rows.jsonl")
    # 12 of 24 rows, 4 per optimizer step: 3 steps per epoch, 6 in all; step checkpoints at 2, 4, 6.
    args = ["warmup", "--pool", str(rows), "--model", str(tiny_llama_dir), "--fraction", "0.5", "--epochs", "2",
            "--lora-r", "4", "--lora-alpha", "16", "--effective-batch-size", "4", "--per-device-batch-size", "2",
            "--max-length", "64", "--learning-rate", "1e-3", "--save-steps", "2", "--quiet"]  # fmt: skip
    out, ref = tmp_path / "killed", tmp_path / "uninterrupted"
    marker, stderr = tmp_path / "paused", tmp_path / "child.stderr"
    # Same intra-op thread count in the child as here, so that both compute bit for bit alike.
    env = {**os.environ, "PAUSE_AT_STEP": "4", "PAUSE_MARKER": str(marker), "TARGETSEL_QUIET": "1",
           "OMP_NUM_THREADS": str(torch.get_num_threads()), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *args, "--output", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        assert main([*args, "--output", str(ref)]) == 0  # the reference, while the child starts up
        _wait_for(marker, proc, stderr)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # What the killed run left: epoch 1, step checkpoints 2 and 4 (the last two), no final model.
    assert (out / "checkpoint-epoch-1").is_dir() and not (out / "final").exists()
    assert sorted(p.name for p in (out / RESUME_DIR).glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert read_checkpoint_state(out / RESUME_DIR / "checkpoint-4")["global_step"] == 4

    assert main([*args, "--output", str(out)]) == 0  # the same command again: resumes from step 4
    assert json.loads((out / TRAIN_INFO_FILE).read_text())["resumed_from_step"] == 4
    assert json.loads((ref / TRAIN_INFO_FILE).read_text())["resumed_from_step"] is None
    for run in (out, ref):  # finished runs are tidy: no step checkpoints left
        assert sorted(p.name for p in run.iterdir()) == [
            "checkpoint-epoch-1", "checkpoint-epoch-2", "final", TRAIN_INFO_FILE, "warmup_subset.json"
        ]  # fmt: skip
    assert _tensors_equal(out / "final" / "adapter_model.safetensors", ref / "final" / "adapter_model.safetensors")
    for name in ("checkpoint-epoch-1", "checkpoint-epoch-2"):
        a, b = out / name, ref / name
        assert {p.name for p in a.iterdir()} == {p.name for p in b.iterdir()} == LESS_FILES
        assert _tensors_equal(a / "adapter_model.safetensors", b / "adapter_model.safetensors"), name
        assert _optimizer_equal(a / "optimizer.pt", b / "optimizer.pt"), name
        assert (a / PARAM_NAMES_FILE).read_text() == (b / PARAM_NAMES_FILE).read_text()
        la, lb = (json.loads((p / "trainer_state.json").read_text())["log_history"] for p in (a, b))
        assert [(e["step"], e["learning_rate"], e["loss"]) for e in la if "loss" in e] == [
            (e["step"], e["learning_rate"], e["loss"]) for e in lb if "loss" in e
        ]


class _Died(Exception):
    pass


def test_run_that_died_after_its_last_step_takes_no_extra_step(tiny_llama_dir, tiny_pool, tmp_path, monkeypatch):
    """max_steps ends inside epoch 1; the process dies while writing ``final``: the rerun only reloads."""
    from transformers import Trainer

    cfg = TrainConfig(lora_r=4, lora_alpha=16.0, epochs=1, effective_batch_size=2, per_device_batch_size=2,
                      max_length=64, learning_rate=1e-3, max_steps=2, save_steps=1)  # fmt: skip
    data = tiny_pool.select(range(8))
    ref = train_model(str(tiny_llama_dir), data, tmp_path / "ref", cfg, quiet=True)
    save = Trainer.save_model

    def dies_on_final(self, output_dir=None, _internal_call=False):
        if not _internal_call:  # checkpoints are saved with _internal_call=True, `final` without
            raise _Died
        return save(self, output_dir, _internal_call=_internal_call)

    monkeypatch.setattr(Trainer, "save_model", dies_on_final)
    with pytest.raises(_Died):
        train_model(str(tiny_llama_dir), data, tmp_path / "run", cfg, quiet=True)
    monkeypatch.setattr(Trainer, "save_model", save)
    manifest = json.loads((tmp_path / "run" / RESUME_DIR / RESUME_MANIFEST).read_text())
    point = find_resume_point(tmp_path / "run", manifest["settings"])
    assert point is not None and point.finished and point.path.name == "checkpoint-epoch-1"
    final = train_model(str(tiny_llama_dir), data, tmp_path / "run", cfg, quiet=True)
    assert _tensors_equal(final / "adapter_model.safetensors", ref / "adapter_model.safetensors")
    state = json.loads((tmp_path / "run" / "checkpoint-epoch-1" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and not (tmp_path / "run" / RESUME_DIR).exists()


def _fake_checkpoint(path: Path, step: int, epoch: float, max_steps: int = 6, complete: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "epoch": epoch, "max_steps": max_steps}))
    if complete:
        (path / PARAM_NAMES_FILE).write_text("[]\n")
    return path


def test_resume_point_choice_and_errors(tmp_path):
    out, settings = tmp_path / "out", {"base_model": "m", "config": {"learning_rate": 0.001}}
    assert find_resume_point(out, settings) is None
    with pytest.raises(MissingArtifactError, match="no interrupted run"):
        find_resume_point(out, settings, resume=True)
    start_run(out, settings)
    assert find_resume_point(out, settings) is None  # killed before its first save: start over
    rdir = out / RESUME_DIR
    _fake_checkpoint(rdir / "checkpoint-2", 2, 0.67)
    _fake_checkpoint(rdir / "checkpoint-4", 4, 1.33, complete=False)  # killed while saving it
    (rdir / "checkpoint-5").mkdir()  # the Trainer had just begun this one
    _fake_checkpoint(out / "checkpoint-epoch-1", 3, 1.0)  # not listed in the manifest: from an older run
    point = find_resume_point(out, settings)
    assert point.path == rdir / "checkpoint-2" and point.closes_epoch is None and not point.finished
    record_epoch_checkpoint(out, "checkpoint-epoch-1", 3)
    point = find_resume_point(out, settings, resume=True)
    assert point.path == out / "checkpoint-epoch-1" and point.closes_epoch == 1
    (out / "checkpoint-epoch-1" / "trainer_state.json").write_text('{"global_step": 3, "ep')  # truncated
    assert find_resume_point(out, settings).path == rdir / "checkpoint-2"
    with pytest.raises(ArtifactMismatchError, match=r"learning_rate: 0\.001 then, 0\.01 now.*--no-resume"):
        find_resume_point(out, {"base_model": "m", "config": {"learning_rate": 0.01}})
    assert find_resume_point(out, {"base_model": "other"}, resume=False) is None

    prepare_resume(out, point, save_every_epoch=True)
    assert sorted(p.name for p in rdir.iterdir()) == ["checkpoint-2", RESUME_MANIFEST]
    finish_run(out)
    assert not rdir.exists() and (out / "checkpoint-epoch-1").is_dir()


def test_step_checkpoint_that_closes_an_epoch_becomes_the_epoch_checkpoint(tmp_path):
    """The run died between the step save at the end of epoch 2 and its move to checkpoint-epoch-2."""
    out, settings = tmp_path / "out", {"base_model": "m"}
    start_run(out, settings)
    _fake_checkpoint(out / RESUME_DIR / "checkpoint-6", 6, 2.0)
    point = find_resume_point(out, settings)
    assert point.closes_epoch == 2 and point.finished
    prepare_resume(out, point, save_every_epoch=True)
    assert read_checkpoint_state(out / "checkpoint-epoch-2")["global_step"] == 6
    assert find_resume_point(out, settings).global_step == 6  # still resumable from either copy
    manifest = json.loads((out / RESUME_DIR / RESUME_MANIFEST).read_text())
    assert manifest["epoch_checkpoints"] == {"checkpoint-epoch-2": 6}


def test_finished_warmup_is_tidy(tiny_warmup_dir):
    """A finished run keeps today's layout: no OUT/resume, the LESS files in every epoch checkpoint."""
    assert not (tiny_warmup_dir / RESUME_DIR).exists()
    for name in ("checkpoint-epoch-1", "checkpoint-epoch-2"):
        assert {p.name for p in (tiny_warmup_dir / name).iterdir()} == LESS_FILES


def test_resume_cli_errors(tiny_llama_dir, tiny_pool, tmp_path, capsys):
    rows = _write_rows(tiny_pool.select(range(4)), tmp_path / "rows.jsonl")
    common = ["train", str(rows), "--model", str(tiny_llama_dir), "--epochs", "1", "--effective-batch-size", "2",
              "--per-device-batch-size", "2", "--max-length", "64", "--quiet"]  # fmt: skip
    assert main([*common, "--output", str(tmp_path / "a"), "--save-steps", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "save_steps" in err
    assert main([*common, "--output", str(tmp_path / "b"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no interrupted run" in err
    warm = ["warmup", "--pool", str(rows), "--model", str(tiny_llama_dir), "--fraction", "0.5", "--quiet", "--resume"]
    assert main([*warm, "--output", str(tmp_path / "w")]) == 2
    assert "no interrupted run" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "w").exists()  # errors write nothing
    start_run(tmp_path / "c", {"base_model": "another-model"})
    _fake_checkpoint(tmp_path / "c" / RESUME_DIR / "checkpoint-1", 1, 0.5)
    assert main([*common, "--output", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings" in err and "--no-resume" in err
    assert (tmp_path / "c" / RESUME_DIR / "checkpoint-1").is_dir()  # nothing discarded without --no-resume
    assert main([*common, "--output", str(tmp_path / "c"), "--no-resume", "--save-steps", "0"]) == 0
    assert (tmp_path / "c" / "final" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "c" / RESUME_DIR).exists()


def test_save_steps_validation():
    assert TrainConfig().save_steps == 50 and TrainConfig(save_steps=None).save_steps is None
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="save_steps"):
            TrainConfig(save_steps=bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": 1, "settings": {}, "epoch_checkpoints": [1]}', "field 'epoch_checkpoints': must be a mapping"),
        ('{"format": 1, "epoch_checkpoints": {"checkpoint-epoch-1": "3"}}', "must be an integer, got '3'"),
        ('{"format": 1, "settings": {}', "not valid JSON"),
        ("[]", "must be a JSON object"),
    ],
)
def test_a_corrupt_resume_manifest_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    from targetsel.errors import InvalidDataError
    from targetsel.train.resume import RESUME_DIR, RESUME_MANIFEST, find_resume_point

    (tmp_path / RESUME_DIR).mkdir()
    (tmp_path / RESUME_DIR / RESUME_MANIFEST).write_text(text, encoding="utf-8")
    with pytest.raises(InvalidDataError, match="--no-resume") as err:
        find_resume_point(tmp_path, {})
    assert message in str(err.value) and "\n" not in str(err.value)
    assert find_resume_point(tmp_path, {}, resume=False) is None  # --no-resume still starts over
