"""Selection benchmark: every selector against the naive / dense way of computing the same thing.

All inputs are synthetic and clustered (hierarchical: 10 topics × 20 sub-clusters, plus 5 %
planted near-duplicates; the queries all come from topic 0, as a target task's do). Every row
runs in its own subprocess, so its peak RSS (``ru_maxrss``) is its own; ``inputs_mb`` is the RSS
once the row's inputs exist (dense matrix, features), before any selection runs.

Rows (full mode; ``--quick`` divides N by 10 and uses M=80 for the 500-query rows):

1. Round-robin on a dense matrix (the foundation issue's rows), ``(M, N, B)`` = (80, 200K, 10K),
   (80, 2M, 10K), (500, 2M, 10K): the naive RR (numpy, one masked argmax over all N per pick,
   like the paper's code) vs ours (``get_selector("round_robin").rank(Scores.from_matrix(S), B)``)
   vs one plain pass over the matrix (``S.max(axis=0)``, the floor). At (500, 2M) the naive is
   timed on its first picks and extrapolated linearly (each pick costs the same) — marked so.
   Doubly-greedy vs its naive form (``argsort(-S.max(0))``) in the same rows.
2. Every algorithm at (M=500, N=200K, d=256, B=10K) on dense scores with features in memory, vs a
   direct dense implementation of the same definition the way the paper's code does it (full
   matrix, full argsorts, POT's dense solver, torch top-k for the KDE, a Python heap).
3. Every streaming-capable algorithm at (M=500, N=2M, d=256, B=10K) from an on-disk FeatureStore
   (memory-mapped shards): ``score(..., top_k=selector.required_top_k(B))`` then the selector;
   UOT streams similarity chunks from the store (log-domain Sinkhorn); ``quantiles`` computes the
   round-robin order of the whole pool in windows, refilled by rescoring passes that exclude the
   candidates already taken (``fills`` = scoring passes). KNN-KDE runs a second time with the
   approximate IVF density index (``kde_index=ivf``).

The last line is one JSON object: ``rr_speedup_2m`` (naive / ours at (80, 2M)),
``rr_over_one_pass`` (ours / one pass at (500, 2M)), ``peak_rss_mb`` (the (500, 2M) RR row, which
holds the 4 GB matrix), ``kde_speedup_200k`` (dense / ours for KNN-KDE at (500, 200K)),
``dg_speedup_200k`` and ``dg_speedup_compiled_200k`` (``argsort(-S.max(0))`` / ours for
doubly-greedy at (500, 200K), without and with the compiled kernels loaded; the second is absent
without numba), ``peak_rss_mb_2m`` (max peak RSS over the streaming rows at N=2M), and every row.

Usage:
    python bench/select_bench.py            # full (≈ 15–25 min on 2 cores, ≈ 6 GB disk in $TMPDIR)
    python bench/select_bench.py --quick    # N/10
    python bench/select_bench.py --rows rr  # only the round-robin rows (rr, dense, stream)
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

N_TOPICS, N_SUB, DUP_FRAC = 10, 20, 0.05


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------------------ data
def _centers(dim: int) -> np.ndarray:
    rng = np.random.default_rng(2024)
    topics = rng.standard_normal((N_TOPICS, dim)).astype(np.float32)
    subs = np.repeat(topics, N_SUB, axis=0) + 0.6 * rng.standard_normal((N_TOPICS * N_SUB, dim)).astype(np.float32)
    return subs  # (N_TOPICS * N_SUB, dim); sub-cluster s belongs to topic s // N_SUB


def candidate_rows(start: int, stop: int, dim: int) -> np.ndarray:
    """Rows ``start..stop`` of the synthetic pool (deterministic per 65,536-row block)."""
    subs = _centers(dim)
    out = np.empty((stop - start, dim), np.float32)
    block = 65536
    for b0 in range(start - start % block, stop, block):
        rng = np.random.default_rng(10_000 + b0 // block)
        lab = rng.integers(0, len(subs), block)
        x = subs[lab] + 0.8 * rng.standard_normal((block, dim), dtype=np.float32)
        dup = rng.random(block) < DUP_FRAC  # near-copies of the previous row
        src = np.maximum(np.arange(block) - 1, 0)
        x[dup] = x[src[dup]] + 0.05 * rng.standard_normal((int(dup.sum()), dim), dtype=np.float32)
        lo, hi = max(start, b0), min(stop, b0 + block)
        out[lo - start : hi - start] = x[lo - b0 : hi - b0]
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def query_rows(m: int, dim: int) -> np.ndarray:
    subs = _centers(dim)[:N_SUB]  # topic 0 only
    rng = np.random.default_rng(7)
    q = subs[rng.integers(0, N_SUB, m)] + 0.8 * rng.standard_normal((m, dim), dtype=np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def dense_scores(m: int, n: int, dim: int) -> tuple[np.ndarray, np.ndarray | None]:
    q = query_rows(m, dim)
    s = np.empty((m, n), np.float32)
    step = 262144
    for a in range(0, n, step):
        s[:, a : a + step] = q @ candidate_rows(a, min(n, a + step), dim).T
    return s, q


# ------------------------------------------------------------------------- naive / dense baselines
def naive_rr(s: np.ndarray, budget: int, picks: int | None = None) -> tuple[list[int], int]:
    """The paper's way: every pick is one masked argmax over all N candidates."""
    m, n = s.shape
    used = np.zeros(n, dtype=bool)
    out: list[int] = []
    stop = budget if picks is None else min(picks, budget)
    while len(out) < stop:
        for q in range(m):
            if len(out) >= stop:
                break
            j = int(np.argmax(np.where(used, -np.inf, s[q])))
            used[j] = True
            out.append(j)
    return out, stop


