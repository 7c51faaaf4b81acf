"""Planners of the representations that encode text without a causal LM: ``embed`` (a
sentence-transformer, bidirectional attention) and ``lexical`` (hashed word n-grams, on the CPU)."""

from __future__ import annotations

from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.plan import costs
from targetsel.plan.calibrate import calibration, uncalibrated_rate
from targetsel.plan.measure import count_text_tokens
from targetsel.plan.request import PlanRequest, modelled
from targetsel.plan.stages import Plan, Work, finish_plan

__all__ = ["plan_embed", "plan_lexical"]


# ``embed`` takes ``dtype`` as another name of ``feature_dtype``.
@modelled("batch_size", "max_seq_length", "text_turns", "feature_dtype", "dtype")
def plan_embed(pool: ExampleSet, query: ExampleSet | None, request: PlanRequest, thr: dict[str, Any]) -> Plan:
    """The plan of a sentence-transformer encode, score and select (parameters in ``modelled``;
    batch size and maximum length the representation's unless given)."""
    import torch

    from targetsel.represent.embed import DEFAULT_EMBED_MODEL, EmbedRepresentation

    shard_size, gpus, calibrate = request.shard_size, request.gpus, request.calibrate
    given = {k: v for k, v in request.params.items() if k in plan_embed.modelled}
    rep = EmbedRepresentation(request.model or DEFAULT_EMBED_MODEL, **given)
    st = rep._load()
    batch = rep.batch_size
    auto = st[0].auto_model
    params = sum(p.numel() for p in st.parameters())
    linear = sum(m.weight.numel() for m in st.modules() if isinstance(m, torch.nn.Linear))
    cfg = auto.config
    shapes = costs.ModelShapes(params, linear, 0, int(cfg.hidden_size), int(cfg.num_hidden_layers), 0)
    max_len = int(st.max_seq_length)

    def cost_of(lengths: np.ndarray, losses: np.ndarray) -> np.ndarray:
        padded = costs.padded_lengths(lengths, batch_size=batch, shard_size=shard_size)
        # bidirectional attention: the full T², twice the causal forward
        return 2.0 * np.asarray(costs.forward_flops(shapes, padded), dtype=np.float64)

    def work_of(examples: ExampleSet) -> Work:
        lengths = count_text_tokens(examples, st.tokenizer, max_length=max_len, turns=rep.text_turns)
        losses = np.zeros_like(lengths)
        flops = cost_of(lengths, losses)
        return Work(lengths, losses, flops, flops)

    work = work_of(pool)
    qwork = work_of(query) if query is not None else None
    fallback = uncalibrated_rate(shapes.hidden)
    cal = calibration(
        rep, pool, work, calibrate, batch_size=batch, fallback_rate=fallback, unit="FLOP", cost_of=cost_of
    )
    act = 4 * batch * max_len * 4 * shapes.hidden
    settings = {"batch_size": batch, "max_seq_length": max_len, "shard_size": shard_size, "gpus": gpus}
    return finish_plan(
        "embed",
        rep.model,
        pool,
        work,
        qwork,
        params=params,
        lora_params=0,
        dim=rep.dim,
        views=1,
        cal=cal,
        thr=thr,
        vram=2 * params + 2 * act,
        ram=4 * params + 4 * act,
        warmup=None,
        settings=settings,
        feature_dtype=rep.dtype,
        request=request,
    )


@modelled("dim", "ngram", "text_turns", "feature_dtype")
def plan_lexical(pool: ExampleSet, query: ExampleSet | None, request: PlanRequest, thr: dict[str, Any]) -> Plan:
    """The plan of a hashed n-gram encode (cost in words, on the CPU), score and select
    (parameters in ``modelled``)."""
    from targetsel.represent.lexical import LexicalRepresentation

    shard_size, calibrate = request.shard_size, request.calibrate
    rep = LexicalRepresentation(**{k: v for k, v in request.params.items() if k in plan_lexical.modelled})

    def work_of(examples: ExampleSet) -> Work:
        words = count_text_tokens(examples, None, max_length=None, turns=rep.text_turns)
        return Work(words, np.zeros_like(words), words.astype(np.float64), np.zeros(len(words)))

    work = work_of(pool)
    qwork = work_of(query) if query is not None else None
    cal = calibration(
        rep,
        pool,
        work,
        max(calibrate, 1) if calibrate else 0,
        batch_size=1,
        fallback_rate=1e6,
        unit="word",
        cost_of=lambda lengths, losses: lengths.astype(np.float64),
    )
    if calibrate == 0:
        cal["source"] = "not calibrated: 1M words/s assumed"
    settings = {"shard_size": shard_size, "ngram": rep.ngram}
    return finish_plan(
        "lexical",
        None,
        pool,
        work,
        qwork,
        params=0,
        lora_params=0,
        dim=rep.dim,
        views=1,
        cal=cal,
        thr=thr,
        vram=None,
        ram=8 * rep.dim * min(len(pool), shard_size),
        warmup=None,
        settings=settings,
        feature_dtype=rep.feature_dtype,
        request=request,
    )
