"""Scale benchmark: scoring + selection over a synthetic 10M-candidate feature store.

Builds a synthetic clustered feature store (N candidates, dimension d, float16 by default) with the
normal :class:`targetsel.store.FeatureStore` code, then, each in its own subprocess so peak memory
is measured per method, runs streaming scoring (``score(..., top_k=...)``) and a selector
(round-robin, doubly-greedy, KNN-Uniform) for budget B, exactly as ``targetsel select`` does on a
large pool. Baseline, in the same run: a plain numpy float32 matmul of the queries against
candidate rows already in memory (no normalisation, no top-k), i.e. the arithmetic floor.

Prints wall time, candidates/s, GB/s read and peak RSS per method. Last line: one JSON object
with ``n``, ``dim``, ``peak_rss_mb`` (max over methods), ``score_over_matmul`` (the slowest method's time
per scoring pass over the matmul floor extrapolated to N), ``end_to_end_over_matmul`` (scoring and
selection together: round-robin rescores, excluding the taken candidates, when a list runs out), and
per-method figures.

Compressed stores (``--dtype int8|bit``, :mod:`targetsel.store.codecs`): a bit store is generated
directly as packed sign bits (each cluster centre's signs with every bit flipped with probability
5/16, what ``centre + 1.5 · noise`` gives), so a 10M × 8192 store (10 GB) is written in minutes.
``--query-dtype bit`` scores by exact integer products (:mod:`targetsel.score.integer`). Every
run also measures the bandwidth floor: the seconds to read the store's files once, sequentially
(from the page cache when the store was just written), and reports ``over_bandwidth_floor``
(the round-robin end to end over that floor).

Usage:
    python bench/scale_bench.py                       # N=10M, d=256, M=500, B=100K (≈5 GB on disk)
    python bench/scale_bench.py --n 200000 --dim 8192 # the paper's shape
    python bench/scale_bench.py --quick               # N=1M
    python bench/scale_bench.py --dim 8192 --dtype bit --m 64 --methods round_robin,doubly_greedy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from targetsel.progress import set_quiet
from targetsel.store import FeatureStore, StoreSpec

N_CLUSTERS = 64


def centers(dim: int) -> np.ndarray:
    return np.random.default_rng(12345).standard_normal((N_CLUSTERS, dim)).astype(np.float32)


def synthetic_rows(seed: int, rows: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = centers(dim)
    x = c[rng.integers(0, N_CLUSTERS, rows)]
    x += rng.standard_normal((rows, dim), dtype=np.float32) * 1.5
    return x


def synthetic_bits(seed: int, rows: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed sign bits and row norms of ``rows`` synthetic rows, made without the float rows.

    A row is its cluster centre's sign bits, each flipped with probability 5/16 = P(a ∧ (b ∨ (c ∧ d)))
    for four fair random bits: close to the 0.313 of ``sign(c + 1.5 e)`` against ``sign(c)``.
    """
    rng = np.random.default_rng(seed)
    signs = np.packbits(centers(dim) >= 0, axis=1)
    nb = signs.shape[1]
    a, b, c, d = (rng.integers(0, 256, (rows, nb), dtype=np.uint8) for _ in range(4))
    np.bitwise_and(c, d, out=c)
    np.bitwise_or(b, c, out=b)
    np.bitwise_and(a, b, out=a)
    np.bitwise_xor(a, signs[rng.integers(0, N_CLUSTERS, rows)], out=a)
    if dim % 8:
        a[:, -1] &= np.uint8((0xFF << (8 - dim % 8)) & 0xFF)  # zero padding, as numpy.packbits leaves it
    return a, np.full(rows, np.sqrt(3.25 * dim), dtype=np.float32)


