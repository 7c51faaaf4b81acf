"""Benchmark: LESS gradient features, the LESS procedure (TRAK BasicProjector) vs our exact and fast paths.

All three run in one process on the same model and data:

* a tiny Llama built from a config (default: hidden 64, 2 layers, like the test fixture;
  ``--hidden``/``--layers`` for larger ones), vocabulary 1024 from a small BPE trained on the
  bundled demo pool, LoRA r=128 / alpha=512 on q/k/v/o (as LESS), briefly warmed up (30 AdamW
  steps); the Adam moments are those of that warmup;
* examples (32 candidates + 16 queries; ``--quick``: 16 + 8): multi-turn conversations of
  demo-pool rows of one family, truncated to 256 tokens (queries from two families; half the
  candidates from those, half from the eight others), loss on assistant tokens;
* d = 8192.

(a) ``less``: the LESS procedure without its CUDA kernel — batch of 1, one backward per example,
    flattened LoRA gradient, Adam transform, and every 16 examples (LESS's project_interval) a
    projection with TRAK's ``BasicProjector`` (Rademacher, block size 128, float32 on CPU), which
    regenerates its dense ``(n_params × 8192)`` matrix block by block on every call.
(b) ``exact``: our exact path (batch of 1, one backward per example) with our default projector.
(c) ``fast``: our default path (batched per-example gradients from layer hooks, sparse JL projection).

Prints examples/s, the ratios (c)/(a) and (c)/(b), peak memory above the starting RSS for each, and
the Pearson correlation between the query × candidate cosine matrices of (a) and (c) (also of each
against the unprojected gradients). The last line is JSON with ``speedup_vs_less``,
``speedup_vs_exact`` and ``similarity_pearson``.

Needs the bench extra ``traker`` (``pip install traker``; it is used only here, as the baseline).

Usage: ``python bench/gradient_bench.py [--quick] [--hidden 64] [--layers 2] [--threads 1]
[--less-project-interval 16]`` (defaults: the test fixture's tiny Llama shape, 32 candidates + 16
queries, single-threaded, LESS's projection interval of 16 gradients).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

import numpy as np
import torch

from targetsel.chat import tokenize_example
from targetsel.data import load_pool
from targetsel.demo import demo_pool_path
from targetsel.represent.gradient import GradientRepresentation, adam_direction
from targetsel.represent.gradient.engine import _Loaded
from targetsel.train.checkpoints import canonical_param_name
from targetsel.train.config import TrainConfig
from targetsel.train.core import build_lora_model

DIM = 8192
SEQ = 256
LESS_PROJECT_INTERVAL = 16
LESS_BLOCK_SIZE = 128


class PeakRSS:
    """Peak resident memory (bytes) above the level at entry, sampled every 5 ms."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_tokenizer(vocab_size: int = 1024) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    pool = load_pool(demo_pool_path())
    texts = [m["content"] for msgs in pool.iter_messages() for m in msgs]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def build_examples(tok: Any, n_cand: int, n_query: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Multi-turn conversations of same-family demo rows, truncated to SEQ tokens."""
    pool = load_pool(demo_pool_path())
    sources = pool.column("source")
    fams = sorted(set(sources))
    by_fam = {f: [i for i, s in enumerate(sources) if s == f] for f in fams}
    rng = np.random.default_rng(seed)

    def conv(fam: str, role_loss: str) -> dict:
        msgs: list[dict] = []
        for i in rng.choice(by_fam[fam], size=12, replace=False):
            msgs.extend(pool.messages(int(i)))
        enc = tokenize_example(tok, msgs, max_length=SEQ, loss_on=role_loss)
        return enc

    q_fams = [f for f in ("arithmetic_word_problems", "date_reasoning") if f in by_fam] or fams[:2]
    others = [f for f in fams if f not in q_fams]
    # a pool with relevant (query-family) and irrelevant candidates, half and half
    cand_fams = [q_fams[k % 2] if k % 2 == 0 else others[(k // 2) % len(others)] for k in range(n_cand)]
    cands = [conv(f, "all_assistant") for f in cand_fams]
    queries = [conv(q_fams[k % len(q_fams)], "last_assistant") for k in range(n_query)]
    return cands, queries


def build_model(tok: Any, hidden: int, layers: int) -> tuple[Any, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 8 // 3,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 32),
        num_key_value_heads=max(1, hidden // 32),
        max_position_embeddings=SEQ,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    lm = build_lora_model(LlamaForCausalLM(cfg), TrainConfig(lora_r=128, lora_alpha=512.0, lora_dropout=0.1))
    lm.eval()
    return lm, {}


def warmup_train(lm: Any, encs: list[dict], steps: int, batch: int = 8) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """A short real LoRA warmup (AdamW, lr 1e-3, dropout on) on ``encs``; returns the Adam moments by name."""
    from targetsel.chat import ChatCollator

    params = {canonical_param_name(n): p for n, p in lm.named_parameters() if "lora_" in n}
    opt = torch.optim.AdamW(list(params.values()), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    collate = ChatCollator(0)
    rng = np.random.default_rng(0)
    lm.train()
    for _ in range(steps):
        b = collate([encs[int(i)] for i in rng.choice(len(encs), size=batch, replace=False)])
        loss = lm(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    lm.eval()
    return {n: (opt.state[p]["exp_avg"].clone(), opt.state[p]["exp_avg_sq"].clone()) for n, p in params.items()}


def less_baseline(lm: Any, encs: list[dict], moments: dict | None, names: list[str], interval: int) -> np.ndarray:
    """LESS collect_grads without the CUDA kernel: batch of 1, flatten, Adam, BasicProjector every ``interval``."""
    from trak.projectors import BasicProjector, ProjectionType

    params = {canonical_param_name(n): p for n, p in lm.named_parameters() if "lora_" in n}
    ordered = [params[n] for n in names]
    n_params = sum(p.numel() for p in ordered)
    if moments is not None:
        m_flat = torch.cat([moments[n][0].reshape(-1) for n in names])
        v_flat = torch.cat([moments[n][1].reshape(-1) for n in names])
    projector = BasicProjector(
        grad_dim=n_params,
        proj_dim=DIM,
        seed=0,
        proj_type=ProjectionType.rademacher,
        device=torch.device("cpu"),
        dtype=torch.float32,
        block_size=LESS_BLOCK_SIZE,
    )
    out, pending = [], []
    for enc in encs:
        ids = torch.tensor([enc["input_ids"]])
        labels = torch.tensor([enc["labels"]])
        loss = lm(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        grads = torch.autograd.grad(loss, ordered)
        g = torch.cat([x.reshape(-1) for x in grads])
        if moments is not None:
            g = adam_direction(g, m_flat, v_flat)
        pending.append(g)
        if len(pending) == interval:
            out.append(projector.project(torch.stack(pending), model_id=0))
            pending = []
    if pending:
        out.append(projector.project(torch.stack(pending), model_id=0))
    return torch.cat(out).numpy()


def true_features(lm: Any, encs: list[dict], moments: dict | None, names: list[str]) -> np.ndarray:
    """Unprojected (transformed) gradients, for reference similarities."""
    params = {canonical_param_name(n): p for n, p in lm.named_parameters() if "lora_" in n}
    rows = []
    for enc in encs:
        ids = torch.tensor([enc["input_ids"]])
        loss = lm(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([enc["labels"]])).loss
        grads = torch.autograd.grad(loss, [params[n] for n in names])
        parts = []
        for n, g in zip(names, grads, strict=True):
            parts.append((adam_direction(g, *moments[n]) if moments is not None else g).reshape(-1))
        rows.append(torch.cat(parts))
    return torch.stack(rows).numpy()


def cosine_matrix(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    return q @ c.T


def timed(fn: Any) -> tuple[Any, float, float]:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
    return out, dt, mem.delta_mib


def main() -> None:
    global SEQ
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="16 candidates + 8 queries (not 32 + 16)")
    ap.add_argument("--hidden", type=int, default=64, help="model width (default 64, the test fixture's)")
    ap.add_argument("--layers", type=int, default=2, help="decoder layers")
    ap.add_argument("--warmup-steps", type=int, default=30, help="LoRA warmup steps before taking features")
    ap.add_argument(
        "--less-project-interval",
        type=int,
        default=LESS_PROJECT_INTERVAL,
        help="gradients per BasicProjector call in the baseline (16 in LESS's collect_grads; 1 = every example)",
    )
    ap.add_argument("--seq", type=int, default=SEQ, help="tokens per example (truncation length; default 256)")
    ap.add_argument("--candidates", type=int, default=None, help="override the number of candidates")
    ap.add_argument("--queries", type=int, default=None, help="override the number of queries")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared, loaded CPU, multi-threaded small ops measure scheduler "
        "waits, not the methods; 0 = torch's choice)",
    )
    ap.add_argument("--batch-size", type=int, default=16, help="fast path batch size")
    args = ap.parse_args()
    SEQ = args.seq
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden, layers = args.hidden, args.layers
    n_cand, n_query = (16, 8) if args.quick else (32, 16)
    n_cand, n_query = args.candidates or n_cand, args.queries or n_query

    tok = build_tokenizer()
    lm, _ = build_model(tok, hidden, layers)
    cands, queries = build_examples(tok, n_cand, n_query)
    warm, _ = build_examples(tok, 64, 0, seed=1)
    moments = warmup_train(lm, warm, args.warmup_steps)
    loaded = _Loaded(lm, tok, moments)
    names = [n for n, _ in loaded.linears]
    n_params = sum(p.numel() for p in loaded.params.values())
    n_tok = sum(len(e["input_ids"]) for e in cands + queries)
    print(
        f"model: Llama hidden={hidden} layers={layers} vocab={len(tok)}; LoRA r=128 on q/k/v/o: {n_params:,} "
        f"parameters; d={DIM}; {n_cand} candidates (adam) + {n_query} queries (sgd), {n_tok / (n_cand + n_query):.0f} "
        f"tokens/example (max {SEQ}); LESS projects every {args.less_project_interval} gradients; "
        f"{args.warmup_steps} warmup steps; torch threads={torch.get_num_threads()}",
        flush=True,
    )

    def ours(method: str) -> Any:
        rep = GradientRepresentation("bench", dim=DIM, method=method, batch_size=args.batch_size, max_length=SEQ)
        rep._projector.project({n: torch.zeros(1, p.numel()) for n, p in loaded.params.items()})  # build tables
        return lambda: (rep._fast if method == "fast" else rep._exact)(loaded, cands, "adam"), lambda: (
            rep._fast if method == "fast" else rep._exact
        )(loaded, queries, "sgd")

    results: dict[str, dict[str, Any]] = {}
    feats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label in ("fast", "exact", "less"):
        if label == "less":
            run_c = lambda: less_baseline(lm, cands, moments, names, args.less_project_interval)  # noqa: E731
            run_q = lambda: less_baseline(lm, queries, None, names, args.less_project_interval)  # noqa: E731
        else:
            run_c, run_q = ours(label)
        (c, tc, mc), (q, tq, mq) = timed(run_c), timed(run_q)
        feats[label] = (q, c)
        rate = (n_cand + n_query) / (tc + tq)
        results[label] = {"examples_per_s": rate, "seconds": tc + tq, "peak_mib": max(mc, mq)}
        print(f"({label}) {rate:8.3f} examples/s  {tc + tq:8.1f} s  peak +{max(mc, mq):7.0f} MiB", flush=True)

    true_c = true_features(lm, cands, moments, names)
    true_q = true_features(lm, queries, None, names)
    sims = {k: cosine_matrix(*v).ravel() for k, v in feats.items()}
    sims["true"] = cosine_matrix(true_q, true_c).ravel()
    pearson = {
        f"{a}_vs_{b}": float(np.corrcoef(sims[a], sims[b])[0, 1])
        for a, b in (("less", "fast"), ("less", "true"), ("fast", "true"), ("exact", "true"))
    }
    speed_less = results["fast"]["examples_per_s"] / results["less"]["examples_per_s"]
    speed_exact = results["fast"]["examples_per_s"] / results["exact"]["examples_per_s"]
    print(f"(c)/(a) fast vs LESS: {speed_less:.1f}x   (c)/(b) fast vs exact: {speed_exact:.2f}x")
    print(
        "Pearson of query×candidate cosines: "
        + ", ".join(f"{k} {v:.4f}" for k, v in pearson.items())
        + f"; true cosines range {sims['true'].min():.3f}..{sims['true'].max():.3f} (std {sims['true'].std():.3f})"
    )
    print("GPU tokens/s and MFU: not measured (no GPU in this run)")
    print(
        json.dumps(
            {
                "speedup_vs_less": round(speed_less, 2),
                "speedup_vs_exact": round(speed_exact, 2),
                "similarity_pearson": round(pearson["less_vs_fast"], 4),
                "examples_per_s": {k: round(v["examples_per_s"], 4) for k, v in results.items()},
                "peak_mib": {k: round(v["peak_mib"], 1) for k, v in results.items()},
                "pearson": {k: round(v, 4) for k, v in pearson.items()},
                "shapes": {
                    "hidden": hidden,
                    "layers": layers,
                    "lora_params": n_params,
                    "dim": DIM,
                    "seq": SEQ,
                    "threads": torch.get_num_threads(),
                    "candidates": n_cand,
                    "queries": n_query,
                },
                "quick": args.quick,
                "less_project_interval": args.less_project_interval,
            }
        )
    )


if __name__ == "__main__":
    from targetsel.errors import TargetselError

    try:
        main()
    except TargetselError as exc:  # e.g. a batch that cannot fit in host memory (CPU): one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
