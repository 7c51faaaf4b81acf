"""Planners of the causal-LM representations: ``gradient`` (LESS: LoRA warmup, then projected
gradients per checkpoint) and ``hidden`` (RDS+: pooled hidden states).

Both tokenise the pool with the model's own tokenizer and chat formatting, read the model's
shapes from its config on the ``meta`` device, and count FLOPs with :mod:`targetsel.plan.costs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.lora import LESS_LORA, LoraSettings
from targetsel.plan import costs
from targetsel.plan.calibrate import calibration, uncalibrated_rate
from targetsel.plan.measure import count_tokens
from targetsel.plan.request import PlanRequest, modelled
from targetsel.plan.stages import PLAN_DEFAULTS, Plan, Stage, Work, finish_plan, gpu_time

if TYPE_CHECKING:
    from targetsel.chat import LossOn, LossTokens

__all__ = ["plan_gradient", "plan_hidden"]

#: The model both LM representations plan for when none is named.
DEFAULT_LM = "smollm2-135m"


def _lm_setup(model: str, lora: LoraSettings) -> tuple[Any, Any, costs.ModelShapes]:
    from transformers import AutoConfig

    from targetsel.models import load_tokenizer, model_load_error, resolve_model_path

    path = resolve_model_path(model)
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise model_load_error(model, "the config", exc) from exc
    return config, load_tokenizer(model), costs.model_shapes(config, lora=lora)


def _lm_cost(
    shapes: costs.ModelShapes, kind: str, *, batch_size: int, shard_size: int
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Per-row FLOPs of ``kind`` (gradient: forward + backward to the loss tokens; else a forward)."""

    def cost_of(lengths: np.ndarray, losses: np.ndarray) -> np.ndarray:
        padded = costs.padded_lengths(lengths, batch_size=batch_size, shard_size=shard_size)
        if kind == "gradient":
            raw = costs.gradient_flops(shapes, padded, losses)
        else:
            raw = costs.forward_flops(shapes, padded)
        return np.asarray(raw, dtype=np.float64)

    return cost_of


def _lm_work(
    examples: ExampleSet,
    tok: Any,
    cost_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    role: str,
    loss_tokens: LossTokens,
    max_length: int,
) -> Work:
    loss_on: LossOn = "all_assistant" if role == "candidate" else "last_assistant"
    lengths, losses = count_tokens(
        examples, tok, max_length=max_length, loss_on=loss_on, loss_tokens=loss_tokens, desc=f"count tokens ({role})"
    )
    flops = cost_of(lengths, losses)
    return Work(lengths, losses, flops, flops)


def _lm_works(
    pool: ExampleSet,
    query: ExampleSet | None,
    tok: Any,
    cost_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    loss_tokens: LossTokens,
    max_length: int,
) -> tuple[Work, Work | None]:
    """The workloads of the pool and of the query set (``None`` without one)."""
    work = _lm_work(pool, tok, cost_of, role="candidate", loss_tokens=loss_tokens, max_length=max_length)
    if query is None:
        return work, None
    return work, _lm_work(query, tok, cost_of, role="query", loss_tokens=loss_tokens, max_length=max_length)


def _planned_peak(plan_memory: Any, config: Any, mem: dict[str, Any], dtype: str) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecation notices of transformers internals
        return int(plan_memory(config, dtype=dtype, **mem)["peak"])


def _gradient_rep(model: str, params: dict[str, Any]) -> Any:
    """The gradient representation as the encode will run it (``params`` given, the plan's defaults
    for the rest), on the CPU and with a fresh adapter (for the calibration)."""
    from targetsel.represent.gradient import GradientRepresentation

    given = {k: v for k, v in params.items() if k in plan_gradient.modelled}
    return GradientRepresentation(model, candidate_gradient="sgd", device="cpu", **{**PLAN_DEFAULTS, **given})


def _encode_peaks(config: Any, work: Work, dim: int, lora: LoraSettings, settings: dict[str, Any]) -> tuple[int, int]:
    """``(peak VRAM in bfloat16, peak RAM in float32)`` of the gradient encode's longest batch."""
    from targetsel.represent.gradient import plan_memory

    batch_size = settings["batch_size"]
    seq = int(costs.padded_lengths(work.lengths, batch_size=batch_size, shard_size=settings["shard_size"]).max())
    mem = {
        "batch_size": batch_size,
        "seq_len": seq,
        "loss_tokens": int(work.losses.max()),
        "lora": lora,
        "dim": dim,
    }
    return _planned_peak(plan_memory, config, mem, "bfloat16"), _planned_peak(plan_memory, config, mem, "float32")