def build_store(path: Path, n: int, dim: int, dtype: str, shard_size: int) -> tuple[FeatureStore, float]:
    spec = StoreSpec(
        representation="synthetic",
        model="none",
        dim=dim,
        num_rows=n,
        fingerprint=f"synthetic-{n}-{dim}",
        dtype=dtype,
        params={"clusters": N_CLUSTERS},
    )
    store = FeatureStore.create(path, spec, shard_size=shard_size)
    t0 = time.perf_counter()
    for i in store.missing_shards():
        lo, hi = store.shard_range(i)
        if dtype == "bit":
            store.write_encoded_shard(i, *synthetic_bits(1000 + i, hi - lo, dim))
        else:
            store.write_shard(i, synthetic_rows(1000 + i, hi - lo, dim))
    return store, time.perf_counter() - t0


def bandwidth_floor(store: FeatureStore) -> tuple[float, int]:
    """Seconds to read every file of the store once, sequentially (64 MB reads), and the bytes."""
    buf = bytearray(64 << 20)
    view = memoryview(buf)
    total = 0
    t0 = time.perf_counter()
    for f in sorted(store.path.glob("*.npy")):
        with open(f, "rb", buffering=0) as fh:
            while (got := fh.readinto(view)) > 0:
                total += got
    return time.perf_counter() - t0, total


