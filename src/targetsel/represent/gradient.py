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

import copy
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.represent.base import Representation, Role, register_representation
from targetsel.represent.projection import Projector, get_projector
from targetsel.store import FeatureSource, StoreSpec

logger = logging.getLogger(__name__)

__all__ = ["GRADIENT_TYPES", "GradientRepresentation", "adam_direction", "transform_gradient"]

GRADIENT_TYPES = ("adam", "sgd", "sign")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def adam_direction(grad: Any, exp_avg: Any, exp_avg_sq: Any, *, betas=ADAM_BETAS, eps: float = ADAM_EPS) -> Any:
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


def transform_gradient(kind: str, grad: Any, moments: tuple[Any, Any] | None = None) -> Any:
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

    def __init__(self, lm: Any, tok: Any, moments: dict[str, tuple[Any, Any]] | None) -> None:
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
        batch_size: Examples per forward/backward pass on the fast path.
        max_length: Maximum tokens per example.
        dtype: Model dtype (gradients are accumulated in float32 regardless).
        device: ``cpu``, ``cuda`` or ``None`` (auto).
        lora_r, lora_alpha, target_modules: Fresh-adapter settings when ``checkpoints`` is ``None``.
        feature_dtype: On-disk dtype (``float32`` or ``float16``).

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
        batch_size: int = 8,
        max_length: int = 512,
        dtype: str = "float32",
        device: str | None = None,
        lora_r: int = 128,
        lora_alpha: float = 512.0,
        target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
        feature_dtype: str = "float32",
    ) -> None:
        for kind in (candidate_gradient, query_gradient):
            if kind not in GRADIENT_TYPES:
                raise ConfigurationError(f"gradient type must be one of {', '.join(GRADIENT_TYPES)}, got {kind!r}")
        if method not in ("fast", "exact"):
            raise ConfigurationError(f"method must be fast or exact, got {method!r}")
        if batch_size <= 0:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.checkpoints = self._resolve_checkpoints(checkpoints)
        self.candidate_gradient = candidate_gradient
        self.query_gradient = query_gradient
        self.dim = int(dim)
        self.projector_name = projector
        self.seed = int(seed)
        self.method = method
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.dtype = dtype
        self.device = device
        self.lora_r, self.lora_alpha, self.target_modules = lora_r, lora_alpha, tuple(target_modules)
        self.feature_dtype = feature_dtype
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
        out = []
        for i, msgs in enumerate(examples.dataset[start:stop]["messages"]):
            enc = tokenize_example(tok, msgs, max_length=self.max_length, loss_on=loss_on)
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

        out = np.empty((len(encs), self.dim), dtype=np.float32)
        names = list(loaded.params)
        for i, enc in enumerate(encs):
            ids = torch.tensor([enc["input_ids"]], device=loaded.device)
            labels = torch.tensor([enc["labels"]], device=loaded.device)
            logits = loaded.lm(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float()
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)
            grads = torch.autograd.grad(loss, [loaded.params[n] for n in names])
            blocks = {}
            for n, g in zip(names, grads, strict=True):
                moments = loaded.moments.get(n) if loaded.moments else None
                blocks[n] = transform_gradient(kind, g.detach().float(), moments).reshape(1, -1)
            with torch.no_grad():
                out[i] = self._projector.project(blocks).cpu().numpy()[0]
        return out

    def _fast(self, loaded: _Loaded, encs: list[dict[str, Any]], kind: str) -> np.ndarray:
        """One forward/backward per padded batch; per-example gradients from layer inputs and output grads."""
        import torch

        from targetsel.chat import ChatCollator

        collate = ChatCollator(loaded.tok)
        out = np.empty((len(encs), self.dim), dtype=np.float32)
        # Batches of similar length (a fixed, data-determined order) waste less compute on padding.
        order = sorted(range(len(encs)), key=lambda i: (len(encs[i]["input_ids"]), i))
        captured: dict[str, tuple[Any, Any]] = {}

        def hook(name: str):
            def fn(_mod: Any, args: tuple[Any, ...], output: Any) -> None:
                captured[name] = (args[0], output)

            return fn

        handles = [mod.register_forward_hook(hook(name)) for name, mod in loaded.linears]
        try:
            for lo in range(0, len(order), self.batch_size):
                rows = order[lo : lo + self.batch_size]
                batch = collate([encs[i] for i in rows])
                ids = batch["input_ids"].to(loaded.device)
                mask = batch["attention_mask"].to(loaded.device)
                labels = batch["labels"].to(loaded.device)
                captured.clear()
                logits = loaded.lm(input_ids=ids, attention_mask=mask).logits.float()
                tgt = labels[:, 1:]
                tok_loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].transpose(1, 2), tgt, ignore_index=-100, reduction="none"
                )
                count = (tgt != -100).sum(dim=1).clamp(min=1)
                # Sum of per-example mean losses: each example's output gradients are its own.
                loss = (tok_loss.sum(dim=1) / count).sum()
                names = [n for n, _ in loaded.linears]
                outs = [captured[n][1] for n in names]
                grads_out = torch.autograd.grad(loss, outs)
                feats = None
                for name, g_out in zip(names, grads_out, strict=True):
                    x = captured[name][0].detach().float() * mask.unsqueeze(-1)
                    g = torch.einsum("bto,bti->boi", g_out.float(), x)  # per-example weight gradient
                    moments = loaded.moments.get(name) if loaded.moments else None
                    with torch.no_grad():
                        blk = transform_gradient(kind, g, moments)
                        feats = self._projector.project({name: blk.reshape(len(rows), -1)}, out=feats)
                    captured.pop(name)
                out[rows] = feats.cpu().numpy()  # type: ignore[union-attr]
        finally:
            for h in handles:
                h.remove()
            captured.clear()
        return out

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
