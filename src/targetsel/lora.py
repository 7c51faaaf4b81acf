"""The LoRA adapter settings: one frozen dataclass, and LESS's values as its defaults.

Training (:class:`~targetsel.train.TrainConfig`), the gradient representation's fresh adapter,
its memory plan (:func:`~targetsel.represent.gradient.plan_memory`) and ``targetsel plan`` all read
their LoRA defaults from :class:`LoraSettings`. Its field names are the ones users set everywhere
(``TrainConfig(lora_r=...)``, ``--lora-r``, ``-p lora_r=...``), so a field, its help text and its
error messages mean the same thing in each place.

Example:
    >>> LESS_LORA.lora_r, LESS_LORA.lora_alpha, LESS_LORA.target_modules
    (128, 512.0, ('q_proj', 'k_proj', 'v_proj', 'o_proj'))
    >>> LoraSettings.pick({"lora_r": 8, "dim": 64})
    LoraSettings(lora_r=8, lora_alpha=512.0, lora_dropout=0.1, target_modules=('q_proj', 'k_proj', 'v_proj', 'o_proj'))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from targetsel.errors import ConfigurationError

__all__ = ["LESS_LORA", "LoraSettings", "lora_field"]


@dataclass(frozen=True)
class LoraSettings:
    """Rank, alpha, dropout and target modules of a LoRA adapter (defaults: LESS's).

    Args:
        lora_r: Rank.
        lora_alpha: Alpha; the adapter's output is scaled by ``lora_alpha / lora_r``.
        lora_dropout: Dropout on the adapter's input while training (off in ``eval()``).
        target_modules: Names of the linear modules that get an adapter.

    Raises:
        ConfigurationError: a value out of range, named as the field (``lora_r must be positive``).

    Example:
        >>> LoraSettings(lora_r=16, target_modules=["q_proj", "v_proj"]).target_modules
        ('q_proj', 'v_proj')
        >>> LoraSettings(lora_r=0)
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: lora_r must be positive, got 0
    """

    lora_r: int = field(default=128, metadata={"help": "LoRA rank."})
    lora_alpha: float = field(default=512.0, metadata={"help": "LoRA alpha (scaling = alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout while training."})
    target_modules: tuple[str, ...] = field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"),
        metadata={"help": "Names of the modules that get LoRA (comma-separated on the command line)."},
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        checks = [
            (self.lora_r > 0, f"lora_r must be positive, got {self.lora_r}"),
            (self.lora_alpha > 0, f"lora_alpha must be positive, got {self.lora_alpha}"),
            (0.0 <= self.lora_dropout < 1.0, f"lora_dropout must be in [0, 1), got {self.lora_dropout}"),
            (bool(self.target_modules), "target_modules must name at least one module"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigurationError(msg)

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> LoraSettings:
        """The settings among ``values`` (other keys ignored; absent ones take the defaults).

        Example:
            >>> LoraSettings.pick({"lora_alpha": 16, "seed": 3}).lora_alpha
            16
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def peft_config(self, **extra: Any) -> Any:
        """A ``peft.LoraConfig`` of these settings; ``extra`` adds peft's other arguments (``task_type``).

        Example:
            >>> LoraSettings(lora_r=4).peft_config(bias="none").r
            4
        """
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,  # type: ignore[arg-type]  # peft annotates int; a float scales the same
            lora_dropout=self.lora_dropout,
            target_modules=list(self.target_modules),
            **extra,
        )


#: LESS's adapter: r=128, alpha=512, dropout 0.1 on the q/k/v/o attention projections.
LESS_LORA = LoraSettings()


def lora_field(name: str) -> Any:
    """A dataclass field for another settings class with ``name``'s default and help from :class:`LoraSettings`.

    Example:
        >>> @dataclass
        ... class Adapter:
        ...     lora_r: int = lora_field("lora_r")
        >>> Adapter().lora_r
        128
    """
    source = next(f for f in dataclasses.fields(LoraSettings) if f.name == name)
    return field(default=getattr(LESS_LORA, name), metadata=source.metadata)
