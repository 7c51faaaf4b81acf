"""Reading warmup checkpoints: optimizer moments by parameter name, learning-rate weights.

A checkpoint written by :func:`targetsel.train.train_model` is a directory
``checkpoint-epoch-E`` holding the peft adapter, ``optimizer.pt`` (AdamW state, keyed by
parameter index), ``trainer_state.json`` (with the learning rate of every step) and
``param_names.json`` (parameter name of every optimizer index, written at save time so the
moments can be matched to parameters by name).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from targetsel.errors import ArtifactMismatchError, IncompleteArtifactError, InvalidDataError, MissingArtifactError

__all__ = [
    "PARAM_NAMES_FILE",
    "canonical_param_name",
    "checkpoint_epoch",
    "checkpoint_lr_weights",
    "epoch_mean_learning_rates",
    "find_checkpoints",
    "load_adam_moments",
]

PARAM_NAMES_FILE = "param_names.json"
_EPOCH_RE = re.compile(r"checkpoint-epoch-(\d+)$")


def canonical_param_name(name: str) -> str:
    """Strip wrapper prefixes so names from peft, DDP and the base model compare equal.

    Example:
        >>> canonical_param_name("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight")
        'model.layers.0.self_attn.q_proj.lora_A.weight'
    """
    for prefix in ("module.", "base_model.model."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.replace(".default.", ".")


def find_checkpoints(path: str | os.PathLike[str]) -> list[Path]:
    """``checkpoint-epoch-E`` directories under ``path`` (or ``path`` itself), in epoch order.

    Example:
        >>> find_checkpoints("warmup/")  # doctest: +SKIP
        [PosixPath('warmup/checkpoint-epoch-1'), PosixPath('warmup/checkpoint-epoch-2')]
    """
    path = Path(path)
    if (path / "adapter_config.json").is_file():
        return [path]
    found = sorted(
        (p for p in path.glob("checkpoint-epoch-*") if p.is_dir() and _EPOCH_RE.search(p.name)),
        key=lambda p: int(_EPOCH_RE.search(p.name).group(1)),  # type: ignore[union-attr]  # matched: filtered above
    )
    if not found:
        raise MissingArtifactError(f"no warmup checkpoints (checkpoint-epoch-E) in {path}; run `targetsel warmup`")
    return found


def checkpoint_epoch(path: str | os.PathLike[str]) -> int | None:
    """Epoch number of a ``checkpoint-epoch-E`` directory, else ``None``."""
    m = _EPOCH_RE.search(Path(path).name)
    return int(m.group(1)) if m else None


def _trainer_state(path: Path) -> dict[str, Any]:
    p = path / "trainer_state.json"
    if not p.is_file():
        raise MissingArtifactError(f"{p} is missing: learning-rate weights need the trainer state of each checkpoint")
    try:
        state: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidDataError(f"cannot read {p}: {exc}") from exc
    return state


def epoch_mean_learning_rates(trainer_state: dict[str, Any]) -> dict[int, float]:
    """Mean logged learning rate of each (1-based) epoch in a trainer state's ``log_history``.

    A log entry at fractional epoch ``x`` belongs to epoch ``ceil(x)``.

    Example:
        >>> epoch_mean_learning_rates({"log_history": [{"epoch": 0.5, "learning_rate": 2.0},
        ...     {"epoch": 1.0, "learning_rate": 1.0}, {"epoch": 2.0, "learning_rate": 0.5}]})
        {1: 1.5, 2: 0.5}
    """
    sums: dict[int, list[float]] = {}
    for entry in trainer_state.get("log_history", []):
        if "learning_rate" in entry and "epoch" in entry:
            e = max(1, math.ceil(float(entry["epoch"]) - 1e-6))
            sums.setdefault(e, []).append(float(entry["learning_rate"]))
    return {e: sum(v) / len(v) for e, v in sorted(sums.items())}


def checkpoint_lr_weights(checkpoints: Sequence[str | os.PathLike[str]]) -> list[float]:
    """LESS checkpoint weights: each checkpoint's epoch mean learning rate, normalised to sum 1.

    The epoch of a checkpoint is its ``checkpoint-epoch-E`` name or the ``epoch`` of its trainer
    state; the learning rates come from the latest trainer state among the checkpoints.

    Raises:
        MissingArtifactError: a checkpoint lacks ``trainer_state.json``.
        InvalidDataError: no learning rate was logged for a checkpoint's epoch.
    """
    paths = [Path(c) for c in checkpoints]
    states = [_trainer_state(p) for p in paths]
    latest = max(states, key=lambda s: float(s.get("epoch") or 0))
    rates = epoch_mean_learning_rates(latest)
    means = []
    for p, st in zip(paths, states, strict=True):
        e = checkpoint_epoch(p) or max(1, math.ceil(float(st.get("epoch") or 0) - 1e-6))
        if e not in rates:
            rates_here = epoch_mean_learning_rates(st)
            if e not in rates_here:
                raise InvalidDataError(f"no learning rate logged for epoch {e} in {p / 'trainer_state.json'}")
            rates[e] = rates_here[e]
        means.append(rates[e])
    total = sum(means)
    if total <= 0:
        return [1.0 / len(means)] * len(means)
    return [m / total for m in means]


def load_adam_moments(checkpoint: str | os.PathLike[str], params: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """AdamW first and second moments of a checkpoint, keyed by (canonical) parameter name.

    Args:
        checkpoint: Checkpoint directory with ``optimizer.pt`` (and ``param_names.json``).
        params: Canonical parameter name → tensor, for every parameter whose moments are needed
            (the trainable LoRA parameters of the loaded model).

    Returns:
        name → ``(exp_avg, exp_avg_sq)``, float32 tensors shaped like the parameter.

    Raises:
        MissingArtifactError: no ``optimizer.pt``.
        ArtifactMismatchError: the optimizer state does not cover exactly ``params`` with the
            same shapes (a checkpoint of another model, rank or target modules).
    """
    import torch

    ckpt = Path(checkpoint)
    opt_path = ckpt / "optimizer.pt"
    if not opt_path.is_file():
        raise MissingArtifactError(
            f"{opt_path} is missing: Adam gradient features need the optimizer state saved with the checkpoint "
            "(use gradient type sgd, or re-run `targetsel warmup`)"
        )
    try:
        state = torch.load(opt_path, map_location="cpu", weights_only=True)
        index_order = [i for g in state["param_groups"] for i in g["params"]]
    except Exception as exc:  # truncated or foreign file: torch raises pickle, runtime or key errors
        raise IncompleteArtifactError(
            f"cannot read the optimizer state {opt_path} ({type(exc).__name__}); the checkpoint is incomplete or "
            "corrupt: re-run `targetsel warmup` (or use gradient type sgd)"
        ) from exc
    names_file = ckpt / PARAM_NAMES_FILE
    if names_file.is_file():
        names = [canonical_param_name(n) for n in json.loads(names_file.read_text(encoding="utf-8"))]
    else:
        # A checkpoint from another tool: the Trainer puts decayed parameters first, then the rest,
        # each in module order. That is our sorted-by-model-order list when no names are saved.
        names = list(params)
    if len(names) != len(index_order):
        raise ArtifactMismatchError(
            f"optimizer state in {ckpt} has {len(index_order)} parameters but {len(names)} names; "
            "the checkpoint is corrupt or from another model"
        )
    missing = sorted(set(params) - set(names))
    extra = sorted(set(names) - set(params))
    if missing or extra:
        raise ArtifactMismatchError(
            f"optimizer state in {ckpt} does not match the model's LoRA parameters: "
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} unexpected (e.g. {extra[:2]}); "
            "use the base model and LoRA settings the checkpoint was trained with"
        )
    out: dict[str, tuple[Any, Any]] = {}
    for name, idx in zip(names, index_order, strict=True):
        st = state["state"].get(idx) if idx in state["state"] else state["state"].get(str(idx))
        if st is None or "exp_avg" not in st or "exp_avg_sq" not in st:
            raise ArtifactMismatchError(f"optimizer state in {ckpt} has no Adam moments for {name}")
        m, v = st["exp_avg"].float(), st["exp_avg_sq"].float()
        shape = tuple(params[name].shape)
        if tuple(m.shape) != shape or tuple(v.shape) != shape:
            raise ArtifactMismatchError(
                f"optimizer moments for {name} in {ckpt} have shape {tuple(m.shape)}, the parameter has {shape}"
            )
        out[name] = (m, v)
    return out