def dense_knn_uniform(s: np.ndarray, max_k: int, alpha: float, c: float, budget: int) -> np.ndarray:
    m, n = s.shape
    dist = 1.0 - s
    order = np.argsort(dist, axis=1, kind="stable")[:, : min(max_k, n)]
    d = np.take_along_axis(dist, order, axis=1).astype(np.float64)
    big_l = d.shape[1]
    k = 1
    while k < big_l:  # the K rule, recomputed from scratch for every K
        if (alpha / c) * (d[:, k][:, None] - d[:, :k]).sum() >= (1 - alpha) * m:
            break
        k += 1
    mass = np.zeros(n)
    for i in range(m):
        mass[order[i, :k]] += 1.0 / (k * m)
    return np.lexsort((np.arange(n), -mass))[:budget]


def dense_knn_kde(
    s: np.ndarray, x: np.ndarray, max_k: int, kde_k: int, sigma: float, alpha: float, c: float, budget: int
) -> tuple[np.ndarray, int]:
    import torch

    m, n = s.shape
    dist = 1.0 - s
    top = np.argsort(dist, axis=1, kind="stable")[:, : min(max_k, n)]
    d = np.take_along_axis(dist, top, axis=1).astype(np.float64)
    big_l = d.shape[1]
    uniq = np.unique(top)
    feats = torch.from_numpy(np.ascontiguousarray(x[uniq]))
    kk = min(kde_k, len(uniq))
    kde = np.empty(len(uniq))
    with torch.no_grad():
        for a in range(0, len(uniq), 256):
            sim = feats[a : a + 256] @ feats.T
            vals, _ = torch.topk(sim, kk, dim=1)
            kern = 1.0 - 2.0 * (1.0 - vals.double().numpy()) / sigma**2
            kde[a : a + 256] = np.where(kern > 0, kern, 0.0).sum(axis=1)
    lookup = dict(zip(uniq.tolist(), kde.tolist(), strict=True))
    rho = np.vectorize(lambda t: lookup[int(t)])(top)
    last = [-1] * m
    heap = [(1.0 / rho[j, 0], 0, j) for j in range(m)]
    heapq.heapify(heap)
    wsum = [d[j, 0] / rho[j, 0] for j in range(m)]
    cost = [0.0] * m
    total = level = 0.0
    while heap:
        count, k, j = heapq.heappop(heap)
        level = count
        total -= cost[j]
        cost[j] = d[j, k + 1] * count - wsum[j]
        total += cost[j]
        if alpha / c * total >= (1 - alpha) * m:
            break
        last[j] = k
        if k < big_l - 2:
            heapq.heappush(heap, (count + 1.0 / rho[j, k + 1], k + 1, j))
            wsum[j] += d[j, k + 1] / rho[j, k + 1]
    mass = np.zeros(n)
    for j in range(m):
        got = 0.0
        for k in range(last[j] + 1):
            mass[top[j, k]] += 1.0 / (m * level * rho[j, k])
            got += 1.0 / (m * level * rho[j, k])
        mass[top[j, last[j] + 1]] += max(1.0 / m - got, 0.0)
    return np.lexsort((np.arange(n), -mass))[:budget], len(uniq)


