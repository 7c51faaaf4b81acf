"""``targetsel warmup`` (LESS LoRA warmup) and ``targetsel train`` (fine-tune on a selected subset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from targetsel.cli._app import app
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    check_choice,
    check_dtype,
    check_model,
    load_data,
    parse_device,
)

__all__ = ["train_cmd", "warmup_cmd"]

_RESUME_HELP = """**Resuming.** Every `--save-steps` optimizer steps (default 50) a checkpoint goes to
`OUTPUT/resume/checkpoint-STEP` (the last two are kept). If the run dies (crash, kill, preemption),
run the same command again: it continues from the last complete step or epoch checkpoint and ends
with the same weights as an uninterrupted run (bit for bit on CPU; on GPU as close as two
uninterrupted runs are). Resuming needs the same model, data and settings
(`--save-steps` and `--device` may change); otherwise the command stops with an error, and
`--no-resume` discards the interrupted run. When the run finishes, `OUTPUT/resume` is deleted; a
finished output folder is trained again from scratch."""

_WARMUP_HELP = """LESS warmup: LoRA training on a seeded random fraction of the pool, one checkpoint per epoch.

Defaults are LESS's: 5% of the pool, r=128, alpha=512, dropout 0.1 on q/k/v/o projections,
4 epochs, lr 2e-5 with a linear schedule and 3% warmup, AdamW, effective batch 128 (gradient
accumulation). Each `checkpoint-epoch-E` holds the adapter, the optimizer state and the trainer
state; pass the output folder to `encode`/`select` with `--checkpoints`.

{resume}

**Examples**

* `targetsel warmup --pool pool.jsonl --model smollm2-135m --output warmup/`
* `targetsel warmup --pool pool.jsonl --model meta-llama/Llama-2-7b-hf --output w/ --dtype bf16`
* `targetsel warmup --pool pool.jsonl --output w/ --fraction 0.01 --epochs 1 --max-steps 5 --quiet`
* `targetsel warmup --pool pool.jsonl --output w/ --save-steps 20` (killed? run the same command again)
"""

_TRAIN_HELP = """Fine-tune a model on a (selected) set of examples: LoRA by default, `--full` for all weights.

Loss is on assistant tokens only. Per-epoch checkpoints go to `OUTPUT/checkpoint-epoch-E`, the
final adapter or model (with its tokenizer) to `OUTPUT/final`.

{resume}

**Examples**

