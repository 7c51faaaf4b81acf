"""The LESS gradient representation: configuration, store spec, model loading, encoding rows.

The maths is in :mod:`targetsel.represent.gradient` (module docstring); the per-example gradient
engine in :mod:`targetsel.represent.gradient.engine`.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.hashing import sha256_file
from targetsel.lora import LESS_LORA, LoraSettings
from targetsel.progress import advance_rows
from targetsel.represent.base import Representation, Role, register_representation
from targetsel.represent.gradient.engine import _Loaded, exact_features, fast_features
from targetsel.represent.gradient.transform import GRADIENT_TYPES
from targetsel.represent.projection import Projector, get_projector
from targetsel.store import FeatureSource, StoreSpec, check_feature_dtype
from targetsel.store.viewset import ViewSet

if TYPE_CHECKING:
    from targetsel.chat import LossOn, LossTokens

logger = logging.getLogger(__name__)

__all__ = ["AUTO_START_CPU", "AUTO_START_CUDA", "GradientRepresentation"]

#: First batch size tried by ``batch_size="auto"``.
AUTO_START_CUDA = 64
AUTO_START_CPU = 8


@dataclass
class RowsDone:
    """Rows of an encode already written: where a retry with a smaller batch size resumes."""

    rows: int = 0


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
        batch_size: Examples per forward/backward pass on the fast path, or ``auto``. On CUDA,
            ``auto`` starts at 64 and halves on out-of-memory until a batch fits (accelerate's
            ``find_executable_batch_size``); the size found is kept for the next rows. On the CPU
            (no out-of-memory exception, only the kernel's killer) every batch is sized before it
            runs: ``auto`` is the largest batch up to 8 whose predicted memory fits the host's
            available memory (:func:`~targetsel.represent.gradient.memory.cpu_batch_size`), and an
            explicit size, or a length that cannot fit at batch 1, is a ``ConfigurationError``
            before any work.
        max_length: Maximum tokens per example.
        dtype: Model dtype (gradients are accumulated in float32 regardless).
        device: ``cpu``, ``cuda`` or ``None`` (auto).
        lora_r, lora_alpha, target_modules: Fresh-adapter settings when ``checkpoints`` is ``None``
            (:class:`~targetsel.lora.LoraSettings`; default LESS's).
        feature_dtype: On-disk layout of candidate stores: ``float32``, ``float16``, ``int8`` or
            ``bit`` (:mod:`targetsel.store.codecs`; query sets stay float32).
        loss_tokens: Which tokens carry the loss (:mod:`targetsel.chat`): ``less`` (LESS's
            encoding: a candidate turn's newline after ``</s>`` counts too, the last turn's
            included; a query's answer has no ``</s>``), ``assistant`` (content and ``</s>``),
            or ``None``: ``less`` where the Tulu format is used (a tokenizer without a chat
            template), else ``assistant``. Recorded in the store manifest, with the rule's
            revision where it has one (:data:`targetsel.chat.LOSS_TOKENS_REVISION`).

    Example:
        >>> rep = GradientRepresentation("smollm2-135m", checkpoints="warmup/", dim=8192)  # doctest: +SKIP
        >>> rep.encode_for_scoring(pool, role="candidate").weights  # one view per checkpoint  # doctest: +SKIP
        (0.5, 0.5)
    """

    name = "gradient"
    label = "LESS"
    planner = "targetsel.plan.lm:plan_gradient"

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
        lora_r: int = LESS_LORA.lora_r,
        lora_alpha: float = LESS_LORA.lora_alpha,
        target_modules: Sequence[str] = LESS_LORA.target_modules,
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
        self._plans: dict[Any, int] = {}  # CPU working memory by (length, batch): see _cpu_batch
        self.max_length = int(max_length)
        self.dtype = dtype
        self.device = device
        self.lora = LoraSettings(lora_r=lora_r, lora_alpha=lora_alpha, target_modules=tuple(target_modules))
        self.feature_dtype = check_feature_dtype(feature_dtype)
        self.loss_tokens = cast("LossTokens | None", loss_tokens)  # one of LOSS_TOKENS: checked above
        self._loss_tokens: LossTokens | None = None  # resolved from the tokenizer (see resolved_loss_tokens)
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

    def resolved_loss_tokens(self) -> LossTokens:
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
            self._digests[key] = sha256_file(f)[:16] if f.is_file() else "none"
        return self._digests[key]

    def spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        ckpt = self.checkpoint
        kind = self.gradient_type(role)
        if kind == "adam" and ckpt is None:
            raise ConfigurationError(
                "adam gradient features need a warmup checkpoint with optimizer state: run `targetsel warmup` "
                "and pass --checkpoints, or use candidate_gradient=sgd"
            )
        from targetsel.chat import LOSS_TOKENS_REVISION
        from targetsel.train.checkpoints import checkpoint_epoch

        loss_tokens = self.resolved_loss_tokens()
        params: dict[str, Any] = {
            "gradient_type": kind,
            "loss_on": "all_assistant" if role == "candidate" else "last_assistant",
            "loss_tokens": loss_tokens,
            "max_length": self.max_length,
            "method": self.method,
            **self._projector.params(),
        }
        if loss_tokens in LOSS_TOKENS_REVISION:  # a store of an earlier rule is then a mismatch, not reused
            params["loss_tokens_revision"] = LOSS_TOKENS_REVISION[loss_tokens]
        if ckpt is None:
            lora = self.lora
            params["fresh_lora"] = {"r": lora.lora_r, "alpha": lora.lora_alpha, "targets": list(lora.target_modules)}
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
            from targetsel.train.core import build_lora_model

            lm, tok = load_model_and_tokenizer(self.model, dtype=self.dtype, device=self.device)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                lm = build_lora_model(lm, self.lora)
        else:
            lm, tok = load_model_and_tokenizer(self.model, dtype=self.dtype, device=self.device, adapter=ckpt)
        lm.eval()  # dropout off: features must be deterministic
        loaded = _Loaded(lm, tok, None)
        if need_moments:
            from targetsel.train.checkpoints import load_adam_moments

            moments = load_adam_moments(ckpt, {n: p for n, p in loaded.params.items()})  # type: ignore[arg-type]  # adam needs a checkpoint: gradient_type
            loaded.moments = {n: (m.to(loaded.device), v.to(loaded.device)) for n, (m, v) in moments.items()}
        self._loaded, self._loaded_key = loaded, key
        return loaded

    # ------------------------------------------------------------------ encoding
    def _tokenize(self, tok: Any, examples: ExampleSet, start: int, stop: int, role: Role) -> list[dict[str, Any]]:
        from targetsel.chat import IGNORE_INDEX, tokenize_example

        loss_on: LossOn = "all_assistant" if role == "candidate" else "last_assistant"
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
        """Plain definition: batch of one, one backward pass per example (:func:`exact_features`)."""
        if loaded.device.type == "cpu":
            self._cpu_batch(loaded, encs, 1)
        return exact_features(loaded, encs, kind, self._projector, self.dim)

    def _cpu_batch(self, loaded: _Loaded, encs: list[dict[str, Any]], requested: int | None) -> int:
        """The CPU batch size for ``encs`` (``requested`` checked, or ``auto``'s choice) from the
        predicted memory of their longest example; see :func:`cpu_batch_size`."""
        from targetsel.chat import IGNORE_INDEX
        from targetsel.represent.gradient.memory import cpu_batch_size

        lm = loaded.lm
        peft = next(iter((getattr(lm, "peft_config", None) or {}).values()), None)
        lora = self.lora
        if peft is not None:  # the loaded adapter's own settings
            targets = getattr(peft, "target_modules", None)
            lora = LoraSettings(
                lora_r=int(peft.r),
                lora_alpha=float(peft.lora_alpha),
                lora_dropout=float(peft.lora_dropout),
                target_modules=tuple(sorted(targets))
                if isinstance(targets, (set, list, tuple))
                else lora.target_modules,
            )
        seq = -(-max(len(e["input_ids"]) for e in encs) // 32) * 32  # rounded up: fewer distinct plans
        loss = max(sum(1 for lab in e["labels"][1:] if lab != IGNORE_INDEX) for e in encs)
        try:
            return cpu_batch_size(
                lm.get_base_model().config if hasattr(lm, "get_base_model") else lm.config,  # type: ignore[operator]  # torch types Module attributes as Tensor | Module
                seq_len=seq,
                loss_tokens=min(seq, loss),
                requested=requested,
                largest=AUTO_START_CPU if requested is None else requested,
                cache=self._plans,
                dtype=str(next(lm.parameters()).dtype).removeprefix("torch."),
                lora=lora,
                dim=self.dim,
            )
        except ConfigurationError:
            raise
        except Exception as exc:  # a model the meta-device plan cannot run: the requested size, unchecked
            logger.warning("cannot predict the CPU memory of this model (%s); batch size not checked", exc)
            return requested or AUTO_START_CPU

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
        if loaded.device.type == "cpu" and encs:
            # no out-of-memory exception to wait for on the CPU (the kernel kills the process): the
            # batch is sized from its predicted memory first; a size an allocation failure taught
            # (``DefaultCPUAllocator: can't allocate memory``, halved below) is kept when smaller
            fit = self._cpu_batch(loaded, encs, None if self.batch_size == "auto" else int(self.batch_size))
            if self.batch_size == "auto":
                self._auto_batch = min(self._auto_batch or fit, fit)
        if self.batch_size != "auto":
            self._fast_batches(loaded, encs, kind, order, out, RowsDone(), int(self.batch_size))
            return out
        from accelerate.utils import find_executable_batch_size
        from accelerate.utils.memory import clear_device_cache, should_reduce_batch_size

        done = RowsDone()
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

        @find_executable_batch_size(starting_batch_size=start, reduce_batch_size_fn=halve)  # type: ignore[untyped-decorator]  # accelerate is untyped
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
        done: RowsDone,
        batch_size: int,
    ) -> None:
        """Encode ``order[done.rows:]`` in batches of ``batch_size`` into ``out`` (:func:`fast_features`).

        ``done.rows`` advances after every batch, so after an out-of-memory error the caller resumes
        at the first unfinished batch with a smaller size; batches already written stay written.
        """

        def written(n: int) -> None:
            done.rows += n
            advance_rows(n)

        fast_features(loaded, encs, kind, order[done.rows :], out, batch_size, self._projector, written)

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
    ) -> ViewSet:
        """One view per checkpoint, weighted by the checkpoints' normalised mean learning rates."""
        if len(self.checkpoints) <= 1:
            return super().encode_for_scoring(
                examples, role=role, store_dir=store_dir, overwrite=overwrite, shard_size=shard_size
            )
        sources: list[FeatureSource] = []
        for ckpt in self.checkpoints:
            rep = self.for_checkpoint(ckpt)
            one = Representation.encode_for_scoring(
                rep, examples, role=role, store_dir=store_dir, overwrite=overwrite, shard_size=shard_size
            )
            sources.extend(one.sources)
            rep.release()
        return ViewSet(tuple(sources), tuple(self.checkpoint_weights()))
