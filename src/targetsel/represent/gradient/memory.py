"""Memory planning for the fast gradient path, from a model config alone (nothing allocated)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["plan_memory"]


def plan_memory(
    config: Any,
    *,
    batch_size: int,
    seq_len: int,
    loss_tokens: int | None = None,
    dtype: str = "bfloat16",
    lora_r: int = 128,
    lora_alpha: float = 512.0,
    target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    dim: int = 8192,
) -> dict[str, int]:
    """Planned peak device memory of the fast gradient path, from a model config, allocating nothing.

    The model is built on PyTorch's ``meta`` device (shapes, no storage) and one batch runs through
    it under ``saved_tensors_hooks``: what autograd keeps for the backward pass is counted from the
    real model code, not estimated (attention as flash / memory-efficient SDPA keeps it: no
    ``seq × seq`` matrices). Added to it: weights, LoRA parameters' Adam moments (float32),
    the loss positions' hidden states and one chunk of their logits
    (:data:`targetsel.lmloss.CHUNK_TOKENS`; model dtype, the float32 copy and its gradient), the largest
    layer's per-example gradient with the Adam transform's temporaries (three float32 copies), and
    the projected features.

    Args:
        config: A ``transformers`` config of a causal LM (e.g. ``LlamaConfig``).
        batch_size, seq_len: The batch planned for.
        loss_tokens: Tokens with loss per example (default ``seq_len``).
        dtype: Model dtype.
        lora_r, lora_alpha, target_modules: The LoRA adapter (LESS: 128, 512, q/k/v/o).
        dim: Projection dimension.

    Returns:
        Bytes per part (``weights``, ``moments``, ``saved_activations``, ``logits``,
        ``per_example_gradients``, ``features``) and their sum ``peak``.

    Example:
        >>> from transformers import LlamaConfig
        >>> cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        ...                   num_attention_heads=4, num_key_value_heads=2)
        >>> plan = plan_memory(cfg, batch_size=2, seq_len=16, dtype="float32", lora_r=4)
        >>> plan["peak"] > plan["weights"] > 0
        True
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    loss_tokens = seq_len if loss_tokens is None else int(loss_tokens)
    tdtype = getattr(torch, dtype)
    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(config, dtype=tdtype)
        lm = get_peft_model(lm, LoraConfig(r=lora_r, lora_alpha=lora_alpha, target_modules=list(target_modules)))
    lm.eval()
    weights = sum(p.numel() * p.element_size() for p in lm.parameters())
    lora = [(n, p) for n, p in lm.named_parameters() if "lora_" in n]
    lora_numel = sum(p.numel() for _, p in lora)
    moments = 2 * 4 * lora_numel
    saved = _saved_activation_bytes(lm, config, batch_size=batch_size, seq_len=seq_len)
    from targetsel.lmloss import CHUNK_TOKENS

    base = lm.get_base_model()
    hidden = config.hidden_size
    n_loss = batch_size * loss_tokens
    vocab = base.get_output_embeddings().weight.shape[0]
    # the loss-position hidden states are kept; one chunk of logits exists at a time (model dtype,
    # its float32 copy, and that copy's gradient)
    elem = torch.finfo(tdtype).bits // 8
    logit_bytes = n_loss * hidden * elem + min(n_loss, CHUNK_TOKENS) * vocab * (elem + 4 + 4)
    largest = max(p.numel() for _, p in lora)
    per_example = 3 * 4 * batch_size * largest
    features = 4 * batch_size * dim
    plan = {
        "weights": int(weights),
        "moments": int(moments),
        "saved_activations": int(saved),
        "logits": int(logit_bytes),
        "per_example_gradients": int(per_example),
        "features": int(features),
    }
    plan["peak"] = sum(plan.values())
    return plan


def _saved_activation_bytes(lm: torch.nn.Module, config: Any, *, batch_size: int, seq_len: int) -> int:
    """Bytes autograd keeps for the backward pass of one ``(batch_size, seq_len)`` batch through the
    decoder of ``lm`` (a model on the ``meta`` device), counted by ``saved_tensors_hooks``."""
    import torch

    param_ids = {id(p) for p in lm.parameters()}
    seen: dict[int, Any] = {}  # id -> tensor: holding them keeps ids unique (meta tensors hold no memory)
    saved = [0]

    heads = int(getattr(config, "num_attention_heads", 1))

    def pack(t: torch.Tensor) -> Any:
        base_id = id(t._base) if getattr(t, "_base", None) is not None else None
        if id(t) not in param_ids and base_id not in param_ids and id(t) not in seen:  # (a weight's view)
            seen[id(t)] = t
            if t.dim() >= 2 and tuple(t.shape[-2:]) == (seq_len, seq_len):
                # the meta device runs SDPA's math backend, which saves (seq × seq) attention
                # matrices; flash / memory-efficient SDPA on a GPU keeps its output (counted) and a
                # float32 log-sum-exp per head and query instead
                if t.dim() == 4 and t.shape[1] == heads:
                    saved[0] += t.shape[0] * heads * seq_len * 4
                return t
            saved[0] += t.numel() * t.element_size()
        return t

    base = lm.get_base_model()
    ids = torch.zeros((batch_size, seq_len), dtype=torch.long, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        emb = base.get_input_embeddings()(ids).detach().requires_grad_(True)
        base.get_decoder()(inputs_embeds=emb)
    return saved[0]
