"""``targetsel warmup`` (LESS LoRA warmup) and ``targetsel train`` (fine-tune on a selected subset)."""

from __future__ import annotations

from collections.abc import Callable
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
from targetsel.cli._options import settings_options
from targetsel.train.config import LESS_WARMUP, LR_SCHEDULERS, TrainConfig

__all__ = ["WARMUP_FIXED", "train_cmd", "warmup_cmd"]

_RESUME_HELP = """**Resuming.** Every `--save-steps` optimizer steps (default {save_steps}) a checkpoint goes to
`OUTPUT/resume/checkpoint-STEP` (the last two are kept). If the run dies (crash, kill, preemption),
run the same command again: it continues from the last complete step or epoch checkpoint and ends
with the same weights as an uninterrupted run (bit for bit on CPU; on GPU as close as two
uninterrupted runs are). Resuming needs the same model, data and settings
(`--save-steps` and `--device` may change); otherwise the command stops with an error, and
`--no-resume` discards the interrupted run. When the run finishes, `OUTPUT/resume` is deleted; a
finished output folder is trained again from scratch."""

_WARMUP_HELP = """LESS warmup: LoRA training on a seeded random fraction of the pool, one checkpoint per epoch.

Defaults are LESS's: 5% of the pool, r={lora_r}, alpha={lora_alpha:g}, dropout {lora_dropout:g} on
{targets} projections, {epochs} epochs, lr {lr} with a {lr_scheduler} schedule and
{warmup_ratio:.0%} warmup, AdamW, effective batch {effective_batch_size} (gradient accumulation).
Each `checkpoint-epoch-E` holds the adapter, the optimizer state and the trainer state; pass the
output folder to `encode`/`select` with `--checkpoints`.

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


_DEFAULTS = {
    **vars(LESS_WARMUP),
    "targets": "/".join(t.removesuffix("_proj") for t in LESS_WARMUP.target_modules),
    "lr": f"{LESS_WARMUP.learning_rate:g}".replace("e-0", "e-"),
    "resume": _RESUME_HELP.format(save_steps=LESS_WARMUP.save_steps),
}
_WARMUP_HELP = _WARMUP_HELP.format(**_DEFAULTS)
_TRAIN_HELP = _TRAIN_HELP.format(**_DEFAULTS)


#: TrainConfig fields ``warmup`` has no option for: it always trains a LoRA adapter and saves
#: every epoch (gradient features are taken per epoch checkpoint).
WARMUP_FIXED = ("lora", "save_every_epoch")

#: Closed-set and device options, checked (and named by their flag) before the settings are built.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "lr_scheduler": lambda value: check_choice("--lr-scheduler", value, LR_SCHEDULERS),
    "dtype": check_dtype,
    "device": parse_device,
}

_MODEL = typer.Option("smollm2-135m", "--model", "-m", help="Base model: path, hub name or smollm2-135m.")
_OUTPUT = typer.Option(..., "--output", "-o", help="Output folder for checkpoints.")
_SPLIT = typer.Option(None, "--split", help="Split of a datasets directory or hub dataset.")
_RESUME = typer.Option(
    None,
    "--resume/--no-resume",
    help="Default: continue an interrupted run in --output if there is one. --resume: continue it or fail; "
    "--no-resume: discard it and start over.",
    show_default=False,
)


@app.command("warmup", help=_WARMUP_HELP)
@settings_options(TrainConfig, into="config", omit=WARMUP_FIXED, parse=_CHECKS)
def warmup_cmd(
    pool: Path = typer.Option(..., "--pool", help="Candidate pool (file, datasets directory or hub name)."),
    model: str = _MODEL,
    output: Path = _OUTPUT,
    fraction: float = typer.Option(0.05, "--fraction", help="Fraction of the pool to warm up on."),
    subset_seed: int = typer.Option(0, "--subset-seed", help="Seed of the random warmup subset."),
    config: TrainConfig = LESS_WARMUP,
    resume: bool | None = _RESUME,
    split: str | None = _SPLIT,
    quiet: bool = QUIET,
) -> None:
    from targetsel.errors import ConfigurationError
    from targetsel.train import warmup

    apply_quiet(quiet)
    if not 0.0 < fraction <= 1.0:
        raise ConfigurationError(f"--fraction must be in (0, 1], got {fraction}")
    check_model(model)
    examples = load_data(pool, split=split)
    ckpts = warmup(
        model, examples, output, fraction=fraction, seed=subset_seed, config=config, quiet=quiet, resume=resume
    )
    if not quiet:
        typer.echo(f"{len(ckpts)} checkpoints in {output}: " + ", ".join(c.name for c in ckpts))


@app.command("train", help=_TRAIN_HELP)
@settings_options(TrainConfig, into="config", parse=_CHECKS)
def train_cmd(
    data: Path = typer.Argument(..., help="Training examples (e.g. a selected subset.jsonl)."),
    model: str = _MODEL,
    output: Path = _OUTPUT,
    config: TrainConfig = LESS_WARMUP,
    resume: bool | None = _RESUME,
    split: str | None = _SPLIT,
    quiet: bool = QUIET,
) -> None:
    from targetsel.train import train_model

    apply_quiet(quiet)
    check_model(model)
    examples = load_data(data, split=split)
    final = train_model(model, examples, output, config, quiet=quiet, resume=resume)
    if not quiet:
        typer.echo(f"trained on {len(examples)} examples: {final}")
