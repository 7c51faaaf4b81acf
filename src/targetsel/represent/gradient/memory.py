"""Memory planning for the fast gradient path, from a model config alone (nothing allocated).

:func:`plan_memory` predicts the peak of one batch. On the CPU there is no out-of-memory
exception to recover from (the kernel's out-of-memory killer ends the process), so
:func:`cpu_batch_size` sizes batches *before* running them: the largest batch whose predicted
working memory fits what the host has available (:func:`host_memory_limit`: ``MemAvailable``,
a cgroup limit, less :data:`HOST_HEADROOM`, and ``$TARGETSEL_MEMORY_BYTES`` when set), or one
:class:`~targetsel.errors.ConfigurationError` line when even one example cannot fit.

Example:
    >>> host_memory_limit() > 0
    True
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from targetsel.errors import ConfigurationError
from targetsel.lora import LESS_LORA, LoraSettings
from targetsel.settings import MEMORY_ENV, memory_budget

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)

__all__ = [
    "CPU_ACTIVATION_FACTOR",
    "CPU_FIXED_BYTES",
    "HOST_HEADROOM",
    "available_host_memory",
    "cpu_batch_size",
    "cpu_working_bytes",
    "host_memory_limit",
    "plan_memory",
]

#: Fraction of the available host memory left free (other processes, the allocator's caching).
HOST_HEADROOM = 0.2
#: Real CPU working memory per planned byte. Measured peak RSS over the loaded model's RSS against
#: ``plan_memory``'s non-weight part, SmolLM2-135M shapes, float32, one thread: 1.27 (256 tokens ×
#: 1), 1.28 (256 × 2), 1.18 (512 × 1), 1.31 (512 × 2), 1.30 (1024 × 1), 1.27 (2048 × 1); the CPU's backward keeps
#: temporaries the GPU plan does not count.
CPU_ACTIVATION_FACTOR = 1.35
#: Fixed CPU working memory of a batch besides the planned tensors (allocator, tokenised batch).
CPU_FIXED_BYTES = 256 << 20


def plan_memory(
    config: Any,
    *,
    batch_size: int,
    seq_len: int,
    loss_tokens: int | None = None,
    dtype: str = "bfloat16",
    lora: LoraSettings = LESS_LORA,
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
        lora: The LoRA adapter (default LESS's: r=128, alpha=512 on q/k/v/o).
        dim: Projection dimension.

    Returns:
        Bytes per part (``weights``, ``moments``, ``saved_activations``, ``logits``,
        ``per_example_gradients``, ``features``) and their sum ``peak``.

    Example:
        >>> from transformers import LlamaConfig
        >>> cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        ...                   num_attention_heads=4, num_key_value_heads=2)
        >>> plan = plan_memory(cfg, batch_size=2, seq_len=16, dtype="float32", lora=LoraSettings(lora_r=4))
        >>> plan["peak"] > plan["weights"] > 0
        True
    """
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    loss_tokens = seq_len if loss_tokens is None else int(loss_tokens)
    tdtype = getattr(torch, dtype)
    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(config, dtype=tdtype)
        lm = get_peft_model(lm, lora.peft_config())
    lm.eval()
    weights = sum(p.numel() * p.element_size() for p in lm.parameters())
    adapter = [p for n, p in lm.named_parameters() if "lora_" in n]
    lora_numel = sum(p.numel() for p in adapter)
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
    largest = max(p.numel() for p in adapter)
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