def dense_uot(s: np.ndarray, budget: int) -> np.ndarray:
    import ot

    m, n = s.shape
    cost = (1.0 - s.astype(np.float64)) / 2.0
    plan = ot.unbalanced.sinkhorn_unbalanced(
        np.full(m, 1 / m), np.full(n, 1 / n), cost, 0.01, (float("inf"), 1e-4), method="sinkhorn_stabilized"
    )
    mass = plan.sum(axis=0)
    return np.lexsort((np.arange(n), -mass))[:budget]


# ------------------------------------------------------------------------------------- row bodies
def row_rr(cfg: dict[str, Any]) -> dict[str, Any]:
    from targetsel.score import Scores
    from targetsel.select import get_selector

    m, n, b = cfg["m"], cfg["n"], cfg["budget"]
    # warm-up on a tiny matrix: one-time process costs (lazy imports such as torch's) are not timed
    warm = np.random.default_rng(0).random((16, 1 << 18), dtype=np.float32)  # big enough to start torch's threads
    get_selector("round_robin").rank(Scores.from_matrix(warm), 64)
    del warm
    s, _ = dense_scores(m, n, 64)
    res: dict[str, Any] = {"inputs_mb": rss_mb()}
    t = time.perf_counter()
    ours = get_selector("round_robin").rank(Scores.from_matrix(s), b)
    res["ours_s"] = time.perf_counter() - t
    res["ours_peak_mb"] = rss_mb()
    t = time.perf_counter()
    s.max(axis=0)
    res["one_pass_s"] = time.perf_counter() - t
    t = time.perf_counter()
    dg = get_selector("doubly_greedy").rank(Scores.from_matrix(s), b)
    res["dg_ours_s"] = time.perf_counter() - t
    t = time.perf_counter()
    dg_naive = np.argsort(-s.max(axis=0), kind="stable")[:b]
    res["dg_naive_s"] = time.perf_counter() - t
    assert dg.indices.tolist() == dg_naive.tolist(), "doubly-greedy differs from its naive form"
    t = time.perf_counter()
    picks, done = naive_rr(s, b, cfg.get("naive_picks"))
    el = time.perf_counter() - t
    assert picks == ours.indices[:done].tolist(), "round-robin differs from the naive definition"
    res["naive_picks_timed"] = done
    res["naive_extrapolated"] = done < b
    res["naive_s"] = el * b / done
    res["speedup_vs_naive"] = res["naive_s"] / res["ours_s"]
    res["ours_over_one_pass"] = res["ours_s"] / res["one_pass_s"]
    res["dg_speedup_vs_naive"] = res["dg_naive_s"] / res["dg_ours_s"]
    res["peak_rss_mb"] = rss_mb()
    return res


def warm_imports() -> None:
    """Import the heavy libraries before any timing, so neither side pays for them."""
    import faiss  # noqa: F401
    import ot  # noqa: F401
    import torch  # noqa: F401


def best_time(fn: Any, repeat_under_s: float = 1.0, repeats: int = 3) -> tuple[float, Any]:
    """Seconds of ``fn()`` and its result: the best of ``repeats`` calls when one takes under a second
    (single calls of milliseconds are mostly noise on a shared machine), else the one call."""
    t = time.perf_counter()
    out = fn()
    best = time.perf_counter() - t
    if best < repeat_under_s:
        for _ in range(repeats - 1):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
    return best, out