def _warmup_stage(
    pool: ExampleSet,
    work: Work,
    shapes: costs.ModelShapes,
    config: Any,
    *,
    cal: dict[str, Any],
    thr: dict[str, Any],
    checkpoints: int,
    lora: LoraSettings,
    settings: dict[str, Any],
) -> Stage:
    """LoRA training (batch of one per device, every position through the LM head) on a seeded fraction."""
    from targetsel.represent.gradient import plan_memory
    from targetsel.train.core import warmup_indices

    fraction = settings["warmup_fraction"]
    rows = warmup_indices(len(pool), fraction, seed=0)
    wtok = int(work.lengths[rows].sum())
    wflops = checkpoints * float(np.sum(costs.training_flops(shapes, work.lengths[rows])))
    wmax = int(work.lengths[rows].max())
    wmem = {"batch_size": 1, "seq_len": wmax, "loss_tokens": wmax, "lora": lora, "dim": 1}
    gh, gw = gpu_time(wflops, thr, settings["gpus"])
    return Stage(
        "warmup",
        len(rows),
        checkpoints * wtok,
        wflops,
        0,
        _planned_peak(plan_memory, config, wmem, "float32"),
        _planned_peak(plan_memory, config, wmem, "bfloat16"),
        cal["load_seconds"] + wflops / cal["rate"],
        gh,
        gw,
        f"{checkpoints} epoch(s) on {len(rows)} rows ({fraction:g} of the pool); time at the encode's rate",
    )


# The parameters each plan models (the others do not change the figures it gives).
@modelled("dim", "batch_size", "max_length", "feature_dtype", "loss_tokens", "lora_r", "lora_alpha", "target_modules")
def plan_gradient(pool: ExampleSet, query: ExampleSet | None, request: PlanRequest, thr: dict[str, Any]) -> Plan:
    """The LESS plan: warmup, then encode and score once per checkpoint.

    ``params`` are the gradient representation's (those in ``modelled``); the LoRA
    adapter is :class:`~targetsel.lora.LoraSettings` of them.
    """
    model, params, checkpoints = request.model or DEFAULT_LM, request.params, request.checkpoints
    shard_size, gpus, warmup_fraction = request.shard_size, request.gpus, request.warmup_fraction
    lora = LoraSettings.pick(params)
    config, tok, shapes = _lm_setup(model, lora)
    loss_tokens: LossTokens = params.get("loss_tokens") or (
        "assistant" if getattr(tok, "chat_template", None) else "less"
    )
    rep = _gradient_rep(model, {**params, "loss_tokens": loss_tokens})
    batch_size, max_length, dim = rep.batch_size, rep.max_length, rep.dim
    settings = {
        "batch_size": batch_size,
        "max_length": max_length,
        "shard_size": shard_size,
        "lora_r": lora.lora_r,
        "lora_alpha": lora.lora_alpha,
        "warmup_fraction": warmup_fraction,
        "loss_tokens": loss_tokens,
        "gpus": gpus,
    }
    cost_of = _lm_cost(shapes, "gradient", batch_size=batch_size, shard_size=shard_size)
    work, qwork = _lm_works(pool, query, tok, cost_of, loss_tokens=loss_tokens, max_length=max_length)
    fallback = uncalibrated_rate(shapes.hidden)
    cal = calibration(
        rep, pool, work, request.calibrate, batch_size=batch_size, fallback_rate=fallback, unit="FLOP", cost_of=cost_of
    )
    vram, ram = _encode_peaks(config, work, dim, lora, settings)
    warm = _warmup_stage(
        pool, work, shapes, config, cal=cal, thr=thr, checkpoints=checkpoints, lora=lora, settings=settings
    )
    return finish_plan(
        "gradient",
        model,
        pool,
        work,
        qwork,
        params=shapes.params,
        lora_params=shapes.lora_params,
        dim=dim,
        views=checkpoints,
        cal=cal,
        thr=thr,
        vram=vram,
        ram=ram,
        warmup=warm,
        settings=settings,
        feature_dtype=rep.feature_dtype,
        request=request,
    )


@modelled("batch_size", "max_length", "feature_dtype")
def plan_hidden(pool: ExampleSet, query: ExampleSet | None, request: PlanRequest, thr: dict[str, Any]) -> Plan:
    """The RDS+ plan: one forward pass per row, then score and select."""
    from targetsel.represent.hidden import HiddenRepresentation

    model, shard_size, gpus = request.model or DEFAULT_LM, request.shard_size, request.gpus
    given = {k: v for k, v in request.params.items() if k in plan_hidden.modelled}
    rep = HiddenRepresentation(model, device="cpu", **{**PLAN_DEFAULTS, **given})
    batch_size, max_length = rep.batch_size, rep.max_length
    config, tok, shapes = _lm_setup(model, LESS_LORA)
    cost_of = _lm_cost(shapes, "hidden", batch_size=batch_size, shard_size=shard_size)
    work, qwork = _lm_works(pool, query, tok, cost_of, loss_tokens="assistant", max_length=max_length)
    fallback = uncalibrated_rate(shapes.hidden)
    cal = calibration(
        rep, pool, work, request.calibrate, batch_size=batch_size, fallback_rate=fallback, unit="FLOP", cost_of=cost_of
    )
    seq = int(work.lengths.max())
    inter = int(getattr(config, "intermediate_size", 4 * shapes.hidden))
    act = 4 * batch_size * seq * max(inter, shapes.hidden)  # one layer's widest activations, a few copies
    settings = {"batch_size": batch_size, "max_length": max_length, "shard_size": shard_size, "gpus": gpus}
    return finish_plan(
        "hidden",
        model,
        pool,
        work,
        qwork,
        params=shapes.params,
        lora_params=0,
        dim=shapes.hidden,
        views=1,
        cal=cal,
        thr=thr,
        vram=2 * shapes.params + 2 * act,
        ram=4 * shapes.params + 4 * act,
        warmup=None,
        settings=settings,
        feature_dtype=rep.feature_dtype,
        request=request,
    )