def _saved_activation_bytes(lm: PeftModel, config: Any, *, batch_size: int, seq_len: int) -> int:
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

    base = cast("PreTrainedModel", lm.get_base_model())  # what peft wraps; it says only Module
    ids = torch.zeros((batch_size, seq_len), dtype=torch.long, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        emb = base.get_input_embeddings()(ids).detach().requires_grad_(True)
        base.get_decoder()(inputs_embeds=emb)
    return saved[0]


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Bytes the process's cgroup may still allocate (v2 ``memory.max`` - ``memory.current``, or v1)."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 1 << 60:  # unlimited (v1 writes a huge number)
                return None
            return max(0, int(limit) - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_host_memory() -> int:
    """Bytes of host memory available now: ``MemAvailable`` (else free pages), within the cgroup's limit.

    Example:
        >>> available_host_memory() > 0
        True
    """
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # no such counter on this platform
            avail = 1 << 62
    room = _cgroup_room()
    return int(avail if room is None else min(avail, room))


def host_memory_limit() -> int:
    """Bytes a CPU batch may use: the available memory less :data:`HOST_HEADROOM`, and at most
    ``$TARGETSEL_MEMORY_BYTES`` when that is set (:func:`targetsel.settings.memory_budget`).

    Example:
        >>> import os
        >>> os.environ["TARGETSEL_MEMORY_BYTES"] = str(1 << 20)
        >>> host_memory_limit()
        1048576
        >>> del os.environ["TARGETSEL_MEMORY_BYTES"]
    """
    limit = int(available_host_memory() * (1.0 - HOST_HEADROOM))
    if (os.environ.get(MEMORY_ENV) or "").strip():
        limit = min(limit, memory_budget())
    return limit


def cpu_working_bytes(plan: dict[str, int]) -> int:
    """Predicted CPU working memory of a batch from its :func:`plan_memory` (weights and moments,
    already loaded, left out).

    Example:
        >>> planned = {"weights": 10, "moments": 2, "peak": 12 + (100 << 20)}
        >>> cpu_working_bytes(planned) == int(1.35 * (100 << 20)) + (256 << 20)
        True
    """
    return int(CPU_ACTIVATION_FACTOR * (plan["peak"] - plan["weights"] - plan["moments"])) + CPU_FIXED_BYTES


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def cpu_batch_size(
    config: Any,
    *,
    seq_len: int,
    loss_tokens: int,
    requested: int | None,
    largest: int,
    limit: int | None = None,
    cache: dict[Any, int] | None = None,
    **plan_kw: Any,
) -> int:
    """The batch size to run on the CPU: ``requested`` if it fits, else the largest that fits.

    The working memory is linear in the batch size (saved activations, per-example gradients,
    features) apart from the logits chunk, which saturates: two plans (batch 1 and 2) give the
    line, and extrapolating it over-predicts larger batches slightly, never under-predicts.

    Args:
        config: The model's ``transformers`` config.
        seq_len, loss_tokens: Longest padded length and most loss tokens of one example.
        requested: An explicit batch size (checked), or ``None`` for ``auto``.
        largest: The largest batch ``auto`` may choose.
        limit: Bytes a batch may use (default :func:`host_memory_limit`).
        cache: Per-representation cache of plans (keyed by length and batch).
        plan_kw: ``dtype``, ``lora``, ``dim`` of :func:`plan_memory`.

    Raises:
        ConfigurationError: ``requested`` does not fit, or a batch of one does not.

    Example:
        >>> from transformers import LlamaConfig
        >>> cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        ...                   num_attention_heads=4, num_key_value_heads=2)
        >>> kw = dict(seq_len=64, loss_tokens=32, dtype="float32", lora=LoraSettings(lora_r=4), dim=64)
        >>> cpu_batch_size(cfg, requested=None, largest=8, limit=4 << 30, **kw)
        8
        >>> cpu_batch_size(cfg, requested=None, largest=8, limit=(256 << 20) + (1 << 20), **kw) < 8
        True
    """
    cache = {} if cache is None else cache
    limit = host_memory_limit() if limit is None else int(limit)

    def working(b: int) -> int:
        key = (seq_len, loss_tokens, b, tuple(sorted(plan_kw.items(), key=str)).__repr__())
        if key not in cache:
            plan = plan_memory(config, batch_size=b, seq_len=seq_len, loss_tokens=loss_tokens, **plan_kw)
            cache[key] = cpu_working_bytes(plan)
        return cache[key]

    one, two = working(1), working(2)

    def predicted(b: int) -> int:
        return one if b == 1 else two + (b - 2) * (two - one)

    where = f"{seq_len} tokens"
    budget = f"{_gib(limit)} of host memory to use ({int(HOST_HEADROOM * 100)}% of what is available kept free"
    budget += f", ${MEMORY_ENV} applied)" if (os.environ.get(MEMORY_ENV) or "").strip() else ")"
    if predicted(1) > limit:
        raise ConfigurationError(
            f"one example of {where} needs about {_gib(predicted(1))} on the CPU for gradient features, "
            f"more than the {budget}; lower max_length, free memory, or use a GPU"
        )
    fits = max(b for b in range(1, max(1, largest) + 1) if predicted(b) <= limit)
    if requested is not None:
        if predicted(requested) > limit:
            raise ConfigurationError(
                f"batch_size={requested} at {where} per example needs about {_gib(predicted(requested))} on the CPU, "
                f"more than the {budget}; use batch_size={fits} or batch_size=auto"
            )
        return requested
    logger.info("batch_size=auto on the CPU: %d (about %s at %s)", fits, _gib(predicted(fits)), where)
    return fits
