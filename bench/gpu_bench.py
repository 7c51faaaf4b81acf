"""Benchmark: the LESS gradient engine and scoring on one device (CUDA when available, else CPU).

Builds a Llama-architecture model from a config (randomly initialised, nothing downloaded),
wraps it in LoRA r=128, α=512 on q/k/v/o (as LESS), gives it random Adam moments, and runs our
real gradient engine (``GradientRepresentation``'s fast and exact paths, sparse projection to
8192) on random token sequences with loss on the second half of each.

Sizes (``--size``): ``tiny`` (2 layers, hidden 64; for the CPU test), ``135m`` (SmolLM2-135M
shapes), ``1b`` (Llama-3.2-1B shapes, default), ``7b`` (Llama-2-7B shapes). bf16 on CUDA
(``--dtype`` to change), float32 on the CPU; SDPA attention.

Measured:

(a) the fast path (Adam direction) at each ``--seqs`` length: tokens/s, and **MFU** = counted
    FLOPs / (seconds × device peak). The peak is from a table by ``torch.cuda.get_device_name()``
    (H100/H200 SXM bf16 dense 989 TFLOP/s, A100 312) or ``--peak-tflops``; on the CPU it is the
    float32 ``torch.mm`` throughput measured in the same run (best of one before and one after the
    gradient runs: a shared CPU's throughput drifts). ``mfu_vs_matmul`` divides by a large
    ``torch.mm`` in the model dtype timed in the same run (the limit that counts on the machine at
    hand). FLOPs counted per example of T tokens, L of them with loss, LoRA modules m with input
    and output widths (i_m, o_m), P = parameters of the decoder's linear layers (LM head apart):

    * forward: ``2·P·T`` (linear layers) + ``2·T²·h`` per layer (QKᵀ and PV, causal: half of
      ``4·T²·h``) + ``2·T·Σ r(i_m+o_m)`` (LoRA) + ``2·h·V·L`` (LM head, at the loss positions only);
    * backward through the activations (no weight gradients): ``2·P·T`` + ``4·T²·h`` per layer +
      ``2·T·Σ r(i_m+o_m)`` + ``2·h·V·L``;
    * per-example LoRA gradients ``Σ_t δ_t x_tᵀ``: ``2·T·Σ r(i_m+o_m)``;
    * Adam transform (~10 per LoRA parameter) and sparse projection (2 per LoRA parameter).

(b) the procedure LESS runs — batch of 1, one backward per example (our ``exact`` path, same
    projector, so only the batching differs) — at the two ``--exact-seqs`` lengths:
    ``fast_over_exact_short`` and ``fast_over_exact_long`` (examples/s ratios);
(c) peak device memory of the timed fast-path runs (CUDA: ``max_memory_allocated`` after the
    warm-up, so the batch-size search's failed attempts do not count; CPU: peak RSS of the
    process) and the batch size used (``--batch-size auto`` halves on out-of-memory on CUDA; on
    the CPU, where the kernel kills the process instead, every length is checked against the host's
    available memory before the model is built, and ``auto`` is the largest batch that fits:
    ``targetsel.represent.gradient.memory.cpu_batch_size``; a length or batch that cannot fit is
    one ``error:`` line, exit 2);
(d) on CUDA, scoring ``--score-queries`` × ``--score-candidates`` × 8192 float16 features from an
    on-disk store (``targetsel.score.score`` with ``top_k``) vs a bare ``torch.matmul`` over the
    same data already on the device: ``score_over_matmul_gpu`` (time of the matmul / time of the
    scoring; 1.0 would be free I/O and top-k). ``null`` off CUDA.

The last line is one JSON object with the keys ``mfu``, ``mfu_vs_matmul``, ``tokens_per_s``,
``fast_over_exact_short``, ``fast_over_exact_long``, ``peak_gib``, ``batch_size``,
``score_over_matmul_gpu``, ``device``, ``dtype``, ``size`` (plus per-length details).

Examples::

    python bench/gpu_bench.py                          # CUDA, 1b, seq 512 and 2048
    python bench/gpu_bench.py --size 7b --seqs 2048
    python bench/gpu_bench.py --size 135m --device cpu --seqs 256 --exact-seqs 128,256
    python bench/gpu_bench.py --size tiny --device cpu # under a minute: what the test suite runs
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Llama-architecture shapes: hidden, layers, heads, kv heads, intermediate, vocab.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden": 64, "layers": 2, "heads": 4, "kv": 2, "inter": 128, "vocab": 1024},
    "135m": {"hidden": 576, "layers": 30, "heads": 9, "kv": 3, "inter": 1536, "vocab": 49152},
    "1b": {"hidden": 2048, "layers": 16, "heads": 32, "kv": 8, "inter": 8192, "vocab": 128256},
    "7b": {"hidden": 4096, "layers": 32, "heads": 32, "kv": 32, "inter": 11008, "vocab": 32000},
}
#: Dense bf16 peak (TFLOP/s) by device name.
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}
LORA_R, LORA_ALPHA, TARGETS, DIM = 128, 512.0, ("q_proj", "k_proj", "v_proj", "o_proj"), 8192


def llama_config(size: str, max_len: int) -> Any:
    from transformers import LlamaConfig

    s = SIZES[size]
    return LlamaConfig(
        vocab_size=s["vocab"],
        hidden_size=s["hidden"],
        intermediate_size=s["inter"],
        num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"],
        num_key_value_heads=s["kv"],
        max_position_embeddings=max(4096, max_len),
        tie_word_embeddings=size in ("tiny", "135m", "1b"),
        attn_implementation="sdpa",
    )


def build(size: str, device: str, dtype: str, max_len: int, seed: int = 0) -> tuple[Any, Any]:
    """A LoRA-wrapped random Llama and its ``_Loaded`` (random Adam moments), on ``device``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    from targetsel.represent.gradient.engine import _Loaded

    torch.manual_seed(seed)
    cfg = llama_config(size, max_len)
    with torch.device(device):
        lm = LlamaForCausalLM(cfg).to(getattr(torch, dtype))
    lm = get_peft_model(lm, LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=list(TARGETS), lora_dropout=0.0))
    with torch.no_grad():  # a warmed-up adapter: B is not zero
        for n, p in lm.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.02)
    lm.eval()

    class _Tok:
        pad_token_id = 0
        eos_token_id = 0

    loaded = _Loaded(lm, _Tok(), None)
    loaded.moments = {
        n: (torch.randn_like(p, dtype=torch.float32) * 1e-3, torch.rand_like(p, dtype=torch.float32) * 1e-6)
        for n, p in loaded.params.items()
    }
    return lm, loaded