def row_dense(cfg: dict[str, Any]) -> dict[str, Any]:
    """One algorithm at (M, N, d) on dense scores, ours first, then the dense/naive baseline (each
    the best of 3 calls when one call takes under a second)."""
    warm_imports()
    from targetsel.score import FeatureViews, Scores
    from targetsel.select import get_selector
    from targetsel.store.viewset import ViewSet

    m, n, b, dim, name = cfg["m"], cfg["n"], cfg["budget"], cfg["dim"], cfg["method"]
    q = query_rows(m, dim)
    x = candidate_rows(0, n, dim)
    s = q @ x.T
    res: dict[str, Any] = {"inputs_mb": rss_mb()}
    sel = get_selector(name)
    # untimed first: one call on a tiny matrix (imports, first-use set-up) and one torch reduction over
    # the matrix (the first of a process starts torch's thread pool: about a second here), costs of
    # starting up, not of the algorithm
    import torch

    tiny = np.asarray(s[: min(m, 4), : min(n, 256)])
    tiny_views = FeatureViews(ViewSet.of(q[: tiny.shape[0]]), ViewSet.of(x[: tiny.shape[1]]))
    sel.rank(Scores.from_matrix(tiny), min(8, tiny.shape[1]), tiny_views)
    torch.from_numpy(s).sum()
    views = FeatureViews(ViewSet.of(q), ViewSet.of(x))

    def ours() -> Any:
        return sel.rank(Scores.from_matrix(s), b, views)

    res["ours_s"], r = best_time(ours)
    res["ours_peak_mb"] = rss_mb()
    for key in ("K", "solver", "iterations", "converged"):
        if key in r.params:
            res[key] = r.params[key]
    baselines = {
        "round_robin": lambda: np.asarray(naive_rr(s, b)[0]),
        "doubly_greedy": lambda: np.argsort(-s.max(axis=0), kind="stable")[:b],
        "mean_sim": lambda: np.argsort(-s.mean(axis=0, dtype=np.float64), kind="stable")[:b],
        "knn_uniform": lambda: dense_knn_uniform(s, 5000, 0.01, 5.0, b),
        "knn_kde": lambda: dense_knn_kde(s, x, 5000, 1000, 0.75, 0.01, 5.0, b),
        "uot": lambda: dense_uot(s, b),
    }
    if name in baselines:
        res["baseline_s"], base = best_time(baselines[name])
        if name == "knn_kde":
            base, res["prefetched_union"] = base
        res["speedup"] = res["baseline_s"] / res["ours_s"]
        res["same_top_b"] = float(np.isin(r.indices, base).mean())  # overlap of the two subsets
        res["same_order"] = bool((r.indices == base).all())
    if name == "doubly_greedy":
        # the same with the compiled kernels loaded (numba): at this size they are used only once a
        # process has loaded them (a large pass, bit queries, or importing targetsel.score.compiled)
        try:
            import targetsel.score.compiled  # noqa: F401
        except ImportError:
            pass
        else:
            sel.rank(Scores.from_matrix(tiny), min(8, tiny.shape[1]), tiny_views)
            res["ours_compiled_s"], rc = best_time(ours)
            res["speedup_compiled"] = res["baseline_s"] / res["ours_compiled_s"]
            assert (rc.indices == r.indices).all() and (rc.query_index == r.query_index).all()
    res["peak_rss_mb"] = rss_mb()
    return res


def row_stream(cfg: dict[str, Any]) -> dict[str, Any]:
    """One algorithm from the on-disk store: streaming top-k scores, then the selector."""
    from targetsel.progress import set_quiet
    from targetsel.score import FeatureViews, score
    from targetsel.select import get_selector
    from targetsel.select.base import TopKTooSmallError
    from targetsel.store import FeatureStore, InMemoryFeatures
    from targetsel.store.viewset import ViewSet

    set_quiet(True)
    warm_imports()
    m, b, name = cfg["m"], cfg["budget"], cfg["method"]
    store = FeatureStore.open(cfg["store"])
    q = InMemoryFeatures(query_rows(m, store.dim))
    sel = get_selector(name, **cfg.get("params", {}))
    res: dict[str, Any] = {"inputs_mb": rss_mb()}
    k = min(store.num_rows, sel.required_top_k(b, m))
    res["score_s"] = res["select_s"] = 0.0
    while True:  # as run_selection does: rescore with a larger top_k in the rare case a list runs out
        t = time.perf_counter()
        sc = score(q, store, top_k=k, chunk_rows=65536)
        res["score_s"] += time.perf_counter() - t
        res["top_k"] = k
        t = time.perf_counter()
        try:
            r = sel.rank(sc, b, FeatureViews(ViewSet.of(q), ViewSet.of(store)))
            res["select_s"] += time.perf_counter() - t
            break
        except TopKTooSmallError:
            res["select_s"] += time.perf_counter() - t
            k = min(store.num_rows, 4 * k)
    res["ours_s"] = res["score_s"] + res["select_s"]
    for key in ("K", "solver", "iterations", "converged", "fills"):
        if key in r.params:
            res[key] = r.params[key]
    res["peak_rss_mb"] = rss_mb()
    return res


def build_store(path: Path, n: int, dim: int) -> float:
    from targetsel.store import FeatureStore, StoreSpec

    spec = StoreSpec(representation="synthetic", model="none", dim=dim, num_rows=n, fingerprint=f"bench-{n}-{dim}")
    store = FeatureStore.create(path, spec, shard_size=65536)
    t = time.perf_counter()
    for i in store.missing_shards():
        lo, hi = store.shard_range(i)
        store.write_shard(i, candidate_rows(lo, hi, dim))
    return time.perf_counter() - t


