"""Supervised fine-tuning with ``transformers.Trainer`` + ``peft``: LESS warmup and ``targetsel train``."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.atomic import atomic_write_text
from targetsel.cleanup import undo_on_failure
from targetsel.data import ExampleSet
from targetsel.distributed import world_info
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.lora import LoraSettings
from targetsel.train.checkpoints import find_checkpoints
from targetsel.train.config import LESS_WARMUP, TrainConfig
from targetsel.train.resume import (
    RESUME_DIR,
    RESUME_KEEP,
    ResumePoint,
    checkpoint_callback,
    find_resume_point,
    finish_run,
    has_progress,
    prepare_resume,
    start_run,
)

if TYPE_CHECKING:
    from targetsel.chat import LossOn

logger = logging.getLogger(__name__)

__all__ = [
    "TRAIN_INFO_FILE",
    "build_lora_model",
    "run_settings",
    "tokenize_dataset",
    "train_model",
    "warmup",
    "warmup_indices",
]

TRAIN_INFO_FILE = "targetsel_train.json"


def tokenize_dataset(
    tokenizer: Any, examples: ExampleSet, *, max_length: int, loss_on: LossOn = "all_assistant"
) -> list[dict[str, list[int]]]:
    """Tokenised examples (``input_ids``, ``attention_mask``, ``labels``) in row order."""
    from targetsel.chat import tokenize_example

    return [tokenize_example(tokenizer, m, max_length=max_length, loss_on=loss_on) for m in examples.iter_messages()]


def build_lora_model(model: Any, config: TrainConfig | LoraSettings) -> Any:
    """Wrap a causal LM in a fresh peft LoRA adapter with ``config``'s rank, alpha, dropout and targets."""
    from peft import get_peft_model

    lora = config if isinstance(config, LoraSettings) else config.lora_settings
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    absent = [t for t in lora.target_modules if t not in names]
    if absent:
        raise ConfigurationError(
            f"LoRA target modules {absent} do not exist in the model; it has e.g. {sorted(names)[:12]}"
        )
    return get_peft_model(model, lora.peft_config(task_type="CAUSAL_LM", bias="none"))


def _is_main_process() -> bool:
    return world_info()[0] == 0


def _world_size() -> int:
    return world_info()[1]


def run_settings(model: str, config: TrainConfig, examples: ExampleSet, world_size: int = 1) -> dict[str, Any]:
    """What must be equal for an interrupted run to be resumed: base model, data, settings, world size.

    ``save_steps`` and ``device`` are left out: changing them between attempts (a preempted job
    that comes back on another machine) leaves the optimisation as it was.

    Example:
        >>> rows = ExampleSet.from_records([{"messages": [{"role": "user", "content": "hi"},
        ...                                               {"role": "assistant", "content": "hello"}]}])
        >>> s = run_settings("m", TrainConfig(save_steps=10), rows)
        >>> sorted(s), "save_steps" in s["config"]
        (['base_model', 'config', 'examples_fingerprint', 'num_examples', 'world_size'], False)
    """
    cfg = {k: v for k, v in config.to_dict().items() if k not in ("save_steps", "device")}
    settings: dict[str, Any] = json.loads(
        json.dumps(
            {
                "base_model": model,
                "config": cfg,
                "num_examples": len(examples),
                "examples_fingerprint": examples.fingerprint,
                "world_size": world_size,
            }
        )
    )
    return settings


def _begin(out: Path, point: ResumePoint | None, settings: dict[str, Any], config: TrainConfig) -> None:
    """Get ``out`` ready to resume from ``point`` or to start over (main process only)."""
    if not _is_main_process():
        return
    out.mkdir(parents=True, exist_ok=True)
    if point is None:
        start_run(out, settings)
        (out / TRAIN_INFO_FILE).unlink(missing_ok=True)  # it described an earlier run, overwritten now
    else:
        logger.warning(
            "resuming the interrupted run in %s from %s (step %d of %d)",
            out,
            point.path.relative_to(out),
            point.global_step,
            point.max_steps,
        )
        prepare_resume(out, point, save_every_epoch=config.save_every_epoch)


