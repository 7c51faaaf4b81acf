"""Scoring under torchrun: one pass spread over the ranks against the same pass in one process.

A synthetic float16 feature store (default 245,760 rows × 256, shards of 4096 rows, seeded) and
200 float32 queries. Rank 0 times the one-process streaming pass (``score(..., top_k=64)``, the
baseline, in the same process) and the same pass spread over the ranks (:mod:`targetsel.score.ranks`:
each rank scores the shards ``i % world == rank``), the best of two each (the first spread pass also
sends the queries), and a refill pass (a rescore with 30% of the rows excluded, the used mask sent as
bits). It checks that the spread pass equals the one-process pass bit for bit and counts the bytes
rank 0 received per pass. On a machine whose cores the ranks share, the time ratio says what the
messages and the merge cost, not a speed-up; with a core (or a GPU, or a node) per rank it
approaches ``1 / world``.

Last line: one JSON object with ``ranked_over_one_process`` (spread pass time / one-process time),
``one_process_s``, ``ranked_s``, ``refill_s``, ``bytes_per_pass`` (rank 0 received, one pass),
``bytes_over_store`` (that over the store's bytes), ``refill_bytes``, ``rows``, ``dim``,
``queries``, ``top_k``, ``world`` and ``identical``.

Usage:
    torchrun --nproc-per-node 2 bench/ranks_bench.py
    torchrun --nproc-per-node 3 bench/ranks_bench.py --rows 61440 --dim 128
    torchrun --nproc-per-node 2 bench/ranks_bench.py --rows 61440 --device cuda   # two ranks, one GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from targetsel.progress import set_quiet
from targetsel.score import FeatureViews, score
from targetsel.score.ranks import RankGroup
from targetsel.store import FeatureStore, StoreSpec
from targetsel.store.viewset import ViewSet


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_store(path: Path, rows: int, dim: int, shard_size: int = 4096) -> FeatureStore:
    """A float16 store of seeded Gaussian rows (rank 0 writes it; the others open it)."""
    spec = StoreSpec(representation="bench", model="none", dim=dim, num_rows=rows, fingerprint="ranks-bench",
                     dtype="float16")  # fmt: skip
    store = FeatureStore.create(path, spec, shard_size=shard_size)
    for i in store.missing_shards():
        lo, hi = store.shard_range(i)
        store.write_shard(i, np.random.default_rng(i).normal(size=(hi - lo, dim)).astype(np.float16))
    return store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=245_760)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--top-k", type=int, default=64)
    ap.add_argument("--store", type=Path, default=None, help="store directory (default: a shared temporary one)")
    ap.add_argument("--device", default=None, help="scoring device of every rank (cuda: the ranks share it)")
    args = ap.parse_args()
    set_quiet(True)
    with RankGroup.join() as group:
        where = args.store or Path(tempfile.gettempdir()) / f"targetsel-ranks-bench-{args.rows}-{args.dim}"
        if group.is_driver:
            build_store(where, args.rows, args.dim)
        group.agree()
        import torch.distributed as dist

        dist.barrier()  # the store is written before the others open it
        store = FeatureStore.open(where)
        group.attach([store])
        if not group.is_driver:
            group.serve()
            return 0
        q = np.random.default_rng(99).normal(size=(args.queries, args.dim)).astype(np.float32)
        k = args.top_k
        views = FeatureViews(ViewSet.of(q), ViewSet.of(group.sources()), device=args.device)
        one_s = ranked_s = float("inf")
        for _ in range(2):  # the best of two: the first of each also warms the caches (and sends the queries)
            t = time.perf_counter()
            one = score(q, store, top_k=k, device=args.device)
            one_s = min(one_s, time.perf_counter() - t)
            before = group.wire.received
            t = time.perf_counter()
            ranked = views.score(top_k=k)
            ranked_s = min(ranked_s, time.perf_counter() - t)
            per_pass = group.wire.received - before
        used = np.random.default_rng(7).random(args.rows) < 0.3
        before = group.wire.received
        t = time.perf_counter()
        views.rescore(top_k=k, exclude=used)
        refill_s = time.perf_counter() - t
        refill_bytes = group.wire.received - before
        fields = ("topk_indices", "topk_values", "cand_max", "cand_argmax", "cand_mean")
        identical = all(np.array_equal(getattr(one, f), getattr(ranked, f)) for f in fields)
        store_bytes = sum(p.stat().st_size for p in where.glob("shard-*.npy"))
        _log(f"one process {one_s:.2f} s, {group.world} ranks {ranked_s:.2f} s; rank 0 received {per_pass:,} bytes")
        out = {
            "ranked_over_one_process": round(ranked_s / one_s, 3),
            "one_process_s": round(one_s, 3),
            "ranked_s": round(ranked_s, 3),
            "refill_s": round(refill_s, 3),
            "bytes_per_pass": per_pass,
            "bytes_over_store": round(per_pass / store_bytes, 4),
            "refill_bytes": refill_bytes,
            "rows": args.rows,
            "dim": args.dim,
            "queries": args.queries,
            "top_k": k,
            "world": group.world,
            "device": args.device or "cpu",
            "identical": identical,
        }
        print(json.dumps(out))
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