def worker(args: argparse.Namespace) -> None:
    """Run one method in this process and print one JSON line."""
    from targetsel.score import FeatureViews, score
    from targetsel.select import get_selector
    from targetsel.store.viewset import ViewSet

    set_quiet(True)
    store = FeatureStore.open(args.store)
    queries = synthetic_rows(7, args.m, store.dim)
    sel = get_selector(args.method)
    from targetsel.select.base import TopKTooSmallError

    k = min(store.num_rows, sel.required_top_k(args.budget, args.m))
    # one-time process costs are not a pass's: torch's import (the first chunk's normalisation
    # imports it, about 1.5 s here) and loading the compiled kernels where a pass this large loads
    # them (numba, when installed: targetsel.score.topk.use_compiled)
    import importlib

    import torch  # noqa: F401

    use_compiled = getattr(importlib.import_module("targetsel.score.topk"), "use_compiled", None)
    if use_compiled is not None:  # (versions without the rule have nothing to load)
        use_compiled(store.num_rows * args.m)
    t0 = time.perf_counter()
    passes = 0
    while True:  # the same rescoring rule as targetsel.pipeline.run_selection
        passes += 1
        scores = score(queries, store, top_k=k, chunk_rows=args.chunk_rows, query_dtype=args.query_dtype)
        t1 = time.perf_counter()
        try:  # with the features at hand, as run_selection passes them (round-robin refills from them)
            views = FeatureViews(
                ViewSet.of(queries), ViewSet.of(store), chunk_rows=args.chunk_rows, query_dtype=args.query_dtype
            )
            ranking = sel.rank(scores, args.budget, features=views)
            break
        except TopKTooSmallError:
            k = min(store.num_rows, 4 * k)
    t2 = time.perf_counter()
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "method": args.method,
                "top_k": k,
                "passes": passes,
                "score_s": t1 - t0,
                "rank_s": t2 - t1,
                "picks": len(ranking),
                "peak_rss_mb": peak,
            }
        )
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_floor(store: FeatureStore, m: int, rows: int) -> float:
    """Seconds per candidate of a plain float32 matmul over rows already in memory."""
    x = np.ascontiguousarray(store.read_rows(0, rows), dtype=np.float32)
    q = synthetic_rows(7, m, store.dim)
    q @ x[:4096].T  # warm up
    t0 = time.perf_counter()
    for s in range(0, rows, 65536):
        q @ x[s : s + 65536].T
    return (time.perf_counter() - t0) / rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--m", type=int, default=500)
    p.add_argument("--budget", type=int, default=100_000)
    p.add_argument("--dtype", default="float16", choices=["float16", "float32", "int8", "bit"])
    p.add_argument("--query-dtype", default="float", choices=["float", "int8", "bit"])
    p.add_argument("--shard-size", type=int, default=131072)
    p.add_argument("--chunk-rows", type=int, default=16384)
    p.add_argument("--methods", default="round_robin,doubly_greedy,knn_uniform")
    p.add_argument("--store", type=Path, default=None, help="Store directory (default: a temporary one, removed).")
    p.add_argument("--quick", action="store_true", help="N = 1M.")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.n = min(args.n, 1_000_000)
    set_quiet(True)
    tmp = None
    if args.store is None:
        tmp = Path(tempfile.mkdtemp(prefix="targetsel-scale-"))
        args.store = tmp / "store"
    try:
        store, build_s = build_store(args.store, args.n, args.dim, args.dtype, args.shard_size)
        gb = store.codec.nbytes(args.n, args.dim) / 1e9
        print(f"store: N={args.n:,} d={args.dim} {args.dtype} ({gb:.2f} GB) built in {build_s:.1f} s")
        bw_s, bw_bytes = bandwidth_floor(store)
        print(f"bandwidth floor: read {bw_bytes / 1e9:.2f} GB once in {bw_s:.2f} s ({bw_bytes / 1e9 / bw_s:.2f} GB/s)")
        floor_rows = min(args.n, max(65536, int(1.5e9 / (4 * args.dim))))
        per_cand = matmul_floor(store, args.m, floor_rows)
        floor_s = per_cand * args.n
        print(
            f"baseline: plain float32 matmul over rows in memory: {1 / per_cand:,.0f} candidates/s "
            f"(measured on {floor_rows:,} rows) -> {floor_s:.1f} s for N"
        )
        results = {}
        for method in args.methods.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                "--method",
                method,
                "--store",
                str(args.store),
                "--m",
                str(args.m),
                "--budget",
                str(args.budget),
                "--chunk-rows",
                str(args.chunk_rows),
                "--query-dtype",
                args.query_dtype,
            ]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                print(f"{method}: FAILED\n{out.stderr[-2000:]}")
                results[method] = {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["wall_s"] = wall
            r["candidates_per_s"] = args.n / r["score_s"]
            r["gb_per_s"] = gb / r["score_s"]
            r["score_over_matmul"] = r["score_s"] / r["passes"] / floor_s  # one scoring pass
            r["end_to_end_over_matmul"] = (r["score_s"] + r["rank_s"]) / floor_s  # every pass, and the selector
            r["over_bandwidth_floor"] = (r["score_s"] + r["rank_s"]) / bw_s
            results[method] = r
            print(
                f"{method:>14}: top_k={r['top_k']:>6} score {r['score_s']:7.1f} s "
                f"({r['candidates_per_s']:,.0f} cand/s, "
                f"{r['gb_per_s']:.2f} GB/s, {r['score_over_matmul']:.2f}x matmul per pass, {r['passes']} pass(es)) "
                f"rank {r['rank_s']:6.2f} s "
                f"peak RSS {r['peak_rss_mb']:,.0f} MB"
            )
        ok = [r for r in results.values() if "error" not in r]
        summary = {
            "n": args.n,
            "dim": args.dim,
            "m": args.m,
            "budget": args.budget,
            "dtype": args.dtype,
            "query_dtype": args.query_dtype,
            "store_gb": round(gb, 3),
            "bandwidth_floor_s": round(bw_s, 3),
            "bandwidth_gb_per_s": round(bw_bytes / 1e9 / bw_s, 3),
            "over_bandwidth_floor": round(results.get("round_robin", {}).get("over_bandwidth_floor", float("nan")), 3),
            "peak_rss_mb": round(max((r["peak_rss_mb"] for r in ok), default=float("nan")), 1),
            "score_over_matmul": round(max((r["score_over_matmul"] for r in ok), default=float("nan")), 3),
            "end_to_end_over_matmul": round(max((r["end_to_end_over_matmul"] for r in ok), default=float("nan")), 3),
            "methods": {
                k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                for k, v in results.items()
            },
        }
        print(json.dumps(summary))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
