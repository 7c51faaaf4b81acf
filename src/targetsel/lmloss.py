"""Per-example token loss of a causal LM, with the LM head run only where the loss is, in chunks.

A causal LM's forward pass normally returns logits for every position: a ``(batch, seq, vocab)``
tensor (49K vocab for SmolLM2, 128K for Llama 3), then copied to float32 for the loss, then kept
for the backward pass. Only the positions whose next token carries loss need them. Here a
forward pre-hook on the output embedding (the LM head) takes those hidden states out of the
model's forward (the model's own head then runs on no position), and the loss is computed from
them in chunks of ``chunk_tokens`` positions. When gradients are needed and there is more than one
chunk, each chunk runs under activation checkpointing: its logits are recomputed in the backward
pass instead of being kept, so at most one chunk's logits (``chunk_tokens × vocab``, in the
model dtype and float32) exist at a time, at the cost of one more LM-head forward per chunk.
Logit soft-capping (``config.final_logit_softcapping``, Gemma 2) is applied as the model does.

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

from typing import TYPE_CHECKING, Any

from targetsel.chat import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

__all__ = ["CHUNK_TOKENS", "example_loss"]

#: Loss positions whose logits are computed together (bounds the logits' memory).
CHUNK_TOKENS = 2048


def example_loss(
    model: Any,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    *,
    inputs_embeds: torch.Tensor | None = None,
    chunk_tokens: int = CHUNK_TOKENS,
) -> torch.Tensor:
    """Mean cross-entropy per example over the tokens whose label is not ``IGNORE_INDEX``.

    Position ``t`` predicts token ``t + 1`` (labels are shifted inside). The logits are computed
    only at the loss positions, ``chunk_tokens`` at a time, and taken to float32 for the loss.

    Args:
        model: A ``transformers`` causal LM (peft-wrapped or not).
        input_ids: ``(batch, seq)`` token ids (ignored when ``inputs_embeds`` is given).
        attention_mask: ``(batch, seq)``.
        labels: ``(batch, seq)`` token ids, ``IGNORE_INDEX`` where no loss is taken.
        inputs_embeds: Optional ``(batch, seq, hidden)`` input embeddings instead of ``input_ids``.
        chunk_tokens: Loss positions per LM-head chunk.

    Returns:
        ``(batch,)`` float32 tensor; an example without loss tokens gets 0.
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    if chunk_tokens <= 0:
        raise ValueError(f"chunk_tokens must be positive, got {chunk_tokens}")
    tgt = labels[:, 1:]
    b_idx, t_idx = (tgt != IGNORE_INDEX).nonzero(as_tuple=True)
    head = model.get_output_embeddings()
    if head is None:
        raise TypeError(f"{type(model).__name__} has no output embeddings (LM head) to compute a loss with")
    config = getattr(model, "config", None)
    softcap = getattr(config, "final_logit_softcapping", None)
    stash: dict[str, Any] = {}

    def gather(_mod: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        hidden = args[0]
        stash["hidden"] = hidden[b_idx, t_idx]  # (n_loss_tokens, hidden)
        return (hidden[:, :0], *args[1:])  # the model's own head computes nothing

    handle = head.register_forward_pre_hook(gather)
    try:
        if inputs_embeds is not None:
            model(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        else:
            model(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        handle.remove()
    hidden = stash.pop("hidden")
    targets = tgt[b_idx, t_idx]

    def chunk_loss(h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = head(h).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return torch.nn.functional.cross_entropy(logits, t, reduction="none")

    n = hidden.shape[0]
    recompute = hidden.requires_grad and torch.is_grad_enabled() and n > chunk_tokens
    parts = []
    for a in range(0, n, chunk_tokens):
        h, t = hidden[a : a + chunk_tokens], targets[a : a + chunk_tokens]
        parts.append(checkpoint(chunk_loss, h, t, use_reentrant=False) if recompute else chunk_loss(h, t))
    tok_loss = torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)
    batch = labels.shape[0]
    total = torch.zeros(batch, dtype=torch.float32, device=tok_loss.device).index_add(0, b_idx, tok_loss)
    count = torch.bincount(b_idx, minlength=batch).clamp(min=1)
    return total / count