* `targetsel train selection/subset.jsonl --model smollm2-135m --output runs/rr-1000`
* `targetsel train subset.jsonl --output runs/full --full --learning-rate 2e-5 --epochs 2`
* `targetsel train subset.jsonl --output runs/rr-1000 --resume` (continue the interrupted run, or fail)
* `targetsel train subset.jsonl --output runs/rr-1000 --no-resume --save-steps 0` (start over, no step saves)
"""


_WARMUP_HELP = _WARMUP_HELP.replace("{resume}", _RESUME_HELP)
_TRAIN_HELP = _TRAIN_HELP.replace("{resume}", _RESUME_HELP)


def _config(**kw: Any) -> Any:
    """The :class:`TrainConfig` of the flags; closed-set flags and the device checked first."""
    from targetsel.train import TrainConfig
    from targetsel.train.config import _SCHEDULERS  # the names TrainConfig accepts

    check_choice("--lr-scheduler", kw["lr_scheduler"], _SCHEDULERS)
    check_dtype(kw["dtype"])
    kw["device"] = parse_device(kw["device"])
    targets = kw.pop("target_modules")
    kw["target_modules"] = tuple(t.strip() for t in targets.split(",") if t.strip())
    return TrainConfig(**kw)


_MODEL = typer.Option("smollm2-135m", "--model", "-m", help="Base model: path, hub name or smollm2-135m.")
_OUTPUT = typer.Option(..., "--output", "-o", help="Output folder for checkpoints.")
_LORA_R = typer.Option(128, "--lora-r", help="LoRA rank.")
_LORA_ALPHA = typer.Option(512.0, "--lora-alpha", help="LoRA alpha.")
_LORA_DROPOUT = typer.Option(0.1, "--lora-dropout", help="LoRA dropout while training.")
_TARGETS = typer.Option("q_proj,k_proj,v_proj,o_proj", "--target-modules", help="Comma-separated LoRA targets.")
_EPOCHS = typer.Option(4, "--epochs", help="Training epochs.")
_LR = typer.Option(2e-5, "--learning-rate", "--lr", help="Peak learning rate.")
_SCHED = typer.Option("linear", "--lr-scheduler", help="linear, cosine, constant or constant_with_warmup.")
_WARM = typer.Option(0.03, "--warmup-ratio", help="Fraction of steps with LR warmup.")
_EBS = typer.Option(128, "--effective-batch-size", help="Examples per optimizer step (gradient accumulation).")
_PDBS = typer.Option(1, "--per-device-batch-size", help="Examples per forward pass.")
_WD = typer.Option(0.0, "--weight-decay", help="AdamW weight decay.")
_SEED = typer.Option(0, "--seed", help="Training seed.")
_MAXLEN = typer.Option(512, "--max-length", help="Maximum tokens per example.")
_MAXSTEPS = typer.Option(-1, "--max-steps", help="Stop after this many optimizer steps (-1: all epochs).")
_DTYPE = typer.Option("float32", "--dtype", help="float32, bf16 or fp16.")
_DEVICE = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (default: cuda when there is one).")
_SAVE_STEPS = typer.Option(
    50, "--save-steps", help="Save a resume checkpoint every N optimizer steps (0: only the epoch checkpoints)."
)
_RESUME = typer.Option(
    None,
    "--resume/--no-resume",
    help="Default: continue an interrupted run in --output if there is one. --resume: continue it or fail; "
    "--no-resume: discard it and start over.",
    show_default=False,
)


@app.command("warmup", help=_WARMUP_HELP)
def warmup_cmd(
    pool: Path = typer.Option(..., "--pool", help="Candidate pool (file, datasets directory or hub name)."),
    model: str = _MODEL,
    output: Path = _OUTPUT,
    fraction: float = typer.Option(0.05, "--fraction", help="Fraction of the pool to warm up on."),
    subset_seed: int = typer.Option(0, "--subset-seed", help="Seed of the random warmup subset."),
    lora_r: int = _LORA_R,
    lora_alpha: float = _LORA_ALPHA,
    lora_dropout: float = _LORA_DROPOUT,
    target_modules: str = _TARGETS,
    epochs: int = _EPOCHS,
    learning_rate: float = _LR,
    lr_scheduler: str = _SCHED,
    warmup_ratio: float = _WARM,
    effective_batch_size: int = _EBS,
    per_device_batch_size: int = _PDBS,
    weight_decay: float = _WD,
    seed: int = _SEED,
    max_length: int = _MAXLEN,
    max_steps: int = _MAXSTEPS,
    save_steps: int = _SAVE_STEPS,
    resume: bool | None = _RESUME,
    dtype: str = _DTYPE,
    device: str | None = _DEVICE,
    split: str | None = typer.Option(None, "--split", help="Split of a datasets directory or hub dataset."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.errors import ConfigurationError
    from targetsel.train import warmup

    apply_quiet(quiet)
    if not 0.0 < fraction <= 1.0:
        raise ConfigurationError(f"--fraction must be in (0, 1], got {fraction}")
    cfg = _config(
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules,
        epochs=epochs,
        learning_rate=learning_rate,
        lr_scheduler=lr_scheduler,
        warmup_ratio=warmup_ratio,
        effective_batch_size=effective_batch_size,
        per_device_batch_size=per_device_batch_size,
        weight_decay=weight_decay,
        seed=seed,
        max_length=max_length,
        max_steps=max_steps,
        save_steps=save_steps,
        dtype=dtype,
        device=device,
    )
    check_model(model)
    examples = load_data(pool, split=split)
    ckpts = warmup(model, examples, output, fraction=fraction, seed=subset_seed, config=cfg, quiet=quiet, resume=resume)
    if not quiet:
        typer.echo(f"{len(ckpts)} checkpoints in {output}: " + ", ".join(c.name for c in ckpts))


@app.command("train", help=_TRAIN_HELP)
def train_cmd(
    data: Path = typer.Argument(..., help="Training examples (e.g. a selected subset.jsonl)."),
    model: str = _MODEL,
    output: Path = _OUTPUT,
    full: bool = typer.Option(False, "--full", help="Full fine-tuning instead of LoRA."),
    lora_r: int = _LORA_R,
    lora_alpha: float = _LORA_ALPHA,
    lora_dropout: float = _LORA_DROPOUT,
    target_modules: str = _TARGETS,
    epochs: int = _EPOCHS,
    learning_rate: float = _LR,
    lr_scheduler: str = _SCHED,
    warmup_ratio: float = _WARM,
    effective_batch_size: int = _EBS,
    per_device_batch_size: int = _PDBS,
    weight_decay: float = _WD,
    seed: int = _SEED,
    max_length: int = _MAXLEN,
    max_steps: int = _MAXSTEPS,
    no_checkpoints: bool = typer.Option(False, "--no-checkpoints", help="Save only the final model."),
    save_steps: int = _SAVE_STEPS,
    resume: bool | None = _RESUME,
    dtype: str = _DTYPE,
    device: str | None = _DEVICE,
    split: str | None = typer.Option(None, "--split", help="Split of a datasets directory or hub dataset."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.train import train_model

    apply_quiet(quiet)
    cfg = _config(
        lora=not full,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules,
        epochs=epochs,
        learning_rate=learning_rate,
        lr_scheduler=lr_scheduler,
        warmup_ratio=warmup_ratio,
        effective_batch_size=effective_batch_size,
        per_device_batch_size=per_device_batch_size,
        weight_decay=weight_decay,
        seed=seed,
        max_length=max_length,
        max_steps=max_steps,
        save_every_epoch=not no_checkpoints,
        save_steps=save_steps,
        dtype=dtype,
        device=device,
    )
    check_model(model)
    examples = load_data(data, split=split)
    final = train_model(model, examples, output, cfg, quiet=quiet, resume=resume)
    if not quiet:
        typer.echo(f"trained on {len(examples)} examples: {final}")