def examples(n: int, seq: int, vocab: int, seed: int) -> list[dict[str, Any]]:
    """Random token sequences of length ``seq``, loss on the second half (as an answer)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(1, vocab, (seq,), generator=g).tolist()
        labels = [-100] * (seq // 2) + ids[seq // 2 :]
        out.append({"input_ids": ids, "attention_mask": [1] * seq, "labels": labels})
    return out


def lora_widths(loaded: Any) -> list[tuple[int, int]]:
    """(in, out) of each LoRA-wrapped base linear layer (from its A and B)."""
    widths: dict[str, list[int]] = {}
    for name, p in loaded.params.items():
        key = name.replace("lora_A", "@").replace("lora_B", "@")
        widths.setdefault(key, [0, 0])
        if "lora_A" in name:
            widths[key][0] = p.shape[1]
        else:
            widths[key][1] = p.shape[0]
    return [(i, o) for i, o in widths.values()]


def flops_per_example(size: str, seq: int, loss_tokens: int, lora: list[tuple[int, int]]) -> float:
    """FLOPs of one example on the fast path (see the module docstring)."""
    s = SIZES[size]
    h, layers, inter, vocab = s["hidden"], s["layers"], s["inter"], s["vocab"]
    kv = h // s["heads"] * s["kv"]
    p_lin = layers * (2 * h * h + 2 * h * kv + 3 * h * inter)
    lora_mac = sum(LORA_R * (i + o) for i, o in lora)
    lora_params = lora_mac
    fwd = 2 * p_lin * seq + layers * 2 * seq * seq * h + 2 * seq * lora_mac + 2 * h * vocab * loss_tokens
    bwd = 2 * p_lin * seq + layers * 4 * seq * seq * h + 2 * seq * lora_mac + 2 * h * vocab * loss_tokens
    per_example = 2 * seq * lora_mac + 12 * lora_params
    return float(fwd + bwd + per_example)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_tflops(device: str, dtype: str, n: int) -> float:
    """Throughput of a large square ``torch.mm`` in ``dtype`` (best of 3), TFLOP/s."""
    import torch

    a = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
    torch.mm(a, b)
    sync(device)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e12


def time_path(rep: Any, loaded: Any, encs: list[dict[str, Any]], method: str, device: str) -> float:
    """Seconds to encode ``encs`` on one path, after a warm-up (on CUDA the whole set, so that
    ``batch_size=auto`` has found its size before the clock starts; on the CPU two examples)."""
    rep.method = method
    warm = encs if device.startswith("cuda") and method == "fast" else encs[: max(1, min(len(encs), 2))]
    (rep._fast if method == "fast" else rep._exact)(loaded, warm, "adam")
    sync(device)
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()  # the warm-up's out-of-memory attempts do not count
    t = time.perf_counter()
    (rep._fast if method == "fast" else rep._exact)(loaded, encs, "adam")
    sync(device)
    secs = time.perf_counter() - t
    if method == "fast":
        PEAKS_SEEN.append(peak_gib(device))
    return secs


#: Peak memory of each timed fast-path run (GiB).
PEAKS_SEEN: list[float] = []


def peak_gib(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def check_host_memory(size: str, dtype: str, seqs: list[int], long_: int, batch_size: int | str) -> None:
    """On the CPU, before the model is built: every length must fit at its batch size (``auto``: at
    batch 1) in the host memory left once the model is loaded, else one ``ConfigurationError`` line.
    (The CPU has no out-of-memory exception: a batch that does not fit gets the process killed.)"""
    from targetsel.lora import LoraSettings
    from targetsel.represent.gradient.memory import cpu_batch_size, host_memory_limit, plan_memory

    cfg = llama_config(size, max([*seqs, long_]))
    lora = LoraSettings(lora_r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=TARGETS)
    kw = {"dtype": dtype, "lora": lora, "dim": DIM}
    one = plan_memory(cfg, batch_size=1, seq_len=8, **kw)
    # building the random model holds about twice its weights and moments for a moment (initialisation)
    limit = host_memory_limit() - 2 * (one["weights"] + one["moments"])
    fast = [(seq, None if batch_size == "auto" else int(batch_size)) for seq in seqs]
    for seq, requested in [*fast, (long_, None)]:  # the exact path runs one example at a time
        cpu_batch_size(cfg, seq_len=seq, loss_tokens=seq - seq // 2, requested=requested, largest=8, limit=limit, **kw)


def bench_scoring(device: str, n: int, m: int, dim: int) -> dict[str, float]:
    """``score`` from an on-disk float16 store vs a bare matmul of the same data on the device."""
    import numpy as np
    import torch

    from targetsel.score import score
    from targetsel.store import FeatureStore, StoreSpec

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        spec = StoreSpec(
            representation="bench", model="none", dim=dim, num_rows=n, fingerprint="bench", dtype="float16"
        )
        store = FeatureStore.create(Path(tmp) / "store", spec, shard_size=16384)
        for i in range(store.num_shards):
            a, b = store.shard_range(i)
            store.write_shard(i, rng.standard_normal((b - a, dim), dtype=np.float32).astype(np.float16))
        store = FeatureStore.open(Path(tmp) / "store")
        q = rng.standard_normal((m, dim), dtype=np.float32)
        score(q, store, top_k=100, device=device, desc="warm-up")  # page cache and kernels warm
        t = time.perf_counter()
        score(q, store, top_k=100, device=device)
        sync(device)
        t_score = time.perf_counter() - t
        c = torch.from_numpy(np.concatenate([store.read_shard(i) for i in range(store.num_shards)])).to(device)
        qd = torch.from_numpy(q).to(device, torch.float16)
        torch.matmul(qd, c.T)
        sync(device)
        t = time.perf_counter()
        torch.matmul(qd, c.T)
        sync(device)
        t_mm = time.perf_counter() - t
    return {"score_s": t_score, "matmul_s": t_mm, "ratio": t_mm / t_score}


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", choices=sorted(SIZES), default="1b")
    ap.add_argument("--dtype", default=None, help="model dtype (default: bfloat16 on CUDA, float32 on the CPU)")
    ap.add_argument("--seqs", default=None, help="fast-path lengths (default 512,2048; tiny: 64,128)")
    ap.add_argument("--exact-seqs", default=None, help="short,long lengths for fast vs exact (default 128,2048)")
    ap.add_argument("--examples", type=int, default=None, help="examples per measurement (default by size)")
    ap.add_argument("--batch-size", default="auto", help="fast-path batch size or 'auto'")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak (default: by device name)")
    ap.add_argument("--score-candidates", type=int, default=200_000)
    ap.add_argument("--score-queries", type=int, default=500)
    ap.add_argument("--no-score", action="store_true", help="skip the scoring measurement")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available (use --device cpu)", file=sys.stderr)
        return 2
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    tiny = args.size == "tiny"
    seqs = [int(x) for x in (args.seqs or ("64,128" if tiny else "512,2048")).split(",")]
    short, long_ = (int(x) for x in (args.exact_seqs or ("32,128" if tiny else "128,2048")).split(","))
    n_ex = args.examples or (8 if tiny else 16 if device == "cpu" else 64)
    batch_size: int | str = args.batch_size if args.batch_size == "auto" else int(args.batch_size)

    from targetsel.represent.gradient import GradientRepresentation

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
        mm = matmul_tflops(device, dtype, 8192)
        print(f"device {name}: {dtype} matmul {mm:.0f} TFLOP/s, table peak {peak}", flush=True)
    else:
        name = "cpu"
        mm = matmul_tflops(device, "float32", 512 if tiny else 2048)
        peak = args.peak_tflops or mm
        print(f"device cpu ({torch.get_num_threads()} threads): float32 matmul {mm * 1000:.1f} GFLOP/s", flush=True)

    longest = max([*seqs, long_])
    if not device.startswith("cuda"):
        check_host_memory(args.size, dtype, seqs, long_, batch_size)
    _, loaded = build(args.size, device, dtype, longest)
    rep = GradientRepresentation.__new__(GradientRepresentation)
    GradientRepresentation.__init__(rep, "bench", dim=DIM, batch_size=batch_size, max_length=longest)
    lora = lora_widths(loaded)
    vocab = SIZES[args.size]["vocab"]
    per_len: dict[str, Any] = {}
    for seq in seqs:
        encs = examples(n_ex, seq, vocab, seed=seq)
        secs = time_path(rep, loaded, encs, "fast", device)
        flops = flops_per_example(args.size, seq, seq - seq // 2, lora) * len(encs)
        rate = flops / secs / 1e12
        per_len[str(seq)] = {
            "tokens_per_s": len(encs) * seq / secs,
            "examples_per_s": len(encs) / secs,
            "tflops": rate,
            "mfu": rate / peak if peak else None,
            "mfu_vs_matmul": rate / mm,
            "batch_size": rep._auto_batch if batch_size == "auto" else batch_size,
        }
        print(f"fast seq {seq}: {json.dumps(per_len[str(seq)])}", flush=True)
    ratios = {}
    for label, seq in (("short", short), ("long", long_)):
        n_exact = max(2, n_ex // 4) if seq >= 1024 else n_ex
        encs = examples(n_exact, seq, vocab, seed=seq + 1)
        t_fast = time_path(rep, loaded, encs, "fast", device)
        t_exact = time_path(rep, loaded, encs, "exact", device)
        ratios[label] = t_exact / t_fast
        print(f"fast over exact at seq {seq}: {ratios[label]:.2f}x ({n_exact} examples)", flush=True)
    rep.method = "fast"
    score_ratio = None
    if device.startswith("cuda") and not args.no_score:
        sc = bench_scoring(device, args.score_candidates, args.score_queries, DIM)
        score_ratio = sc["ratio"]
        print(f"scoring: {json.dumps(sc)}", flush=True)
    if not device.startswith("cuda"):
        # a shared CPU's throughput drifts: the reference is the best of the matmuls before and after
        mm_after = matmul_tflops(device, "float32", 512 if tiny else 2048)
        if mm_after > mm:
            for v in per_len.values():
                v["mfu_vs_matmul"] = v["tflops"] / mm_after
                if args.peak_tflops is None:
                    v["mfu"] = v["mfu_vs_matmul"]
            mm = mm_after
            peak = args.peak_tflops or mm
    last = per_len[str(seqs[-1])]
    result = {
        "mfu": last["mfu"],
        "mfu_vs_matmul": last["mfu_vs_matmul"],
        "tokens_per_s": last["tokens_per_s"],
        "fast_over_exact_short": ratios["short"],
        "fast_over_exact_long": ratios["long"],
        "peak_gib": max(PEAKS_SEEN) if PEAKS_SEEN else peak_gib(device),
        "batch_size": last["batch_size"],
        "score_over_matmul_gpu": score_ratio,
        "device": name,
        "dtype": dtype,
        "size": args.size,
        "seq": seqs[-1],
        "per_seq": per_len,
        "matmul_tflops": mm,
        "peak_tflops": peak,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from targetsel.errors import TargetselError

    try:
        sys.exit(main())
    except TargetselError as exc:  # e.g. a length that cannot fit in host memory: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
