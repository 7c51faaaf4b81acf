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

import contextlib
import copy
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.represent.base import Representation, Role, register_representation
from targetsel.represent.projection import Projector, get_projector
from targetsel.store import FeatureSource, StoreSpec

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["GRADIENT_TYPES", "GradientRepresentation", "adam_direction", "transform_gradient"]

GRADIENT_TYPES = ("adam", "sgd", "sign")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: First batch size tried by ``batch_size="auto"``.
AUTO_START_CUDA = 64
AUTO_START_CPU = 8


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


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


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


@register_representation
class GradientRepresentation(Representation):
    """LESS gradient features of one or more warmup checkpoints.

    Args:
        model: Base model (path, hub name or built-in ``smollm2-135m``).
        checkpoints: Warmup checkpoint directories (``checkpoint-epoch-E``), or one warmup output
            folder holding them. ``None``: a fresh LoRA adapter (seeded; ``sgd``/``sign`` only).
        candidate_gradient: ``adam`` (LESS), ``sgd`` or ``sign``.
        query_gradient: ``sgd`` (LESS), ``adam`` or ``sign``.
        dim: Projection dimension.
        projector: ``sparse`` (fast, default) or ``dense`` (Rademacher, as LESS).
        seed: Projection seed (and fresh-adapter seed).
        method: ``fast`` (batched per-example gradients) or ``exact`` (one backward per example).
        batch_size: Examples per forward/backward pass on the fast path, or ``auto``: start at 64 on
            CUDA (8 on the CPU) and halve on out-of-memory until a batch fits (accelerate's
            ``find_executable_batch_size``); the size found is kept for the next rows.
        max_length: Maximum tokens per example.
        dtype: Model dtype (gradients are accumulated in float32 regardless).
        device: ``cpu``, ``cuda`` or ``None`` (auto).
        lora_r, lora_alpha, target_modules: Fresh-adapter settings when ``checkpoints`` is ``None``.
        feature_dtype: On-disk dtype (``float32`` or ``float16``).
        loss_tokens: Which tokens carry the loss (:mod:`targetsel.chat`): ``less`` (LESS's
            conventions: a candidate turn's newline after ``</s>`` counts too; a query's answer
            has no ``</s>``), ``assistant`` (content and ``</s>``), or ``None``: ``less`` where the
            Tulu format is used (a tokenizer without a chat template), else ``assistant``.
            Recorded in the store manifest.

    Example:
        >>> rep = GradientRepresentation("smollm2-135m", checkpoints="warmup/", dim=8192)  # doctest: +SKIP
        >>> sources, weights = rep.encode_for_scoring(pool, role="candidate")  # doctest: +SKIP
    """

    name = "gradient"

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        checkpoints: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        candidate_gradient: str = "adam",
        query_gradient: str = "sgd",
        dim: int = 8192,
        projector: str = "sparse",
        seed: int = 0,
        method: str = "fast",
        batch_size: int | str = 8,
        max_length: int = 512,
        dtype: str = "float32",
        device: str | None = None,
        lora_r: int = 128,
        lora_alpha: float = 512.0,
        target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
        feature_dtype: str = "float32",
        loss_tokens: str | None = None,
    ) -> None:
        from targetsel.chat import LOSS_TOKENS

        if loss_tokens is not None and loss_tokens not in LOSS_TOKENS:
            raise ConfigurationError(f"loss_tokens must be one of {', '.join(LOSS_TOKENS)}, got {loss_tokens!r}")
        for kind in (candidate_gradient, query_gradient):
            if kind not in GRADIENT_TYPES:
                raise ConfigurationError(f"gradient type must be one of {', '.join(GRADIENT_TYPES)}, got {kind!r}")
        if method not in ("fast", "exact"):
            raise ConfigurationError(f"method must be fast or exact, got {method!r}")
        if batch_size != "auto" and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
        ):
            raise ConfigurationError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
        self.model = model
        self.checkpoints = self._resolve_checkpoints(checkpoints)
        self.candidate_gradient = candidate_gradient
        self.query_gradient = query_gradient
        self.dim = int(dim)
        self.projector_name = projector
        self.seed = int(seed)
        self.method = method
        self.batch_size: int | str = batch_size
        self._auto_batch: int | None = None  # the size `auto` settled on, reused for the next rows
        self.max_length = int(max_length)
        self.dtype = dtype
        self.device = device
        self.lora_r, self.lora_alpha, self.target_modules = lora_r, lora_alpha, tuple(target_modules)
        self.feature_dtype = feature_dtype
        self.loss_tokens = loss_tokens
        self._loss_tokens: str | None = None  # resolved from the tokenizer (see resolved_loss_tokens)
        self._projector: Projector = get_projector(projector, dim=self.dim, seed=self.seed)
        self._loaded: _Loaded | None = None
        self._loaded_key: Any = None
        self._digests: dict[str, str] = {}

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _resolve_checkpoints(checkpoints: Any) -> list[Path]:
        from targetsel.train.checkpoints import find_checkpoints

        if checkpoints is None:
            return []
        if isinstance(checkpoints, (str, os.PathLike)):
            checkpoints = [checkpoints]
        out: list[Path] = []
        for c in checkpoints:
            out.extend(find_checkpoints(c))
        return out

    def release(self) -> None:
        """Drop the loaded model and optimizer moments (loaded again on the next use)."""
        self._loaded, self._loaded_key = None, None

    def for_checkpoint(self, checkpoint: str | os.PathLike[str]) -> GradientRepresentation:
        """A copy of this representation restricted to one checkpoint (sharing the projector)."""
        rep = copy.copy(self)
        rep.checkpoints = [Path(checkpoint)]
        rep._loaded, rep._loaded_key = None, None
        return rep

    def resolved_loss_tokens(self) -> str:
        """``loss_tokens``, with ``None`` resolved from the model's tokenizer (loaded once)."""
        if self.loss_tokens is not None:
            return self.loss_tokens
        if self._loss_tokens is None:
            from targetsel.models import load_tokenizer

            tok = self._loaded.tok if self._loaded is not None else load_tokenizer(self.model)
            self._loss_tokens = "assistant" if getattr(tok, "chat_template", None) else "less"
        return self._loss_tokens

    def gradient_type(self, role: Role) -> str:
        return self.candidate_gradient if role == "candidate" else self.query_gradient

    @property
    def checkpoint(self) -> Path | None:
        if len(self.checkpoints) > 1:
            raise ConfigurationError(
                f"{len(self.checkpoints)} checkpoints given: encode each with rep.for_checkpoint(c) "
                "(the CLI writes one store per checkpoint), or use encode_for_scoring"
            )
        return self.checkpoints[0] if self.checkpoints else None

    def _checkpoint_digest(self, ckpt: Path) -> str:
        key = str(ckpt.resolve())
        if key not in self._digests:
            f = ckpt / "adapter_model.safetensors"
            self._digests[key] = _file_digest(f) if f.is_file() else "none"
        return self._digests[key]

    def spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        ckpt = self.checkpoint
        kind = self.gradient_type(role)
        if kind == "adam" and ckpt is None:
            raise ConfigurationError(
                "adam gradient features need a warmup checkpoint with optimizer state: run `targetsel warmup` "
                "and pass --checkpoints, or use candidate_gradient=sgd"
            )
        from targetsel.train.checkpoints import checkpoint_epoch

        params: dict[str, Any] = {
            "gradient_type": kind,
            "loss_on": "all_assistant" if role == "candidate" else "last_assistant",
            "loss_tokens": self.resolved_loss_tokens(),
            "max_length": self.max_length,
            "method": self.method,
            **self._projector.params(),
        }
        if ckpt is None:
            params["fresh_lora"] = {"r": self.lora_r, "alpha": self.lora_alpha, "targets": list(self.target_modules)}
        else:
            params["checkpoint"] = {
                "name": ckpt.name,
                "epoch": checkpoint_epoch(ckpt),
                "adapter_sha256": self._checkpoint_digest(ckpt),
            }
        return StoreSpec(
            representation=self.name,
            model=self.model,
            dim=self.dim,
            num_rows=len(examples),
            fingerprint=examples.fingerprint,
            dtype=self.feature_dtype,
            params=params,
            normalized=False,
        )

    # ------------------------------------------------------------------ model
    def _load(self, need_moments: bool) -> _Loaded:
        import torch

        from targetsel.models import load_model_and_tokenizer

        ckpt = self.checkpoint
        key = (str(ckpt), need_moments)
        if self._loaded is not None and self._loaded_key[0] == key[0] and (self._loaded.moments or not need_moments):
            return self._loaded
        if str(self.device or "").startswith("cuda") or (self.device is None and torch.cuda.is_available()):
            # cuBLAS is deterministic on one stream only with a fixed workspace (read at its first use)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if ckpt is None:
            from targetsel.train.config import TrainConfig
            from targetsel.train.core import build_lora_model

            lm, tok = load_model_and_tokenizer(self.model, dtype=self.dtype, device=self.device)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                cfg = TrainConfig(lora_r=self.lora_r, lora_alpha=self.lora_alpha, target_modules=self.target_modules)
                lm = build_lora_model(lm, cfg)
        else:
            lm, tok = load_model_and_tokenizer(self.model, dtype=self.dtype, device=self.device, adapter=ckpt)
        lm.eval()  # dropout off: features must be deterministic
        loaded = _Loaded(lm, tok, None)
        if need_moments:
            from targetsel.train.checkpoints import load_adam_moments

            moments = load_adam_moments(ckpt, {n: p for n, p in loaded.params.items()})  # type: ignore[arg-type]
            loaded.moments = {n: (m.to(loaded.device), v.to(loaded.device)) for n, (m, v) in moments.items()}
        self._loaded, self._loaded_key = loaded, key
        return loaded

    # ------------------------------------------------------------------ encoding
    def _tokenize(self, tok: Any, examples: ExampleSet, start: int, stop: int, role: Role) -> list[dict[str, Any]]:
        from targetsel.chat import IGNORE_INDEX, tokenize_example

        loss_on = "all_assistant" if role == "candidate" else "last_assistant"
        loss_tokens = self.resolved_loss_tokens()
        out = []
        for i, msgs in enumerate(examples.dataset[start:stop]["messages"]):
            enc = tokenize_example(tok, msgs, max_length=self.max_length, loss_on=loss_on, loss_tokens=loss_tokens)
            if all(lab == IGNORE_INDEX for lab in enc["labels"][1:]):
                raise InvalidDataError(
                    f"row {start + i} has no assistant token with loss after tokenisation; check its messages"
                )
            out.append(enc)
        return out

    def encode_rows(self, examples: ExampleSet, start: int, stop: int, role: Role = "candidate") -> np.ndarray:
        kind = self.gradient_type(role)
        loaded = self._load(need_moments=kind == "adam")
        encs = self._tokenize(loaded.tok, examples, start, stop, role)
        if self.method == "exact":
            return self._exact(loaded, encs, kind)
        return self._fast(loaded, encs, kind)

    def _exact(self, loaded: _Loaded, encs: list[dict[str, Any]], kind: str) -> np.ndarray:
        """Plain definition: batch of one, one backward pass per example, gradients of the parameters."""
        import torch

        from targetsel.lmloss import example_loss

        out = np.empty((len(encs), self.dim), dtype=np.float32)
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
                out[i] = self._projector.project(blocks).cpu().numpy()[0]
        return out

    def _fast(self, loaded: _Loaded, encs: list[dict[str, Any]], kind: str) -> np.ndarray:
        """One forward/backward per padded batch; per-example gradients from layer inputs and output grads.

        Memory: the LM head runs only at loss positions (:func:`targetsel.lmloss.example_loss`), and
        each LoRA layer's per-example gradient ``Σ_t δ_t x_tᵀ`` is formed, transformed and projected
        inside a hook on that layer's output gradient, the moment the backward pass produces it:
        one layer's per-example gradients (``batch × out × in`` float32) exist at a time, and no
        output gradient outlives its layer. The backward pass runs to the input embeddings only
        (no weight gradient of any parameter is formed). Mixed precision: the model runs in its
        ``dtype`` (bf16 on GPUs); per-example gradients, the Adam transform and the projection are
        float32.
        """
        order = sorted(range(len(encs)), key=lambda i: (len(encs[i]["input_ids"]), i))
        out = np.empty((len(encs), self.dim), dtype=np.float32)
        if self.batch_size != "auto":
            self._fast_batches(loaded, encs, kind, order, out, [0], int(self.batch_size))
            return out
        from accelerate.utils import find_executable_batch_size
        from accelerate.utils.memory import clear_device_cache, should_reduce_batch_size

        done = [0]
        if self._auto_batch is not None:
            # the size found before: run directly (the search's garbage collection at every call
            # costs more than a small shard); search again, from half, only on out-of-memory
            try:
                self._fast_batches(loaded, encs, kind, order, out, done, self._auto_batch)
                return out
            except RuntimeError as exc:
                if not should_reduce_batch_size(exc) or self._auto_batch <= 1:
                    raise
            # outside the except block: the exception (and the tensors its frames hold) is gone
            clear_device_cache(garbage_collection=True)
            self._auto_batch //= 2
        start = self._auto_batch or (AUTO_START_CUDA if loaded.device.type == "cuda" else AUTO_START_CPU)

        def halve() -> int:
            return (self._auto_batch or start) // 2

        @find_executable_batch_size(starting_batch_size=start, reduce_batch_size_fn=halve)
        def run(batch_size: int) -> None:
            self._auto_batch = batch_size
            self._fast_batches(loaded, encs, kind, order, out, done, batch_size)

        run()
        return out

    def _fast_batches(
        self,
        loaded: _Loaded,
        encs: list[dict[str, Any]],
        kind: str,
        order: list[int],
        out: np.ndarray,
        done: list[int],
        batch_size: int,
    ) -> None:
        """Encode ``order[done[0]:]`` in batches of ``batch_size`` into ``out``.

        ``done[0]`` advances after every batch, so after an out-of-memory error the caller resumes
        at the first unfinished batch with a smaller size; batches already written stay written.
        """
        import torch

        from targetsel.chat import ChatCollator
        from targetsel.lmloss import example_loss

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
                    state["feats"] = self._projector.project({name: blk.reshape(g.shape[0], -1)}, out=state["feats"])

            output.register_hook(on_grad)

        handles = [mod.register_forward_hook(on_output) for _, mod in loaded.linears]
        embed = loaded.lm.get_input_embeddings()
        pos = done[0]
        try:
            while pos < len(order):
                rows = order[pos : pos + batch_size]
                batch = collate([encs[i] for i in rows])
                ids = batch["input_ids"].to(loaded.device)
                mask = batch["attention_mask"].to(loaded.device)
                labels = batch["labels"].to(loaded.device)
                # padded positions get exactly zero output gradients (nothing attends to them and they
                # carry no loss), so the mask only guards against non-finite inputs there
                state["mask"] = None if bool(mask.all()) else mask.unsqueeze(-1).float()
                state["feats"] = torch.zeros((len(rows), self.dim), dtype=torch.float32, device=loaded.device)
                with torch.no_grad():
                    emb = embed(ids)
                emb.requires_grad_(True)
                # Sum of per-example mean losses: each example's output gradients are its own.
                with _deterministic(loaded.device):
                    loss = example_loss(loaded.lm, ids, mask, labels, inputs_embeds=emb).sum()
                    torch.autograd.grad(loss, [emb])
                out[rows] = state["feats"].cpu().numpy()
                state.clear()
                pos += len(rows)
                done[0] = pos
        finally:
            for h in handles:
                h.remove()
            state.clear()

    # ------------------------------------------------------------------ several checkpoints
    def checkpoint_weights(self) -> list[float]:
        """LESS weights of the checkpoints (epoch mean learning rate, normalised to sum 1)."""
        from targetsel.train.checkpoints import checkpoint_lr_weights

        if len(self.checkpoints) <= 1:
            return [1.0] * max(1, len(self.checkpoints))
        return checkpoint_lr_weights(self.checkpoints)

    def encode_for_scoring(
        self,
        examples: ExampleSet,
        *,
        role: Role,
        store_dir: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        shard_size: int = 4096,
    ) -> tuple[list[FeatureSource], list[float]]:
        """One source per checkpoint, weighted by the checkpoints' normalised mean learning rates."""
        if len(self.checkpoints) <= 1:
            return super().encode_for_scoring(
                examples, role=role, store_dir=store_dir, overwrite=overwrite, shard_size=shard_size
            )
        sources: list[FeatureSource] = []
        for ckpt in self.checkpoints:
            rep = self.for_checkpoint(ckpt)
            src, _ = Representation.encode_for_scoring(
                rep, examples, role=role, store_dir=store_dir, overwrite=overwrite, shard_size=shard_size
            )
            sources.extend(src)
            rep.release()
        return sources, self.checkpoint_weights()


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
    hidden = config.hidden_size
    ids = torch.zeros((batch_size, seq_len), dtype=torch.long, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        emb = base.get_input_embeddings()(ids).detach().requires_grad_(True)
        base.get_decoder()(inputs_embeds=emb)
    from targetsel.lmloss import CHUNK_TOKENS

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
        "saved_activations": int(saved[0]),
        "logits": int(logit_bytes),
        "per_example_gradients": int(per_example),
        "features": int(features),
    }
    plan["peak"] = sum(plan.values())
    return plan
