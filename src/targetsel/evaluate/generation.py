"""Greedy generation of answers to chat prompts (the prompt is every turn before the last answer).

The prompt text is :func:`targetsel.chat.prompt_text` (``prompt_messages`` is re-exported here
from :mod:`targetsel.chat`, where it now lives).

Example:
    >>> # outputs = generate(model, tok, queries, max_new_tokens=64)
"""

from __future__ import annotations

import logging
from typing import Any

from targetsel.chat import prompt_messages, prompt_text
from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.progress import progress

logger = logging.getLogger(__name__)

__all__ = ["generate", "prompt_messages"]


def generate(
    model: Any,
    tokenizer: Any,
    examples: ExampleSet,
    *,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    max_prompt_length: int = 1024,
    desc: str = "generate",
) -> list[str]:
    """Greedy completions (decoded, special tokens removed), one per example.

    Args:
        model: A causal LM in eval mode.
        tokenizer: Its tokenizer.
        examples: Chat examples; the prompt is every turn before the last assistant turn.
        max_new_tokens: Generation length limit.
        batch_size: Prompts per ``generate`` call (left-padded).
        max_prompt_length: Prompts are left-truncated to this many tokens.
        desc: Progress-bar label.

    Returns:
        The generated texts.

    Example:
        >>> # generate(model, tok, queries, max_new_tokens=32)[0]
    """
    import torch

    if max_new_tokens <= 0 or batch_size <= 0:
        raise ConfigurationError("max_new_tokens and batch_size must be positive")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs: list[str] = []
    with progress(total=len(examples), desc=desc, unit="ex") as bar, torch.no_grad():
        for start in range(0, len(examples), batch_size):
            stop = min(len(examples), start + batch_size)
            encoded = [
                tokenizer(prompt_text(tokenizer, examples.messages(i)), add_special_tokens=False)["input_ids"][
                    -max_prompt_length:
                ]
                for i in range(start, stop)
            ]
            width = max(len(e) for e in encoded)
            ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(encoded), width), dtype=torch.long)
            for row, e in enumerate(encoded):
                ids[row, width - len(e) :] = torch.as_tensor(e, dtype=torch.long)
                mask[row, width - len(e) :] = 1
            gen = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
            )
            for row in gen[:, width:]:
                outputs.append(tokenizer.decode(row.tolist(), skip_special_tokens=True))
            bar.update(stop - start)
    return outputs
