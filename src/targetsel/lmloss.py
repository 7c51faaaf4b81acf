"""Per-example token loss of a causal LM, with the LM head run only where the loss is.

A causal LM's forward pass normally returns logits for every position: a ``(batch, seq, vocab)``
tensor (49K vocab for SmolLM2, 128K for Llama 3), then copied to float32 for the loss, then kept
for the backward pass. Only the positions whose next token carries loss need them. Here a
forward pre-hook on the output embedding (the LM head) gathers those hidden states first, so the
head computes ``(n_loss_tokens, vocab)`` logits and nothing else. Model-specific steps after the
head (e.g. logit soft-capping) still run, since the model's own forward is used.

Used by the gradient representation (both paths) and by the dev/test loss, so the three agree
on which tokens count and how they are averaged.

Example:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
    ...                   num_attention_heads=2, num_key_value_heads=2)
    >>> lm = LlamaForCausalLM(cfg).eval()
    >>> ids = torch.randint(0, 64, (2, 6))
    >>> labels = ids.clone(); labels[:, :3] = -100
    >>> example_loss(lm, ids, torch.ones_like(ids), labels).shape
    torch.Size([2])
"""

from __future__ import annotations

from typing import Any

from targetsel.chat import IGNORE_INDEX

__all__ = ["example_loss"]


def example_loss(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    labels: Any,
    *,
    inputs_embeds: Any = None,
) -> Any:
    """Mean cross-entropy per example over the tokens whose label is not ``IGNORE_INDEX``.

    Position ``t`` predicts token ``t + 1`` (labels are shifted inside). The logits are computed
    only at the loss positions and taken to float32 for the loss.

    Args:
        model: A ``transformers`` causal LM (peft-wrapped or not).
        input_ids: ``(batch, seq)`` token ids (ignored when ``inputs_embeds`` is given).
        attention_mask: ``(batch, seq)``.
        labels: ``(batch, seq)`` token ids, ``IGNORE_INDEX`` where no loss is taken.
        inputs_embeds: Optional ``(batch, seq, hidden)`` input embeddings instead of ``input_ids``.

    Returns:
        ``(batch,)`` float32 tensor; an example without loss tokens gets 0.
    """
    import torch

    tgt = labels[:, 1:]
    b_idx, t_idx = (tgt != IGNORE_INDEX).nonzero(as_tuple=True)
    head = model.get_output_embeddings()
    if head is None:
        raise TypeError(f"{type(model).__name__} has no output embeddings (LM head) to compute a loss with")

    def gather(_mod: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        hidden = args[0]
        return (hidden[b_idx, t_idx].unsqueeze(0), *args[1:])

    handle = head.register_forward_pre_hook(gather)
    try:
        if inputs_embeds is not None:
            out = model(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        else:
            out = model(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        handle.remove()
    logits = out.logits[0].float()  # (n_loss_tokens, vocab)
    tok_loss = torch.nn.functional.cross_entropy(logits, tgt[b_idx, t_idx], reduction="none")
    batch = labels.shape[0]
    total = torch.zeros(batch, dtype=torch.float32, device=tok_loss.device).index_add(0, b_idx, tok_loss)
    count = torch.bincount(b_idx, minlength=batch).clamp(min=1)
    return total / count
