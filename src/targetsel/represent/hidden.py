"""RDS+ representation: position-weighted mean of the base model's last hidden states.

Each conversation is formatted with the model's chat template (or the Tulu format), truncated to
``max_length`` tokens, and run through the base model (no adapter). The feature is the mean of the
last layer's hidden states weighted by position (token ``t`` of ``n`` gets weight
``t / Σ_{s≤n} s``, SGPT style; padding gets none), L2-normalised.

Example:
    >>> rep = HiddenRepresentation("smollm2-135m")  # doctest: +SKIP
    >>> rep.encode(pool).to_array().shape  # doctest: +SKIP
    (2470, 576)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.progress import advance_rows
from targetsel.represent.base import Representation, Role, register_representation
from targetsel.store import StoreSpec, check_feature_dtype

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["HiddenRepresentation", "position_weighted_mean"]


def position_weighted_mean(
    hidden: torch.Tensor, attention_mask: torch.Tensor, *, normalize: bool = True
) -> torch.Tensor:
    """Pool ``(batch, seq, dim)`` hidden states with weights ∝ position over non-padding tokens.

    Args:
        hidden: Hidden states, shape ``(batch, seq, dim)``.
        attention_mask: 1 for tokens, 0 for padding, shape ``(batch, seq)`` (any padding side).
        normalize: L2-normalise the pooled vectors.

    Returns:
        Shape ``(batch, dim)`` float32.

    Example:
        >>> import torch
        >>> h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
        >>> position_weighted_mean(h, torch.tensor([[1, 1, 0]]), normalize=False)  # weights 1/3, 2/3
        tensor([[0.3333, 0.6667]])
    """
    mask = attention_mask.to(hidden.device).float()
    pos = mask.cumsum(dim=1) * mask  # 1, 2, ..., n on tokens, 0 on padding
    weights = pos / pos.sum(dim=1, keepdim=True).clamp(min=1.0)
    pooled = (hidden.float() * weights.unsqueeze(-1)).sum(dim=1)
    if normalize:
        pooled = pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return pooled


@register_representation
class HiddenRepresentation(Representation):
    """RDS+ features: the base model's position-weighted mean-pooled last hidden state.

    Args:
        model: Base model (path, hub name or built-in ``smollm2-135m``).
        batch_size: Examples per forward pass (padded; the result does not depend on it).
        max_length: Maximum tokens per example.
        dtype: Model dtype (pooling is done in float32).
        device: ``cpu``, ``cuda`` or ``None`` (auto).
        feature_dtype: On-disk layout: ``float32``, ``float16``, ``int8`` or ``bit``
            (:mod:`targetsel.store.codecs`).

    Example:
        >>> rep = HiddenRepresentation("smollm2-135m", batch_size=16)  # doctest: +SKIP
        >>> feats = rep.encode(queries, role="query")  # doctest: +SKIP
    """

    name = "hidden"
    label = "RDS+"
    planner = "targetsel.plan.lm:plan_hidden"

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        batch_size: int = 16,
        max_length: int = 512,
        dtype: str = "float32",
        device: str | None = None,
        feature_dtype: str = "float32",
    ) -> None:
        if batch_size <= 0:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
        if max_length <= 1:
            raise ConfigurationError(f"max_length must be at least 2, got {max_length}")
        self.model = model
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.dtype = dtype
        self.device = device
        self.feature_dtype = check_feature_dtype(feature_dtype)
        self._lm: Any = None
        self._tok: Any = None

    def release(self) -> None:
        """Drop the loaded model (it is loaded again on the next use)."""
        self._lm = self._tok = None

    def _load(self) -> tuple[Any, Any]:
        if self._lm is None:
            from targetsel.models import load_model_and_tokenizer

            self._lm, self._tok = load_model_and_tokenizer(self.model, dtype=self.dtype, device=self.device)
        return self._lm, self._tok

    @property
    def dim(self) -> int:
        lm, _ = self._load()
        return int(lm.config.hidden_size)

    def spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        return StoreSpec(
            representation=self.name,
            model=self.model,
            dim=self.dim,
            num_rows=len(examples),
            fingerprint=examples.fingerprint,
            dtype=self.feature_dtype,
            params={"pooling": "position_weighted_mean", "max_length": self.max_length},
            normalized=True,
        )

    def encode_rows(self, examples: ExampleSet, start: int, stop: int, role: Role = "candidate") -> np.ndarray:
        import torch

        from targetsel.chat import ChatCollator, tokenize_example

        lm, tok = self._load()
        encs = [
            {"input_ids": tokenize_example(tok, m, max_length=self.max_length)["input_ids"]}
            for m in examples.dataset[start:stop]["messages"]
        ]
        collate = ChatCollator(tok)
        order = sorted(range(len(encs)), key=lambda i: (len(encs[i]["input_ids"]), i))
        out = np.empty((len(encs), self.dim), dtype=np.float32)
        device = next(lm.parameters()).device
        backbone = lm.base_model
        with torch.no_grad():
            for lo in range(0, len(order), self.batch_size):
                rows = order[lo : lo + self.batch_size]
                batch = collate([encs[i] for i in rows])
                mask = batch["attention_mask"].to(device)
                hidden = backbone(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state
                out[rows] = position_weighted_mean(hidden, mask).cpu().numpy()
                advance_rows(len(rows))
        return out
