"""A pool that grows: encoding it after appending 1% of rows, against encoding it whole.

A synthetic pool of chat rows (default 50,100 rows of 60–180 words from a 20,000-word vocabulary
drawn Zipf-like, seeded) is encoded with the offline ``lexical`` representation into a feature
store of 250-row shards (the last one partial). Then 1% more rows are appended and the grown pool
is encoded into the same store: only the last partial shard and the new ones may be encoded, the
others are reused (:mod:`targetsel.store.grow`). Both timings start from a pool whose fingerprint
is not yet known, so each includes hashing every row (the grown pool's shard fingerprints are
what decides which shards to reuse). Reported as a ratio in the same run; before pools could
grow, the second encode was a full one (ratio ≈ 1.01).

The check, cheap: the shards encoded are exactly the expected ones, the manifest describes the
grown pool, and the rows of the re-encoded shards equal an in-memory encode of those rows.
``--verify`` also encodes the grown pool into a fresh store and compares every shard's bytes.

Last line: one JSON object with ``append_1pct_over_full`` (goal ≤ 0.05), ``full_s``,
``append_s``, ``hash_s`` (the grown pool's shard fingerprints alone), ``rows``, ``appended``,
``shard_size``, ``shards_reused``, ``shards_encoded`` and ``verified``.

Usage:
    python bench/grow_bench.py              # 50,100 rows (about a minute on 2 idle cores)
    python bench/grow_bench.py --quick      # 10,100 rows
    python bench/grow_bench.py --rows 200100 --verify
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from targetsel.data import ExampleSet
from targetsel.progress import set_quiet
from targetsel.represent import LexicalRepresentation
from targetsel.store import FeatureStore


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic_rows(n: int, *, start: int, seed: int, vocab_size: int = 20_000) -> list[dict]:
    """``n`` chat rows with ids ``r<start>``...: a 20–60-word question, a 40–120-word answer."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(vocab_size)])
    p = 1.0 / np.arange(1, vocab_size + 1)
    p /= p.sum()
    q_len, a_len = rng.integers(20, 61, n), rng.integers(40, 121, n)
    words = vocab[rng.choice(vocab_size, size=int(q_len.sum() + a_len.sum()), p=p)]
    rows, at = [], 0
    for i in range(n):
        q = " ".join(words[at : at + q_len[i]])
        at += q_len[i]
        a = " ".join(words[at : at + a_len[i]])
        at += a_len[i]
        turns = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        rows.append({"id": f"r{start + i}", "messages": turns})
    return rows


def example_set(rows: list[dict]) -> ExampleSet:
    """An :class:`ExampleSet` of already canonical rows (the validation pass is not what is measured)."""
    import datasets

    ds = datasets.Dataset.from_dict({"messages": [r["messages"] for r in rows]})
    return ExampleSet(ds, [r["id"] for r in rows], source="synthetic")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_100, help="rows of the pool before it grows")
    ap.add_argument("--quick", action="store_true", help="10,100 rows")
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--append", type=float, default=0.01, help="fraction of rows appended")
    ap.add_argument("--dim", type=int, default=1024, help="lexical hash buckets")
    ap.add_argument("--verify", action="store_true", help="also compare with a fresh encode of the grown pool")
    args = ap.parse_args()
    n = 10_100 if args.quick else args.rows
    extra = max(1, round(n * args.append))
    set_quiet(True)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    t0 = time.perf_counter()
    base_rows = synthetic_rows(n, start=0, seed=0)
    grown_rows = base_rows + synthetic_rows(extra, start=n, seed=1)
    base, grown = example_set(base_rows), example_set(grown_rows)
    _log(f"generated {n:,} + {extra:,} rows in {time.perf_counter() - t0:.1f} s")
    rep = LexicalRepresentation(dim=args.dim)
    size = args.shard_size

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        t0 = time.perf_counter()
        full = rep.encode(base, store=store, shard_size=size)
        full_s = time.perf_counter() - t0
        _log(f"full encode of {n:,} rows: {full_s:.2f} s ({full.num_shards} shards)")

        t0 = time.perf_counter()
        grew = rep.encode(grown, store=store, shard_size=size)
        append_s = time.perf_counter() - t0
        assert isinstance(full, FeatureStore) and isinstance(grew, FeatureStore)
        _log(
            f"encode after appending {extra:,} rows: {append_s:.2f} s "
            f"({len(grew.reused_shards)} shards reused, {len(grew.written_shards)} encoded)"
        )

        expected = list(range(n // size, -(-(n + extra) // size)))
        ok = grew.written_shards == expected and grew.manifest["fingerprint"] == grown.fingerprint
        for i in grew.written_shards:
            lo, hi = grew.shard_range(i)
            ok = ok and np.array_equal(grew.read_rows(lo, hi), rep.encode_rows(grown, lo, hi))
        if args.verify:
            fresh = rep.encode(grown, store=Path(tmp) / "fresh", shard_size=size)
            assert isinstance(fresh, FeatureStore)
            ok = ok and all(
                grew.shard_path(i).read_bytes() == fresh.shard_path(i).read_bytes() for i in range(fresh.num_shards)
            )

        again = example_set(grown_rows)  # a fresh copy: nothing hashed yet
        t0 = time.perf_counter()
        again.shard_fingerprints(size)
        hash_s = time.perf_counter() - t0

    ratio = append_s / full_s
    print(f"== grow: {n:,} rows + {extra:,} appended, shards of {size} ==")
    print(f"full encode      {full_s:8.2f} s")
    print(f"after appending  {append_s:8.2f} s   ({ratio:.3f} of full; goal ≤ 0.05)")
    print(f"  of which hashing the grown pool's rows {hash_s:.2f} s")
    print(f"check: {'ok' if ok else 'FAILED'}{' (bytes equal a fresh encode)' if args.verify else ''}")
    summary = {
        "append_1pct_over_full": round(ratio, 4),
        "full_s": round(full_s, 3),
        "append_s": round(append_s, 3),
        "hash_s": round(hash_s, 3),
        "rows": n,
        "appended": extra,
        "shard_size": size,
        "shards_reused": len(grew.reused_shards),
        "shards_encoded": len(grew.written_shards),
        "verified": bool(ok),
    }
    print(json.dumps(summary))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
