"""Training settings: one dataclass shared by LESS warmup and ``targetsel train``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from targetsel.errors import ConfigurationError
from targetsel.lora import LoraSettings, lora_field

__all__ = ["LESS_WARMUP", "LR_SCHEDULERS", "TrainConfig"]

#: The learning-rate schedules ``lr_scheduler`` takes.
LR_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class TrainConfig:
    """Supervised fine-tuning settings (defaults: the LESS warmup / the paper's LoRA setting).

    The LoRA fields take their defaults and help from :class:`~targetsel.lora.LoraSettings`. Each
    field's ``metadata`` is what ``targetsel train`` and ``targetsel warmup`` build their options
    from (:mod:`targetsel.cli._options`): ``help``, and optionally ``flags`` (the option names,
    default ``--field-name``) and ``switch`` (a flag that, given, sets the field to the opposite of
    its default; its help).

    Example:
        >>> TrainConfig(epochs=1, effective_batch_size=8, per_device_batch_size=4).gradient_accumulation_steps()
        2
    """

    lora: bool = field(
        default=True,
        metadata={
            "help": "Train a LoRA adapter (else full fine-tuning).",
            "flags": ("--full",),
            "switch": "Full fine-tuning instead of LoRA.",
        },
    )
    lora_r: int = lora_field("lora_r")
    lora_alpha: float = lora_field("lora_alpha")
    lora_dropout: float = lora_field("lora_dropout")
    target_modules: tuple[str, ...] = lora_field("target_modules")
    epochs: int = field(default=4, metadata={"help": "Training epochs."})
    learning_rate: float = field(
        default=2e-5, metadata={"help": "Peak learning rate (AdamW).", "flags": ("--learning-rate", "--lr")}
    )
    lr_scheduler: str = field(
        default="linear", metadata={"help": "Learning-rate schedule: linear, cosine, constant or constant_with_warmup."}
    )
    warmup_ratio: float = field(default=0.03, metadata={"help": "Fraction of steps with linear LR warmup."})
    effective_batch_size: int = field(
        default=128, metadata={"help": "Examples per optimizer step (gradient accumulation)."}
    )
    per_device_batch_size: int = field(default=1, metadata={"help": "Examples per forward pass and device."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    seed: int = field(default=0, metadata={"help": "Seed of initialisation, shuffling and dropout."})
    max_length: int = field(default=512, metadata={"help": "Maximum tokens per example (longer ones are truncated)."})
    save_every_epoch: bool = field(
        default=True,
        metadata={
            "help": "Save checkpoint-epoch-E after each epoch.",
            "flags": ("--no-checkpoints",),
            "switch": "Save only the final model.",
        },
    )
    save_steps: int | None = field(
        default=50,
        metadata={
            "help": "Save a resume checkpoint (OUTPUT/resume/checkpoint-STEP) every this many optimizer steps, so "
            "an interrupted run resumes from its last save; 0: only the epoch checkpoints."
        },
    )
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: all epochs)."})
    dtype: str = field(default="float32", metadata={"help": "Model dtype: float32, bfloat16 (bf16) or float16 (fp16)."})
    device: str | None = field(
        default=None, metadata={"help": "cpu, cuda, cuda:N or auto (default: cuda when there is one)."}
    )

    def __post_init__(self) -> None:
        self.target_modules = self.lora_settings.target_modules  # checks the LoRA fields first
        checks = [
            (self.epochs > 0, f"epochs must be positive, got {self.epochs}"),
            (self.learning_rate > 0, f"learning_rate must be positive, got {self.learning_rate}"),
            (
                self.lr_scheduler in LR_SCHEDULERS,
                f"lr_scheduler must be one of {LR_SCHEDULERS}, got {self.lr_scheduler!r}",
            ),
            (0.0 <= self.warmup_ratio < 1.0, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}"),
            (
                self.per_device_batch_size > 0,
                f"per_device_batch_size must be positive, got {self.per_device_batch_size}",
            ),
            (self.effective_batch_size > 0, f"effective_batch_size must be positive, got {self.effective_batch_size}"),
            (self.weight_decay >= 0, f"weight_decay must be non-negative, got {self.weight_decay}"),
            (self.max_length > 1, f"max_length must be at least 2, got {self.max_length}"),
            (self.max_steps == -1 or self.max_steps > 0, f"max_steps must be -1 or positive, got {self.max_steps}"),
            (
                self.save_steps is None
                or (
                    isinstance(self.save_steps, int) and not isinstance(self.save_steps, bool) and self.save_steps >= 0
                ),
                f"save_steps must be a non-negative integer or None (0 and None: no resume checkpoints), "
                f"got {self.save_steps!r}",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigurationError(msg)
        if self.effective_batch_size % self.per_device_batch_size:
            raise ConfigurationError(
                f"effective_batch_size ({self.effective_batch_size}) must be a multiple of per_device_batch_size "
                f"({self.per_device_batch_size})"
            )
        from targetsel.models import dtype_name

        dtype_name(self.dtype)

    @property
    def lora_settings(self) -> LoraSettings:
        """The adapter's rank, alpha, dropout and targets as one :class:`~targetsel.lora.LoraSettings`.

        Example:
            >>> TrainConfig(lora_r=16).lora_settings.lora_r
            16
        """
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, self.target_modules)

    def gradient_accumulation_steps(self, world_size: int = 1) -> int:
        """Forward passes per optimizer step so that one step sees ``effective_batch_size`` examples."""
        per_step = self.per_device_batch_size * world_size
        if self.effective_batch_size % per_step:
            raise ConfigurationError(
                f"effective_batch_size {self.effective_batch_size} is not a multiple of per_device_batch_size × "
                f"world size = {per_step}"
            )
        return self.effective_batch_size // per_step

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigurationError(f"unknown training settings {unknown}; known: {sorted(names)}")
        return cls(**data)


LESS_WARMUP = TrainConfig()
