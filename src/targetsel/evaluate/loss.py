"""Cross-entropy of a causal LM on chat examples, on assistant tokens only.

This is the paper's ``dev`` loss (on the query set) and its held-out ``test`` loss: for each
example the mean token cross-entropy over the loss-carrying tokens, then the mean over examples.

Example:
    >>> # model, tok = load_model_and_tokenizer("smollm2-135m")
    >>> # example_losses(model, tok, load_queries(demo_query_path("math"))).mean()
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from targetsel.chat import ChatCollator, LossOn, tokenize_example
from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.lmloss import example_loss
from targetsel.progress import progress

logger = logging.getLogger(__name__)

__all__ = ["example_losses"]


def example_losses(
    model: Any,
    tokenizer: Any,
    examples: ExampleSet,
    *,
    max_length: int = 512,
    batch_size: int = 8,
    loss_on: LossOn = "last_assistant",
    desc: str = "loss",
) -> np.ndarray:
    """Per-example mean cross-entropy on assistant tokens.

    Args:
        model: A causal LM (with or without a peft adapter), in eval mode.
        tokenizer: Its tokenizer.
        examples: Chat examples.
        max_length: Truncation length in tokens.
        batch_size: Examples per forward pass.
        loss_on: ``last_assistant`` (the answer given the prompt; queries) or ``all_assistant``.
        desc: Progress-bar label.

    Returns:
        ``(n_examples,)`` float64 losses in nats.

    Example:
        >>> # example_losses(model, tok, queries, max_length=256).shape == (len(queries),)
    """
    import torch

    if batch_size <= 0:
        raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
    collate = ChatCollator(tokenizer)
    device = next(model.parameters()).device
    out = np.empty(len(examples), dtype=np.float64)
    with progress(total=len(examples), desc=desc, unit="ex") as bar, torch.no_grad():
        for start in range(0, len(examples), batch_size):
            stop = min(len(examples), start + batch_size)
            feats = [
                tokenize_example(tokenizer, examples.messages(i), max_length=max_length, loss_on=loss_on)
                for i in range(start, stop)
            ]
            batch = {k: v.to(device) for k, v in collate(feats).items()}
            per = example_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
            out[start:stop] = per.double().cpu().numpy()
            bar.update(stop - start)
    return out