def _output_guard(out: Path) -> contextlib.AbstractContextManager[None]:
    """On the main process: an error before the run's first complete checkpoint removes what it created."""
    if not _is_main_process():
        return contextlib.nullcontext()
    return undo_on_failure(out, keep_if=lambda: has_progress(out))


def _training_arguments(config: TrainConfig, out: Path, device: str, world: int, quiet: bool) -> Any:
    from transformers import TrainingArguments

    steps = config.save_steps or 0
    strategy = "steps" if steps > 0 else ("epoch" if config.save_every_epoch else "no")
    return TrainingArguments(
        # the Trainer saves (and rotates) its checkpoints here; epoch saves are moved up to `out`
        output_dir=str(out / RESUME_DIR),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps(world),
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=1,
        save_strategy=strategy,
        save_steps=steps if steps > 0 else 500,
        save_total_limit=RESUME_KEEP,
        save_only_model=False,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=False,
        fp16=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=quiet,
    )


def train_model(
    model: str,
    examples: ExampleSet,
    output_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    quiet: bool = False,
    resume: bool | None = None,
) -> Path:
    """Fine-tune ``model`` on ``examples`` (loss on assistant tokens) with the Trainer; resumable.

    Every ``config.save_steps`` optimizer steps the Trainer saves a checkpoint to
    ``OUT/resume/checkpoint-STEP`` (the last two are kept). If the process dies (a crash, a kill,
    a preempted job), calling again with the same arguments continues from the last complete
    checkpoint, step or epoch, with the Trainer's ``resume_from_checkpoint``: weights, optimizer,
    scheduler, RNG state and data order are restored, so the result equals that of an
    uninterrupted run (bit for bit on CPU, as tested; on GPU up to the nondeterminism of its
    kernels, which two uninterrupted runs show as well). When the run finishes, ``OUT/resume``
    is deleted; a finished output folder is trained again from scratch (and overwritten) as
    before. See :mod:`targetsel.train.resume`.

    Args:
        model: Base model (local path, hub name or built-in name such as ``smollm2-135m``).
        examples: Training conversations.
        output_dir: Output folder: ``checkpoint-epoch-E`` per epoch (adapter or model,
            ``optimizer.pt``, ``scheduler.pt``, ``trainer_state.json``, ``param_names.json``) and
            ``final/`` (the final adapter or model with its tokenizer).
        config: Settings (default: LESS warmup settings).
        quiet: Hide the Trainer's progress bar.
        resume: ``None`` (default): continue an interrupted run in ``output_dir`` if there is one
            (its settings must equal these, else :class:`~targetsel.errors.ArtifactMismatchError`),
            else start. ``True``: continue, and fail (:class:`~targetsel.errors.MissingArtifactError`)
            when there is nothing to continue. ``False``: discard any interrupted run and start over.

    Returns:
        The ``final`` directory.

    Example:
        >>> cfg = TrainConfig(epochs=1, effective_batch_size=8, per_device_batch_size=4)
        >>> final = train_model("smollm2-135m", pool.select(range(16)), "out/", cfg)  # doctest: +SKIP
    """
    # Over 80 lines by its docstring (the resume contract); the body is ~50 lines of Trainer set-up.
    import torch
    from transformers import Trainer, set_seed

    from targetsel.chat import ChatCollator
    from targetsel.models import load_model_and_tokenizer, resolve_device

    config = config or TrainConfig()
    if len(examples) == 0:
        raise InvalidDataError("cannot train on an empty set of examples")
    out = Path(output_dir)
    world = _world_size()
    settings = run_settings(model, config, examples, world)
    point = find_resume_point(out, settings, resume=resume)  # reads only: errors leave `out` untouched
    # Everything that can fail at start-up (the model, the adapter, tokenising) runs before the
    # first write, so a model that cannot be loaded leaves no output folder and no `resume/`.
    set_seed(config.seed)
    device = resolve_device(config.device)
    lm, tok = load_model_and_tokenizer(model, dtype=config.dtype, device=device)
    if config.lora:
        lm = build_lora_model(lm, config)
    lm.train()
    dataset = tokenize_dataset(tok, examples, max_length=config.max_length)
    with _output_guard(out):
        _begin(out, point, settings, config)
        callback = checkpoint_callback(out, save_every_epoch=config.save_every_epoch)
        trainer = Trainer(
            model=lm,
            args=_training_arguments(config, out, device, world, quiet),
            train_dataset=dataset,
            data_collator=ChatCollator(tok),
            callbacks=[callback],
        )
        callback.trainer = trainer
        if quiet:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        with torch.random.fork_rng(devices=[]):
            if point is not None and point.finished:
                # Every step was done before the interruption. Trainer.train would take one step too
                # many when max_steps ends inside an epoch, so only load the saved weights.
                trainer._load_from_checkpoint(str(point.path))
            else:
                trainer.train(resume_from_checkpoint=str(point.path) if point is not None else None)
    final = out / "final"
    trainer.save_model(str(final))
    tok.save_pretrained(str(final))
    info = {
        "base_model": model,
        "config": config.to_dict(),
        "num_examples": len(examples),
        "ids": examples.ids,
        "resumed_from_step": point.global_step if point is not None else None,
    }
    atomic_write_text(out / TRAIN_INFO_FILE, json.dumps(info, indent=1) + "\n")
    if _is_main_process():
        finish_run(out)
    return final


