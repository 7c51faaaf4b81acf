"""The per-example LoRA gradient engine: a model's LoRA linear layers hooked up, and the two paths.

* :func:`exact_features`: the plain definition, one example and one backward pass at a time,
  gradients read from the LoRA parameters;
* :func:`fast_features`: a padded batch in one forward and one backward pass. Hooks keep each LoRA
  layer's input ``x`` and output gradient ``δ``; the per-example weight gradient is
  ``Σ_t δ_t x_tᵀ`` (one batched matmul per layer), transformed and projected layer by layer.

Both write ``P · T(g)`` per example (:mod:`targetsel.represent.gradient`) and report each finished
row through a progress callback (``on_rows``, by default :func:`targetsel.progress.advance_rows`);
:class:`~targetsel.represent.gradient.GradientRepresentation` loads the model and calls them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.progress import Advance, advance_rows
from targetsel.represent.gradient.transform import transform_gradient
from targetsel.represent.projection import Projector

if TYPE_CHECKING:
    import torch

__all__ = ["exact_features", "fast_features"]


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """On CUDA, PyTorch's deterministic kernels for the duration (e.g. attention backward passes that
    would otherwise accumulate with atomics); a no-op on the CPU. The sparse projection is
    order-independent by itself (:func:`targetsel.represent.projection.exact_index_add`)."""
    if getattr(device, "type", str(device)) != "cuda":
        yield
        return
    import torch

    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


class _Loaded:
    """A model with its LoRA adapter, ready for gradients: LoRA parameters and linear layers by name."""

    def __init__(
        self, lm: torch.nn.Module, tok: Any, moments: dict[str, tuple[torch.Tensor, torch.Tensor]] | None
    ) -> None:
        import torch

        from targetsel.train.checkpoints import canonical_param_name

        self.lm, self.tok, self.moments = lm, tok, moments
        self.params: dict[str, Any] = {}
        for n, p in lm.named_parameters():
            if "lora_" in n:
                p.requires_grad_(True)
                self.params[canonical_param_name(n)] = p
            else:
                p.requires_grad_(False)
        if not self.params:
            raise ConfigurationError("the model has no LoRA parameters to take gradients of")
        by_id = {id(p): n for n, p in self.params.items()}
        self.linears: list[tuple[str, Any]] = []
        for _, mod in lm.named_modules():
            if isinstance(mod, torch.nn.Linear) and id(mod.weight) in by_id:
                if mod.bias is not None and mod.bias.requires_grad:
                    raise ConfigurationError("LoRA layers with trainable biases are not supported (use bias='none')")
                self.linears.append((by_id[id(mod.weight)], mod))
        if len(self.linears) != len(self.params):
            raise ConfigurationError(
                f"found {len(self.linears)} LoRA linear layers for {len(self.params)} LoRA parameters; "
                "only LoRA on linear layers is supported"
            )
        self.device = next(lm.parameters()).device


def exact_features(
    loaded: _Loaded,
    encs: list[dict[str, Any]],
    kind: str,
    projector: Projector,
    dim: int,
    on_rows: Advance = advance_rows,
) -> np.ndarray:
    """Plain definition: batch of one, one backward pass per example, gradients of the parameters.

    Args:
        loaded: The model with its LoRA adapter (and moments for ``adam``).
        encs: Tokenised examples (``input_ids``, ``labels``).
        kind: Gradient type (:func:`~targetsel.represent.gradient.transform_gradient`).
        projector: The projection to ``dim`` values.
        dim: Projection dimension.
        on_rows: Progress callback, ``on_rows(1)`` after each example.

    Returns:
        Features, shape ``(len(encs), dim)``, float32.
    """
    import torch

    from targetsel.lmloss import example_loss

    out = np.empty((len(encs), dim), dtype=np.float32)
    names = list(loaded.params)
    for i, enc in enumerate(encs):
        ids = torch.tensor([enc["input_ids"]], device=loaded.device)
        labels = torch.tensor([enc["labels"]], device=loaded.device)
        with _deterministic(loaded.device):
            loss = example_loss(loaded.lm, ids, torch.ones_like(ids), labels)[0]
            grads = torch.autograd.grad(loss, [loaded.params[n] for n in names])
        blocks = {}
        for n, g in zip(names, grads, strict=True):
            moments = loaded.moments.get(n) if loaded.moments else None
            blocks[n] = transform_gradient(kind, g.detach().float(), moments).reshape(1, -1)
        with torch.no_grad():
            out[i] = projector.project(blocks).cpu().numpy()[0]
        on_rows(1)
    return out


def fast_features(
    loaded: _Loaded,
    encs: list[dict[str, Any]],
    kind: str,
    order: Sequence[int],
    out: np.ndarray,
    batch_size: int,
    projector: Projector,
    on_rows: Advance = advance_rows,
) -> None:
    """Encode the examples ``order`` in batches of ``batch_size`` into their rows of ``out``.

    Args:
        loaded: The model with its LoRA adapter (and moments for ``adam``).
        encs: Tokenised examples (``input_ids``, ``labels``).
        kind: Gradient type (:func:`~targetsel.represent.gradient.transform_gradient`).
        order: Indices into ``encs`` to encode, batched in this order (by length: less padding).
        out: ``(len(encs), dim)`` float32; row ``i`` receives example ``i``'s features.
        batch_size: Examples per forward and backward pass.
        projector: The projection to ``dim`` values.
        on_rows: Progress callback, ``on_rows(n)`` once a batch of ``n`` rows is written to
            ``out``. A caller that counts them knows where to resume after an out-of-memory error:
            ``order[done:]``, with a smaller batch; the batches already written stay written.
    """
    import torch

    from targetsel.chat import ChatCollator
    from targetsel.lmloss import example_loss

    dim = out.shape[1]

    collate = ChatCollator(loaded.tok)
    names = {id(mod): name for name, mod in loaded.linears}
    state: dict[str, Any] = {}

    def on_output(mod: torch.nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
        name, x = names[id(mod)], args[0]
        if not output.requires_grad:
            return

        def on_grad(g_out: torch.Tensor) -> None:
            xx = x.detach().float()
            if state["mask"] is not None:
                xx = xx * state["mask"]
            g = torch.einsum("bto,bti->boi", g_out.float(), xx)  # per-example weight gradient
            moments = loaded.moments.get(name) if loaded.moments else None
            with torch.no_grad():
                blk = transform_gradient(kind, g, moments)
                state["feats"] = projector.project({name: blk.reshape(g.shape[0], -1)}, out=state["feats"])

        output.register_hook(on_grad)  # type: ignore[no-untyped-call]  # torch leaves it unannotated

    handles = [mod.register_forward_hook(on_output) for _, mod in loaded.linears]
    embed = loaded.lm.get_input_embeddings()  # type: ignore[operator]  # torch types Module attributes as Tensor | Module
    try:
        for pos in range(0, len(order), batch_size):
            rows = list(order[pos : pos + batch_size])
            batch = collate([encs[i] for i in rows])
            ids = batch["input_ids"].to(loaded.device)
            mask = batch["attention_mask"].to(loaded.device)
            labels = batch["labels"].to(loaded.device)
            # padded positions get exactly zero output gradients (nothing attends to them and they
            # carry no loss), so the mask only guards against non-finite inputs there
            state["mask"] = None if bool(mask.all()) else mask.unsqueeze(-1).float()
            state["feats"] = torch.zeros((len(rows), dim), dtype=torch.float32, device=loaded.device)
            with torch.no_grad():
                emb = embed(ids)
            emb.requires_grad_(True)
            # Sum of per-example mean losses: each example's output gradients are its own.
            with _deterministic(loaded.device):
                loss = example_loss(loaded.lm, ids, mask, labels, inputs_embeds=emb).sum()
                torch.autograd.grad(loss, [emb])
            out[rows] = state["feats"].cpu().numpy()
            state.clear()
            on_rows(len(rows))
    finally:
        for h in handles:
            h.remove()
        state.clear()
