"""Supervised fine-tuning with ``transformers.Trainer`` + ``peft``: LESS warmup and ``targetsel train``."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.store import atomic_write_text
from targetsel.train.checkpoints import PARAM_NAMES_FILE, find_checkpoints
from targetsel.train.config import LESS_WARMUP, TrainConfig

logger = logging.getLogger(__name__)

__all__ = ["TRAIN_INFO_FILE", "build_lora_model", "tokenize_dataset", "train_model", "warmup", "warmup_indices"]

TRAIN_INFO_FILE = "targetsel_train.json"


def tokenize_dataset(tokenizer: Any, examples: ExampleSet, *, max_length: int, loss_on: str = "all_assistant") -> list:
    """Tokenised examples (``input_ids``, ``attention_mask``, ``labels``) in row order."""
    from targetsel.chat import tokenize_example

    return [tokenize_example(tokenizer, m, max_length=max_length, loss_on=loss_on) for m in examples.iter_messages()]


def build_lora_model(model: Any, config: TrainConfig) -> Any:
    """Wrap a causal LM in a fresh peft LoRA adapter with ``config``'s rank, alpha, dropout and targets."""
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    absent = [t for t in config.target_modules if t not in names]
    if absent:
        raise ConfigurationError(
            f"LoRA target modules {absent} do not exist in the model; it has e.g. {sorted(names)[:12]}"
        )
    lcfg = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(model, lcfg)


def _param_names_callback() -> Any:
    from transformers import TrainerCallback

    class _SaveNames(TrainerCallback):
        """After each save: record optimizer-index → parameter-name and name the folder by epoch."""

        def __init__(self) -> None:
            self.trainer: Any = None

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            opt = self.trainer.optimizer if self.trainer is not None else None
            if opt is None or not folder.is_dir():
                return
            by_id = {id(p): n for n, p in self.trainer.model.named_parameters()}
            names = [by_id[id(p)] for g in opt.param_groups for p in g["params"]]
            atomic_write_text(folder / PARAM_NAMES_FILE, json.dumps(names, indent=1) + "\n")
            epoch = max(1, math.ceil(float(state.epoch or 0) - 1e-6))
            target = Path(args.output_dir) / f"checkpoint-epoch-{epoch}"
            if target.exists():
                shutil.rmtree(target)
            os.replace(folder, target)

    return _SaveNames()


def train_model(
    model: str,
    examples: ExampleSet,
    output_dir: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    quiet: bool = False,
) -> Path:
    """Fine-tune ``model`` on ``examples`` (loss on assistant tokens) with the Trainer.

    Args:
        model: Base model (local path, hub name or built-in name such as ``smollm2-135m``).
        examples: Training conversations.
        output_dir: Output folder: ``checkpoint-epoch-E`` per epoch (adapter or model,
            ``optimizer.pt``, ``scheduler.pt``, ``trainer_state.json``, ``param_names.json``) and
            ``final/`` (the final adapter or model with its tokenizer).
        config: Settings (default: LESS warmup settings).
        quiet: Hide the Trainer's progress bar.

    Returns:
        The ``final`` directory.

    Example:
        >>> cfg = TrainConfig(epochs=1, effective_batch_size=8, per_device_batch_size=4)
        >>> final = train_model("smollm2-135m", pool.select(range(16)), "out/", cfg)  # doctest: +SKIP
    """
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from targetsel.chat import ChatCollator
    from targetsel.models import load_model_and_tokenizer, resolve_device

    config = config or TrainConfig()
    if len(examples) == 0:
        raise InvalidDataError("cannot train on an empty set of examples")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    device = resolve_device(config.device)
    lm, tok = load_model_and_tokenizer(model, dtype=config.dtype, device=device)
    if config.lora:
        lm = build_lora_model(lm, config)
    lm.train()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    args = TrainingArguments(
        output_dir=str(out),
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
        save_strategy="epoch" if config.save_every_epoch else "no",
        save_only_model=False,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=False,
        fp16=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=quiet,
    )
    callback = _param_names_callback()
    trainer = Trainer(
        model=lm,
        args=args,
        train_dataset=tokenize_dataset(tok, examples, max_length=config.max_length),
        data_collator=ChatCollator(tok),
        callbacks=[callback],
    )
    callback.trainer = trainer
    if quiet:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    with torch.random.fork_rng(devices=[]):
        trainer.train()
    final = out / "final"
    trainer.save_model(str(final))
    tok.save_pretrained(str(final))
    info = {"base_model": model, "config": config.to_dict(), "num_examples": len(examples), "ids": examples.ids}
    atomic_write_text(out / TRAIN_INFO_FILE, json.dumps(info, indent=1) + "\n")
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
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out / "warmup_subset.json",
        json.dumps({"fraction": fraction, "seed": seed, "indices": idx, "pool_fingerprint": pool.fingerprint}) + "\n",
    )
    train_model(model, subset, out, config, quiet=quiet)
    return find_checkpoints(out)
