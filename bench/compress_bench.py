"""Fidelity and speed of int8 and 1-bit feature stores against float32.

Two feature sets:

* **real**: LESS gradient features (8192 dims) of the offline SmolLM2-135M-Instruct after a short
  LESS warmup (5% of the sample, one epoch, one checkpoint), for a seeded family-stratified sample
  of the demo pool (1,000 rows; ``--quick``: 300) and the three demo query sets (dev split). The
  float32 stores are compressed with :func:`targetsel.store.compress_store` (``targetsel store
  compress``), so the int8/bit bytes are exactly what a user gets.
* **synthetic**: the LESS-shaped clustered features of ``bench/scale_bench.py`` (8192 dims,
  20,000 candidates and 200 queries; ``--quick``: 5,000).

For each task and dtype it reports, against float32 (queries always float32, the asymmetric
estimator; ``int8+int_mm`` and ``bit+popcount`` also compress the queries: ``query_dtype="int8"``
/ ``"bit"``): Pearson and
Spearman of the query × candidate similarities, the overlap of the round-robin subset at budgets
of 1%, 5% and 10% of the pool, the precision-by-source of that subset (real features: the share
of picks from the task's own families) and the store bytes. Speed: one streaming scoring pass per
dtype on the synthetic store, as a ratio to float32 measured in the same run (best of 3), and
the int8 product (``torch._int_mm``) against widening int8 to float32 for the same product.

The features are cached in ``--work`` (default: ``$TARGETSEL_CACHE/compress-bench``), so a rerun
only measures. Last line: one JSON object with ``int8_pearson``, ``bit_pearson``,
``int8_overlap_5pct``, ``bit_overlap_5pct``, ``int8_bytes_ratio``, ``bit_bytes_ratio`` (real
features, the worst task) and the other figures.

Usage:
    python bench/compress_bench.py            # 1,000 pool rows (LESS features take ~10 min on 2 cores)
    python bench/compress_bench.py --quick    # 300 rows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_bench import synthetic_rows
from targetsel.progress import set_quiet
from targetsel.score import DenseScores, score
from targetsel.select import get_selector
from targetsel.store import FeatureStore, StoreSpec, compress_store

DTYPES = ("int8", "bit")
BUDGETS = (0.01, 0.05, 0.10)


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).glob("*.npy"))


def real_features(work: Path, rows: int) -> dict[str, Any]:
    """LESS features of the demo pool sample and the three query sets (cached in ``work``).

    The store paths are written to ``work/features-<rows>.json`` once everything is encoded; a rerun
    reads them back (a warmup rerun on another machine or thread count need not give the same
    adapter bits, so the features are reused rather than re-derived).
    """
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import DEMO_TASKS, RELEVANT_SOURCES, demo_pool_path, demo_query_path
    from targetsel.represent import GradientRepresentation
    from targetsel.train.checkpoints import find_checkpoints
    from targetsel.train.config import TrainConfig
    from targetsel.train.core import warmup
    from targetsel.train.demo import _sample

    pool = _sample(load_pool(demo_pool_path()), rows)
    index = work / f"features-{rows}.json"
    if index.is_file():
        saved = json.loads(index.read_text())
        c_src, c_w = [FeatureStore.open(p) for p in saved["candidates"]], saved["weights"]
        queries = {t: ([FeatureStore.open(p) for p in q], saved["weights"]) for t, q in saved["queries"].items()}
        encode_s = saved["encode_s"]
    else:
        out = work / f"warmup-{len(pool)}"
        if (out / "final").is_dir():
            ckpts = find_checkpoints(out)
        else:
            config = TrainConfig(
                epochs=1, effective_batch_size=8, per_device_batch_size=4, max_length=128, learning_rate=1e-4
            )
            ckpts = warmup("smollm2-135m", pool, out, fraction=0.05, seed=0, config=config)
        rep = GradientRepresentation("smollm2-135m", checkpoints=ckpts, dim=8192, max_length=128, batch_size=8)
        stores = work / "stores"
        t0 = time.perf_counter()
        candidates = rep.encode_for_scoring(pool, role="candidate", store_dir=stores)
        c_src, c_w = list(candidates.sources), list(candidates.weights)
        queries = {}
        for t in DEMO_TASKS:
            side = rep.encode_for_scoring(load_queries(demo_query_path(t, "dev")), role="query", store_dir=stores)
            queries[t] = (list(side.sources), list(side.weights))
        encode_s = time.perf_counter() - t0
        saved = {
            "candidates": [str(c.path) for c in c_src],
            "weights": list(c_w),
            "queries": {t: [str(q.path) for q in src] for t, (src, _) in queries.items()},
            "encode_s": encode_s,
        }
        index.write_text(json.dumps(saved, indent=1))
    tasks = {t: {"queries": q, "weights": w, "relevant": RELEVANT_SOURCES[t]} for t, (q, w) in queries.items()}
    return {
        "pool": pool,
        "candidates": c_src,
        "weights": c_w,
        "tasks": tasks,
        "encode_s": encode_s,
        "sources": np.asarray(pool.column("source")),
    }


def compressed(candidates: list[FeatureStore], work: Path, dtype: str) -> list[FeatureStore]:
    out = []
    for c in candidates:
        target = work / f"{c.path.name}-{dtype}"
        out.append(compress_store(c.path, target, dtype))
    return out


def rr_subset(s: np.ndarray, budget: int) -> np.ndarray:
    return get_selector("round_robin").rank(DenseScores(*s.shape, matrix=s), budget).indices[:budget]


def compare(ref: np.ndarray, other: np.ndarray, n: int, relevant: np.ndarray | None) -> dict[str, float]:
    from scipy.stats import spearmanr

    out = {
        "pearson": float(np.corrcoef(ref.ravel(), other.ravel())[0, 1]),
        "spearman": float(spearmanr(ref.ravel(), other.ravel()).statistic),
    }
    for frac in BUDGETS:
        b = max(1, round(frac * n))
        a, o = rr_subset(ref, b), rr_subset(other, b)
        out[f"overlap_{round(frac * 100)}pct"] = len(np.intersect1d(a, o)) / b
        if relevant is not None:
            out[f"precision_{round(frac * 100)}pct"] = float(relevant[o].mean())
            out[f"precision_{round(frac * 100)}pct_float32"] = float(relevant[a].mean())
    return out


def fidelity(queries: list, candidates: dict[str, list], weights: list, relevant: np.ndarray | None) -> dict:
    ref = score(queries, candidates["float32"], weights=weights).matrix
    n = ref.shape[1]
    res = {}
    for name, (cands, qdtype) in {
        "int8": (candidates["int8"], "float"),
        "int8+int_mm": (candidates["int8"], "int8"),
        "bit": (candidates["bit"], "float"),
        "bit+popcount": (candidates["bit"], "bit"),
    }.items():
        s = score(queries, cands, weights=weights, query_dtype=qdtype).matrix
        res[name] = compare(ref, s, n, relevant)
    return res


def synthetic(work: Path, n: int, m: int, dim: int = 8192) -> dict[str, Any]:
    spec = StoreSpec(representation="synthetic", model="none", dim=dim, num_rows=n, fingerprint=f"syn-{n}-{dim}")
    base = FeatureStore.create(work / f"syn-{n}-float32", spec, shard_size=4096)
    for i in base.missing_shards():
        lo, hi = base.shard_range(i)
        base.write_shard(i, synthetic_rows(1000 + i, hi - lo, dim))
    f16 = FeatureStore.create(
        work / f"syn-{n}-float16", StoreSpec(**{**spec.__dict__, "dtype": "float16"}), shard_size=4096
    )
    for i in f16.missing_shards():
        lo, hi = f16.shard_range(i)
        f16.write_shard(i, base.read_rows(lo, hi))
    stores = {"float32": [base], "float16": [f16]}
    for d in DTYPES:
        stores[d] = compressed([base], work, d)
    return {"stores": stores, "queries": synthetic_rows(7, m, dim)}


def scoring_speed(queries: np.ndarray, stores: dict[str, list], top_k: int = 64) -> dict[str, float]:
    """Seconds of one streaming scoring pass per dtype (best of 3)."""
    times = {}
    for name, (src, qdtype) in {
        "float32": (stores["float32"], "float"),
        "float16": (stores["float16"], "float"),
        "int8": (stores["int8"], "float"),
        "int8+int_mm": (stores["int8"], "int8"),
        "bit": (stores["bit"], "float"),
        "bit+popcount": (stores["bit"], "bit"),
    }.items():
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            score(queries, src, top_k=top_k, query_dtype=qdtype)
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    return times


def int8_product_speed(dim: int = 8192, m: int = 512, width: int = 4096) -> dict[str, float]:
    """One (m, dim) @ (dim, width) product: int8 × int8 → int32 (torch._int_mm) vs widened float32."""
    import torch

    rng = np.random.default_rng(0)
    qi = torch.from_numpy(rng.integers(-127, 128, (m, dim), dtype=np.int8))
    xi = rng.integers(-127, 128, (width, dim), dtype=np.int8)
    qf = qi.float().numpy()
    buf = np.empty((width, dim), np.float32)

    def widen() -> None:
        buf[...] = xi
        np.matmul(qf, buf.T)

    def int_mm() -> None:
        torch._int_mm(qi, torch.from_numpy(xi).T)

    out = {}
    for name, fn in (("widen_float32", widen), ("int8_mm", int_mm)):
        fn()
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out[name] = best
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1000, help="Demo pool rows with LESS features.")
    p.add_argument("--synthetic", type=int, default=20000, help="Synthetic candidates.")
    p.add_argument("--quick", action="store_true", help="300 pool rows, 5,000 synthetic candidates.")
    p.add_argument("--work", type=Path, default=None, help="Cache folder of the features (reused).")
    args = p.parse_args()
    if args.quick:
        args.rows, args.synthetic = 300, 5000
    from targetsel.models import model_cache_dir

    work = args.work or model_cache_dir().parent / "compress-bench"
    work.mkdir(parents=True, exist_ok=True)
    set_quiet(True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    real = real_features(work, args.rows)
    f32 = [FeatureStore.open(c.path) for c in real["candidates"]]
    cands = {"float32": f32, **{d: compressed(f32, work, d) for d in DTYPES}}
    bytes_ = {name: sum(store_bytes(c.path) for c in srcs) for name, srcs in cands.items()}
    print(f"real features: {len(real['pool'])} rows × 8192, {len(f32)} checkpoint(s), encode {real['encode_s']:.0f} s")
    print("store bytes: " + ", ".join(f"{k} {v:,} ({v / bytes_['float32']:.4f}×)" for k, v in bytes_.items()))
    per_task = {}
    for t, info in real["tasks"].items():
        relevant = np.isin(real["sources"], info["relevant"])
        per_task[t] = fidelity(info["queries"], cands, info["weights"], relevant)
        for name, r in per_task[t].items():
            print(
                f"{t:10s} {name:13s} pearson {r['pearson']:.5f} spearman {r['spearman']:.5f} "
                f"overlap 1/5/10% {r['overlap_1pct']:.3f}/{r['overlap_5pct']:.3f}/{r['overlap_10pct']:.3f} "
                f"precision@5% {r['precision_5pct']:.3f} (float32 {r['precision_5pct_float32']:.3f})"
            )

    syn = synthetic(work, args.synthetic, 200)
    syn_fid = fidelity([syn["queries"]], {k: v for k, v in syn["stores"].items()}, [1.0], None)
    for name, r in syn_fid.items():
        print(
            f"synthetic  {name:13s} pearson {r['pearson']:.5f} spearman {r['spearman']:.5f} "
            f"overlap 1/5/10% {r['overlap_1pct']:.3f}/{r['overlap_5pct']:.3f}/{r['overlap_10pct']:.3f}"
        )
    speed = scoring_speed(syn["queries"], syn["stores"])
    print("scoring pass (s): " + ", ".join(f"{k} {v:.3f} ({v / speed['float32']:.2f}×)" for k, v in speed.items()))
    prod = int8_product_speed()
    print(f"int8 product: torch._int_mm {prod['int8_mm']:.4f} s vs widen + float32 {prod['widen_float32']:.4f} s")

    def worst(dtype: str, key: str) -> float:
        return min(per_task[t][dtype][key] for t in per_task)

    def max_gap(dtype: str) -> float:
        return max(
            abs(per_task[t][dtype][f"precision_{b}pct"] - per_task[t][dtype][f"precision_{b}pct_float32"])
            for t in per_task
            for b in (1, 5, 10)
        )

    result = {
        "rows": len(real["pool"]),
        "int8_pearson": worst("int8", "pearson"),
        "bit_pearson": worst("bit", "pearson"),
        "bit_popcount_pearson": worst("bit+popcount", "pearson"),
        "int8_spearman": worst("int8", "spearman"),
        "bit_spearman": worst("bit", "spearman"),
        "int8_overlap_1pct": worst("int8", "overlap_1pct"),
        "int8_overlap_5pct": worst("int8", "overlap_5pct"),
        "int8_overlap_10pct": worst("int8", "overlap_10pct"),
        "bit_overlap_1pct": worst("bit", "overlap_1pct"),
        "bit_overlap_5pct": worst("bit", "overlap_5pct"),
        "bit_overlap_10pct": worst("bit", "overlap_10pct"),
        "bit_popcount_overlap_5pct": worst("bit+popcount", "overlap_5pct"),
        "int8_precision_gap": max_gap("int8"),
        "bit_precision_gap": max_gap("bit"),
        "int8_bytes_ratio": bytes_["int8"] / bytes_["float32"],
        "bit_bytes_ratio": bytes_["bit"] / bytes_["float32"],
        "synthetic_int8_pearson": syn_fid["int8"]["pearson"],
        "synthetic_bit_pearson": syn_fid["bit"]["pearson"],
        "synthetic_int8_overlap_5pct": syn_fid["int8"]["overlap_5pct"],
        "synthetic_bit_overlap_5pct": syn_fid["bit"]["overlap_5pct"],
        "score_s": speed,
        "score_over_float32": {k: v / speed["float32"] for k, v in speed.items()},
        "int8_mm_over_widen": prod["int8_mm"] / prod["widen_float32"],
        "per_task": per_task,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
