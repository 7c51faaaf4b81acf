"""LESS gradient features: projected per-example LoRA gradients of warmed-up checkpoints.

For each warmup checkpoint (a peft LoRA adapter with its AdamW state, from ``targetsel warmup``)
and each example, the feature is ``P · T(g)``, where

* ``g`` is the gradient of the example's mean token loss (assistant tokens only: every assistant
  turn for candidates, the last one for queries) with respect to the LoRA parameters, taken with
  dropout off and accumulated in float32;
* ``T`` is ``adam`` (candidates' default): the AdamW update direction after one more step,
  ``m'/√(v'+ε)`` with ``m' = β1·m + (1−β1)·g``, ``v' = β2·v + (1−β2)·g²`` from the checkpoint's
  moments (β1=0.9, β2=0.999, ε=1e-8); ``sgd`` (queries' default): ``g`` itself; or ``sign``;
* ``P`` is a seeded random projection to ``dim`` values (:mod:`targetsel.represent.projection`).

Two paths compute the same features:

* ``exact``: the plain definition, one example and one backward pass at a time, gradients read
  from the LoRA parameters;
* ``fast`` (default): a padded batch in one forward and one backward pass. Hooks keep each LoRA
  layer's input ``x`` and output gradient ``δ``; the per-example weight gradient is
  ``Σ_t δ_t x_tᵀ`` (one batched matmul per layer), transformed and projected layer by layer.

With several checkpoints, similarity is ``Σ_c w_c · cos_c`` with ``w_c`` the mean learning rate
of checkpoint ``c``'s epoch normalised to sum 1 (:meth:`GradientRepresentation.encode_for_scoring`).

Example:
    >>> rep = GradientRepresentation("smollm2-135m", checkpoints=["warmup/checkpoint-epoch-1"])  # doctest: +SKIP
    >>> feats = rep.encode(pool, role="candidate", store="stores/pool-grad")  # doctest: +SKIP
"""

from __future__ import annotations

from targetsel.represent.gradient.memory import plan_memory
from targetsel.represent.gradient.representation import GradientRepresentation
from targetsel.represent.gradient.transform import GRADIENT_TYPES, adam_direction, transform_gradient

__all__ = ["GRADIENT_TYPES", "GradientRepresentation", "adam_direction", "plan_memory", "transform_gradient"]
