"""Pure cost formulas of the plan: store bytes, model shapes, FLOPs of each kind of pass.

Nothing here loads weights or touches data: store bytes follow the store's own layout
(:mod:`targetsel.store.codecs`) and ``numpy``'s ``.npy`` header rule, model shapes come from a
config built on PyTorch's ``meta`` device, and FLOPs are the counting rules written out below
(the same as ``bench/gpu_bench.py``'s).

FLOPs per example of ``T`` tokens (padded length of its batch), ``L`` of them with loss, for a
decoder with linear-layer parameters ``P`` (LM head and embeddings apart), ``n`` layers of width
``h``, vocabulary ``V`` and LoRA parameters ``R`` (``Σ r·(in + out)`` over the adapted layers):

* forward: ``2·P·T + 2·n·T²·h`` (causal attention: half of ``4·T²·h``) ``+ 2·T·R`` (LoRA);
* LM head: ``2·h·V`` per position that goes through it (only the loss positions in the gradient
  engine, every position in training);
* backward through the activations (no weight gradients of the frozen base):
  ``2·P·T + 4·n·T²·h + 2·T·R`` and the LM head again;
* LoRA weight gradients (per example in the gradient engine, summed in training): ``2·T·R``;
* Adam transform and sparse projection of a per-example gradient: ``12·R``.

Example:
    >>> store_file_bytes(10, 8, "float32", shard_size=4)  # 3 shards of 4, 4 and 2 rows
    704
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from targetsel.lora import LESS_LORA, LoraSettings

__all__ = [
    "ModelShapes",
    "forward_flops",
    "gradient_flops",
    "model_shapes",
    "npy_header_bytes",
    "padded_lengths",
    "store_file_bytes",
    "training_flops",
]


def npy_header_bytes(shape: tuple[int, ...], dtype: Any) -> int:
    """Bytes of the header ``numpy.save`` writes before an array of ``shape`` and ``dtype``.

    Computed by numpy's own header writer (format 1.0, or 2.0 when the header needs it), so it
    includes the padding numpy adds to align the data and to let the first axis grow in place.

    Example:
        >>> npy_header_bytes((4096, 8192), "float16")
        128
    """
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, header)
    except ValueError:  # header over 64 KiB: numpy.save switches to format 2.0
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.tell()


def store_file_bytes(num_rows: int, dim: int, dtype: str, *, shard_size: int = 4096) -> int:
    """Bytes of the shard files a :class:`~targetsel.store.FeatureStore` writes (manifest apart).

    Shard ``i`` holds rows ``[i·shard_size, (i+1)·shard_size)`` as one ``.npy`` file of the
    codec's width and dtype; ``int8`` and ``bit`` add a ``(rows,)`` float32 ``.npy`` per shard
    (scales, norms). Each file is its data plus its ``.npy`` header.

    Args:
        num_rows: Rows of the store.
        dim: Feature dimension.
        dtype: ``float32``, ``float16``, ``int8`` or ``bit``.
        shard_size: Rows per shard.

    Example:
        >>> store_file_bytes(5000, 8192, "bit") - store_file_bytes(5000, 8192, "bit", shard_size=5000)
        256
    """
    from targetsel.store.codecs import get_codec

    codec = get_codec(dtype)
    width, kind = codec.width(dim), codec.storage_dtype()
    total = 0
    for start in range(0, num_rows, shard_size):
        rows = min(shard_size, num_rows - start)
        total += npy_header_bytes((rows, width), kind) + rows * width * kind.itemsize
        if codec.aux is not None:
            total += npy_header_bytes((rows,), np.float32) + 4 * rows
    return total


@dataclass(frozen=True)
class ModelShapes:
    """What the FLOP and memory counts need of a causal LM (counted on the ``meta`` device).

    Attributes:
        params: All parameters of the base model (embeddings and LM head included).
        linear_params: Parameters of the decoder's linear layers (``P`` of the module docstring).
        lora_params: Parameters of the LoRA adapter (``R``).
        hidden, layers, vocab: Width, depth and vocabulary size.
    """

    params: int
    linear_params: int
    lora_params: int
    hidden: int
    layers: int
    vocab: int


def model_shapes(config: Any, *, lora: LoraSettings = LESS_LORA) -> ModelShapes:
    """Parameter counts of ``config``'s model and its LoRA adapter (default LESS's), built on the ``meta`` device.

    No weights are allocated or read: only shapes exist on the ``meta`` device.

    Example:
        >>> from transformers import LlamaConfig
        >>> cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        ...                   num_attention_heads=4, num_key_value_heads=2)
        >>> s = model_shapes(cfg, lora=LoraSettings(lora_r=4))
        >>> s.lora_params == 2 * 4 * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32)), s.linear_params
        (True, 18432)
    """
    import warnings

    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecation notices of peft/transformers internals
        lm = AutoModelForCausalLM.from_config(config)
        params = sum(p.numel() for p in lm.parameters())
        head = lm.get_output_embeddings()
        linear = sum(
            m.weight.numel() for m in lm.get_decoder().modules() if isinstance(m, torch.nn.Linear) and m is not head
        )
        vocab, hidden = (int(x) for x in lm.get_output_embeddings().weight.shape)
        peft = get_peft_model(lm, lora.peft_config())
        adapter = sum(p.numel() for n, p in peft.named_parameters() if "lora_" in n)
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0))
    return ModelShapes(int(params), int(linear), int(adapter), hidden, layers, vocab)


def padded_lengths(lengths: Sequence[int] | np.ndarray, *, batch_size: int, shard_size: int = 4096) -> np.ndarray:
    """The length each row is padded to in the batches the gradient and hidden engines form.

    Within each shard the rows are sorted by length (ties by index) and cut into batches of
    ``batch_size``; each batch is padded to its longest row. Returns ``(n,)`` int64, in row order.

    Example:
        >>> padded_lengths([5, 1, 3, 2], batch_size=2).tolist()
        [5, 2, 5, 2]
    """
    rows_len = np.asarray(lengths, dtype=np.int64)
    out = np.empty_like(rows_len)
    for start in range(0, len(rows_len), shard_size):
        shard = rows_len[start : start + shard_size]
        order = np.argsort(shard, kind="stable")
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            out[start + rows] = shard[rows].max()
    return out


def _out(x: np.ndarray) -> Any:
    return float(x) if x.ndim == 0 else x


def forward_flops(shapes: ModelShapes, tokens: Any, *, lora: bool = False) -> Any:
    """Forward FLOPs of one sequence of ``tokens`` through the decoder (no LM head).

    ``tokens`` may be an array of lengths (one value per sequence comes back).

    Example:
        >>> forward_flops(ModelShapes(0, 100, 10, 8, 2, 50), 4)
        1312.0
    """
    t = np.asarray(tokens, dtype=np.float64)
    lora_flops = 2 * t * shapes.lora_params if lora else 0.0
    return _out(2 * shapes.linear_params * t + 2 * shapes.layers * t * t * shapes.hidden + lora_flops)


def gradient_flops(shapes: ModelShapes, tokens: Any, loss_tokens: Any) -> Any:
    """FLOPs of one example's projected LoRA gradient on the fast path (module docstring).

    Example:
        >>> gradient_flops(ModelShapes(0, 100, 10, 8, 2, 50), 4, 2)
        6696.0
    """
    t = np.asarray(tokens, dtype=np.float64)
    fwd = forward_flops(shapes, t, lora=True)
    bwd = 2 * shapes.linear_params * t + 4 * shapes.layers * t * t * shapes.hidden + 2 * t * shapes.lora_params
    head = 2 * 2 * shapes.hidden * shapes.vocab * np.asarray(loss_tokens, dtype=np.float64)
    return _out(np.asarray(fwd + bwd + head + 2 * t * shapes.lora_params + 12 * shapes.lora_params))


def training_flops(shapes: ModelShapes, tokens: Any) -> Any:
    """FLOPs of one LoRA training step's forward and backward on a sequence of ``tokens``.

    Example:
        >>> training_flops(ModelShapes(0, 100, 10, 8, 2, 50), 4)
        9776.0
    """
    t = np.asarray(tokens, dtype=np.float64)
    fwd = forward_flops(shapes, t, lora=True)
    bwd = 2 * shapes.linear_params * t + 4 * shapes.layers * t * t * shapes.hidden + 2 * t * shapes.lora_params
    head = 2 * 2 * shapes.hidden * shapes.vocab * t
    return _out(np.asarray(fwd + bwd + head + 2 * t * shapes.lora_params))