# ----------------------------------------------------------------------------------------- driver
def run_child(kind: str, cfg: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", json.dumps({"kind": kind, **cfg})]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1], "wall_s": time.perf_counter() - t}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(res: dict[str, Any]) -> str:
    keys = [k for k in res if k not in ("kind", "store")]
    return "  ".join(f"{k}={res[k]:.3g}" if isinstance(res[k], float) else f"{k}={res[k]}" for k in keys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N/10 and M=80 for the 500-query rows")
    ap.add_argument("--rows", default="rr,dense,stream", help="comma list of row groups: rr, dense, stream")
    ap.add_argument("--methods", default=None, help="comma list: only these algorithms in the dense/stream rows")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        cfg = json.loads(args.child)
        body = {"rr": row_rr, "dense": row_dense, "stream": row_stream}[cfg["kind"]]
        print(json.dumps(body(cfg)))
        return
    groups = set(args.rows.split(","))
    only = set(args.methods.split(",")) if args.methods else None
    scale = 10 if args.quick else 1
    big_m = 80 if args.quick else 500
    n200, n2m, budget, dim = 200_000 // scale, 2_000_000 // scale, 10_000 // scale, 256
    rows: list[dict[str, Any]] = []

    def record(kind: str, cfg: dict[str, Any], label: str) -> dict[str, Any]:
        res = {"row": label, **cfg, **run_child(kind, cfg)}
        res.pop("store", None)
        rows.append(res)
        print(f"[{label}] {fmt(res)}", flush=True)
        return res

    summary: dict[str, Any] = {}
    if "rr" in groups:
        print("== round-robin on dense matrices: naive vs ours vs one pass ==", flush=True)
        record("rr", {"m": 80, "n": n200, "budget": budget}, "rr 80x200K")
        r2 = record("rr", {"m": 80, "n": n2m, "budget": budget}, "rr 80x2M")
        r3 = record("rr", {"m": big_m, "n": n2m, "budget": budget, "naive_picks": 1000 // scale}, "rr 500x2M")
        summary.update(
            rr_speedup_2m=r2.get("speedup_vs_naive"),
            rr_over_one_pass=r3.get("ours_over_one_pass"),
            peak_rss_mb=r3.get("peak_rss_mb"),
        )
    if "dense" in groups:
        print(f"== every algorithm at M={big_m}, N={n200}, d={dim}, B={budget}: ours vs dense/naive ==", flush=True)
        names = ("round_robin", "doubly_greedy", "mean_sim", "random", "uot", "knn_uniform", "knn_kde", "quantiles")
        for name in names:
            if only and name not in only:
                continue
            cfg = {"m": big_m, "n": n200, "dim": dim, "budget": budget, "method": name}
            res = record("dense", cfg, f"{name} {big_m}x{n200}")
            if name == "knn_kde":
                summary["kde_speedup_200k"] = res.get("speedup")
            if name == "doubly_greedy":
                summary["dg_speedup_200k"] = res.get("speedup")
                summary["dg_speedup_compiled_200k"] = res.get("speedup_compiled")
    if "stream" in groups:
        tmp = Path(tempfile.mkdtemp(prefix="select-bench-"))
        try:
            store = tmp / "store"
            print(f"== streaming from a FeatureStore: M={big_m}, N={n2m}, d={dim}, B={budget} ==", flush=True)
            built = build_store(store, n2m, dim)
            print(f"(store of {n2m} x {dim} float32 written in {built:.1f} s)", flush=True)
            peaks = []
            names = ("round_robin", "doubly_greedy", "mean_sim", "random", "knn_uniform", "knn_kde", "uot", "quantiles")
            variants = [(name, {}) for name in names] + [("knn_kde", {"kde_index": "ivf"})]
            for name, params in variants:
                if only and name not in only:
                    continue
                cfg = {"m": big_m, "n": n2m, "budget": budget, "method": name, "store": str(store), "params": params}
                label = f"{name}{'(' + ','.join(f'{k}={v}' for k, v in params.items()) + ')' if params else ''}"
                res = record("stream", cfg, f"{label} {big_m}x{n2m} stream")
                if "peak_rss_mb" in res:
                    peaks.append(res["peak_rss_mb"])
            summary["peak_rss_mb_2m"] = max(peaks) if peaks else None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    summary["quick"] = args.quick
    summary["cpus"] = os.cpu_count()
    summary["rows"] = rows
    print(json.dumps(summary, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v)))


if __name__ == "__main__":
    main()
