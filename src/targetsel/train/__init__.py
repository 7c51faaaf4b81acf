"""Supervised fine-tuning (LoRA or full) with the ``transformers`` Trainer, and LESS warmup.

Example:
    >>> from targetsel.train import TrainConfig, warmup
    >>> ckpts = warmup("smollm2-135m", pool, "warmup/", fraction=0.05)  # doctest: +SKIP
"""

from __future__ import annotations

from targetsel.train.checkpoints import (
    canonical_param_name,
    checkpoint_lr_weights,
    epoch_mean_learning_rates,
    find_checkpoints,
    load_adam_moments,
)
from targetsel.train.config import LESS_WARMUP, TrainConfig
from targetsel.train.core import (
    build_lora_model,
    run_settings,
    tokenize_dataset,
    train_model,
    warmup,
    warmup_indices,
)
from targetsel.train.resume import RESUME_DIR, find_resume_point

__all__ = [
    "LESS_WARMUP",
    "RESUME_DIR",
    "TrainConfig",
    "build_lora_model",
    "canonical_param_name",
    "checkpoint_lr_weights",
    "epoch_mean_learning_rates",
    "find_checkpoints",
    "find_resume_point",
    "load_adam_moments",
    "run_settings",
    "tokenize_dataset",
    "train_model",
    "warmup",
    "warmup_indices",
]