def warmup_indices(n: int, fraction: float, seed: int) -> list[int]:
    """Seeded random subset of ``ceil(fraction * n)`` row indices (sorted) for LESS warmup.

    Example:
        >>> warmup_indices(100, 0.05, seed=0) == warmup_indices(100, 0.05, seed=0)
        True
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigurationError(f"warmup fraction must be in (0, 1], got {fraction}")
    k = max(1, math.ceil(fraction * n))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(n, size=k, replace=False))


def warmup(
    model: str,
    pool: ExampleSet,
    output_dir: str | os.PathLike[str],
    *,
    fraction: float = 0.05,
    seed: int = 0,
    config: TrainConfig | None = None,
    quiet: bool = False,
    resume: bool | None = None,
) -> list[Path]:
    """LESS warmup: LoRA training on a seeded random ``fraction`` of the pool, one checkpoint per epoch.

    Args:
        model: Base model (path, hub name or built-in name).
        pool: Candidate pool.
        output_dir: Folder for ``checkpoint-epoch-E`` directories.
        fraction: Fraction of the pool to train on (LESS: 5%).
        seed: Seed of the subset choice (the training seed is ``config.seed``).
        config: Training settings (default: LESS — r=128, alpha=512, dropout 0.1, q/k/v/o, 4 epochs,
            lr 2e-5, linear schedule with 3% warmup, effective batch 128).
        quiet: Hide the progress bar.
        resume: Continue an interrupted warmup in ``output_dir``: ``None`` (default) when there is
            one with the same settings, ``True`` (an error when there is none) or ``False`` (start
            over). See :func:`train_model`.

    Returns:
        Checkpoint directories in epoch order (inputs to the ``gradient`` representation).

    Example:
        >>> ckpts = warmup("smollm2-135m", pool, "warmup/", fraction=0.05)  # doctest: +SKIP
    """
    config = config or LESS_WARMUP
    if not config.lora:
        raise ConfigurationError("warmup trains a LoRA adapter; set lora=True")
    if not config.save_every_epoch:
        raise ConfigurationError("warmup needs save_every_epoch=True: gradient features are taken per checkpoint")
    idx = warmup_indices(len(pool), fraction, seed)
    logger.info("warmup on %d of %d pool examples (fraction %.3f, seed %d)", len(idx), len(pool), fraction, seed)
    subset = pool.select(idx)
    out = Path(output_dir)
    # the checks train_model makes first, before anything is written here
    find_resume_point(out, run_settings(model, config, subset, _world_size()), resume=resume)
    with _output_guard(out):  # e.g. a model that cannot be loaded: no warmup_subset.json is left either
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / "warmup_subset.json",
            json.dumps({"fraction": fraction, "seed": seed, "indices": idx, "pool_fingerprint": pool.fingerprint})
            + "\n",
        )
        train_model(model, subset, out, config, quiet=quiet, resume=resume)
    return find_checkpoints(out)
