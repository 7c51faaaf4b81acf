"""The gradient transforms of LESS features: the AdamW update direction, the plain gradient, its sign.

Example:
    >>> import torch
    >>> transform_gradient("sign", torch.tensor([-2.0, 0.5]))
    tensor([-1.,  1.])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from targetsel.errors import ConfigurationError

if TYPE_CHECKING:
    import torch

__all__ = ["ADAM_BETAS", "ADAM_EPS", "GRADIENT_TYPES", "adam_direction", "transform_gradient"]

GRADIENT_TYPES = ("adam", "sgd", "sign")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def adam_direction(
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    *,
    betas: tuple[float, float] = ADAM_BETAS,
    eps: float = ADAM_EPS,
) -> torch.Tensor:
    """LESS's Adam update direction ``m'/√(v'+ε)`` for a (batch of) gradient(s).

    Args:
        grad: Gradient(s), shape ``(..., *param_shape)`` (a leading batch dimension broadcasts).
        exp_avg: First moment ``m``, shape ``param_shape``.
        exp_avg_sq: Second moment ``v``, shape ``param_shape``.

    Example:
        >>> import torch
        >>> adam_direction(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0]))  # 0.1 / √0.001
        tensor([3.1623])
    """
    b1, b2 = betas
    # In-place on two temporaries: this runs on every per-example gradient element.
    v = grad.square().mul_(1 - b2).add_(exp_avg_sq, alpha=b2).add_(eps).sqrt_()
    return grad.mul(1 - b1).add_(exp_avg, alpha=b1).div_(v)


def transform_gradient(
    kind: str, grad: torch.Tensor, moments: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """Apply the gradient type: ``adam`` (needs ``moments``), ``sgd`` (identity) or ``sign``."""
    if kind == "sgd":
        return grad
    if kind == "sign":
        return grad.sign()
    if kind == "adam":
        if moments is None:
            raise ConfigurationError("adam gradient features need optimizer moments")
        return adam_direction(grad, *moments)
    raise ConfigurationError(f"gradient type must be one of {', '.join(GRADIENT_TYPES)}, got {kind!r}")
