"""Speed and memory of "several targets, one budget": one section per part, one JSON line at the end.

Sections (each a function returning its keys; ``--section NAME`` runs one, default all):

* ``dedup``: near-duplicate control (:mod:`targetsel.select.dedup`) of a 100,000-pick ranking over
  a pool of 1,000,000 × 256 float32 rows (``--quick``: 10,000 picks over 100,000 rows). The pool
  is standard normal rows written to a memory-mapped ``.npy`` file (so the pool is not held in
  process memory; the rows the walk reads are mapped in and count in the RSS). The ranking is a
  random order of the pool; one pick in twenty, from position 1,000 on, is planted as a near-copy
  (cosine ≈ 0.98) of an earlier non-planted pick. The walk runs at ``--dedup 0.9``: random
  256-d rows have cosines near 0 (max ≈ 0.3 over all pairs walked), so the rows skipped must be
  exactly the planted rows walked. Keys: ``dedup_s`` (the walk, reading the features included),
  ``dedup_peak_mb`` (the highest RSS sampled every 20 ms during the walk), ``dedup_rss_before_mb``,
  ``dedup_picks``, ``dedup_pool_rows``, ``dedup_dim``, ``dedup_walked``, ``dedup_skipped``,
  ``dedup_planted_walked``, ``dedup_exact`` (skipped rows = planted rows walked).

* ``mixture``: a 3-target mixture (``--mix equal``, round-robin) over a pool of 1,000,000 × 256
  float32 rows, memory-mapped (``--quick``: 100,000 rows), 64 queries a target, 100,000 picks
  (``--quick``: 10,000), against each target selected alone (scoring and ranking, as
  :func:`targetsel.pipeline.run_selection` does them). The targets' queries lie near three
  different random directions, the pool rows near one of them or none, so the targets compete
  for rows. Every time is the median of three runs. Keys: ``mixture_s``
  (:func:`targetsel.pipeline.rank_targets`: one dense scoring pass
  for the union, each target's ranking, the merge), ``mixture_single_s`` (each target alone),
  ``mixture_over_single`` (``mixture_s`` over the slowest single-target time; the goal is ≤ 1.5),
  ``mixture_composition``, ``mixture_distinct`` (every pick a distinct row); one untimed
  single-target run first warms the scoring kernels and the page cache,
  ``mixture_pool_rows``, ``mixture_picks``, ``mixture_queries``.

Add a section: write ``def bench_<name>(quick: bool, tmp: Path) -> dict`` with keys prefixed
``<name>_`` and list it in ``SECTIONS``.

Usage:
    python bench/mixture_bench.py            # full sizes
    python bench/mixture_bench.py --quick    # small sizes
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from _rss import PeakSampler, rss_mb


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_dedup(quick: bool, tmp: Path) -> dict:
    from targetsel.select.dedup import DedupSettings, DedupWalk, source_reader
    from targetsel.store.viewset import ViewSet

    n, d, picks = (100_000, 256, 10_000) if quick else (1_000_000, 256, 100_000)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    pool = np.lib.format.open_memmap(tmp / "pool.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 65536):
        pool[s : s + 65536] = rng.standard_normal((min(65536, n - s), d), dtype=np.float32)
    order = rng.permutation(n)
    # plant near-copies of earlier, non-planted picks (cosine ≈ 0.98 after normalisation)
    length = picks + picks // 5
    planted = np.zeros(length, dtype=bool)
    for p in range(1000, length, 20):
        q = int(rng.integers(p))
        while planted[q]:
            q = int(rng.integers(p))
        planted[p] = True
        pool[order[p]] = pool[order[q]] + 0.2 * rng.standard_normal(d, dtype=np.float32)
    pool.flush()
    del pool
    _log(f"dedup: generated {n} x {d} pool and a ranking in {time.perf_counter() - t0:.1f} s")

    x = np.load(tmp / "pool.npy", mmap_mode="r")
    walk = DedupWalk(DedupSettings(threshold=0.9), picks, features=source_reader(ViewSet.of(x)))
    before = rss_mb()
    with PeakSampler() as peak:
        t0 = time.perf_counter()
        walk.feed(order[:length])
        seconds = time.perf_counter() - t0
    result = walk.result()
    skipped = sorted(dup.position for dup in result.duplicates)
    planted_walked = np.flatnonzero(planted[: result.walked]).tolist()
    _log(f"dedup: walked {result.walked}, kept {len(result.kept)}, skipped {len(skipped)} in {seconds:.1f} s")
    return {
        "dedup_s": round(seconds, 2),
        "dedup_peak_mb": round(peak.peak, 1),
        "dedup_rss_before_mb": round(before, 1),
        "dedup_picks": len(result.kept),
        "dedup_pool_rows": n,
        "dedup_dim": d,
        "dedup_walked": int(result.walked),
        "dedup_skipped": len(skipped),
        "dedup_planted_walked": len(planted_walked),
        "dedup_exact": skipped == planted_walked and len(result.kept) == picks,
    }


def bench_mixture(quick: bool, tmp: Path) -> dict:
    from targetsel.pipeline import rank_targets
    from targetsel.score import FeatureViews
    from targetsel.select import get_selector
    from targetsel.store.viewset import ViewSet

    n, d, m, picks = (100_000, 256, 64, 10_000) if quick else (1_000_000, 256, 64, 100_000)
    names = ["math", "dates", "code"]
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((len(names), d), dtype=np.float32)
    t0 = time.perf_counter()
    pool = np.lib.format.open_memmap(tmp / "pool.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 65536):
        k = min(65536, n - s)
        near = rng.integers(0, len(names) + 1, size=k)  # the last value: near no target
        rows = rng.standard_normal((k, d), dtype=np.float32)
        has = near < len(names)
        rows[has] += 0.5 * centres[near[has]]
        pool[s : s + k] = rows
    pool.flush()
    del pool
    x = np.load(tmp / "pool.npy", mmap_mode="r")
    candidates = ViewSet.of(x)
    views = []
    for t in range(len(names)):
        q = centres[t] + rng.standard_normal((m, d), dtype=np.float32)
        views.append(FeatureViews(ViewSet.of(q), candidates))
    _log(f"mixture: generated {n} x {d} pool and {len(names)} x {m} queries in {time.perf_counter() - t0:.1f} s")
    selector = get_selector("round_robin")
    selector.rank(views[0].score(None), picks, None)  # warm-up (first use of the scoring kernels, page cache)

    def timed(fn: Callable[[], object]) -> tuple[float, object]:
        """The median of three runs (the machine may be shared) and the last result."""
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times)), out

    single = []
    for name, v in zip(names, views, strict=True):
        single.append(timed(lambda v=v: selector.rank(v.score(None), picks, None))[0])
        _log(f"mixture: {name} alone in {single[-1]:.2f} s")
    seconds, ranking = timed(lambda: rank_targets(selector, views, names, [1.0] * len(names), picks))
    targets = ranking.extra["target"].tolist()
    composition = {name: targets.count(name) for name in names}
    _log(f"mixture: {len(names)} targets in {seconds:.1f} s, composition {composition}")
    return {
        "mixture_s": round(seconds, 2),
        "mixture_single_s": [round(t, 2) for t in single],
        "mixture_over_single": round(seconds / max(single), 2),
        "mixture_composition": composition,
        "mixture_distinct": int(np.unique(ranking.indices).size) == picks,
        "mixture_pool_rows": n,
        "mixture_picks": picks,
        "mixture_queries": m * len(names),
    }


#: The sections, in the order they run.
SECTIONS: dict[str, Callable[[bool, Path], dict]] = {"dedup": bench_dedup, "mixture": bench_mixture}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append", help="run only these sections")
    args = parser.parse_args()
    out: dict = {"quick": args.quick}
    for name, fn in SECTIONS.items():
        if args.section and name not in args.section:
            continue
        with tempfile.TemporaryDirectory(prefix=f"mixture-bench-{name}-") as tmp:
            out.update(fn(args.quick, Path(tmp)))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
