"""Speed, memory and recall of n-gram decontamination on a synthetic pool with planted copies.

A pool of 1,000,000 chat rows (``--quick``: 50,000) of 60–120 words each is generated with numpy
from a 30,000-word vocabulary drawn Zipf-like (a few words very common, as in text), and 10,000
evaluation items (``--quick``: 1,000), each a 30–60-word question and a 10–30-word answer from the
same vocabulary. One pool row in a thousand is a planted copy of a distinct item's question, in
three kinds: exact; with case, spacing and punctuation changed; inside a longer prompt.
:func:`targetsel.decontaminate.find_contamination` (13-grams) runs over the pool once; the planted
rows must be exactly the rows removed.

The baseline, run in the same process on the first 20,000 pool rows (``--quick``: 5,000): the
textbook Python loop (normalise each row, look every 13-word tuple up in a set of the items'
tuples). Reported as a rows/s ratio.

Last line: one JSON object with ``decontam_rows_per_s``, ``pool_rows``, ``items``, ``seconds``,
``peak_rss_mb`` (the process's peak, generation included), ``rss_before_mb`` (before the pass: the
pool and items in memory), ``pass_peak_rss_mb`` (the highest RSS sampled every 20 ms during the
pass: what decontamination adds is this less ``rss_before_mb``), ``found_planted`` (every planted
row found, no other row removed), ``planted``, ``removed``, ``naive_rows_per_s`` and
``speedup_vs_naive``.

Usage:
    python bench/decontam_bench.py            # 1M rows × 10K items (about 20 s to generate)
    python bench/decontam_bench.py --quick    # 50K rows × 1K items
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from _rss import PeakSampler, rss_mb


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _vocab(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct lowercase words of 2–9 letters (object array of bytes)."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    words: set[bytes] = set()
    while len(words) < size:
        n = int(rng.integers(2, 10))
        words.add(letters[rng.integers(0, 26, size=n)].tobytes())
    return np.array(sorted(words), dtype=object)


def _draw(rng: np.random.Generator, n: int, vocab_size: int) -> np.ndarray:
    """``n`` word ids, Zipf-like (rank r drawn with weight ∝ 1/r)."""
    u = rng.random(n)
    return np.minimum((np.exp(u * np.log(vocab_size + 1)) - 1).astype(np.int64), vocab_size - 1)


def _texts(vocab: np.ndarray, ids: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """Rows of ``lengths`` words each, from consecutive ``ids``."""
    joined = b" ".join(vocab[ids].tolist())
    word_len = np.fromiter((len(w) for w in vocab), dtype=np.int64, count=len(vocab))[ids] + 1
    ends = np.cumsum(word_len)[np.cumsum(lengths) - 1]
    starts = np.concatenate([[0], ends[:-1]])
    return [joined[s : e - 1] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


def _variant(kind: int, question: str, rng: np.random.Generator, vocab: np.ndarray) -> str:
    if kind == 0:
        return question
    if kind == 1:
        words = question.split(" ")
        return (
            "  ".join(w.upper() if i % 3 == 0 else w + ("," if i % 4 == 0 else "") for i, w in enumerate(words)) + "?!"
        )
    pre = b" ".join(vocab[_draw(rng, 25, len(vocab))].tolist()).decode()
    post = b" ".join(vocab[_draw(rng, 15, len(vocab))].tolist()).decode()
    return f"{pre}: {question} -- {post}"


def build(n_pool: int, n_items: int, seed: int = 0):
    """``(pool ExampleSet, items ExampleSet, planted rows)``."""
    import datasets
    import pyarrow as pa
    from datasets.table import InMemoryTable

    from targetsel.data import ExampleSet

    rng = np.random.default_rng(seed)
    vocab = _vocab(rng, 30_000)
    q_len, a_len = rng.integers(30, 61, size=n_items), rng.integers(10, 31, size=n_items)
    questions = [t.decode() for t in _texts(vocab, _draw(rng, int(q_len.sum()), len(vocab)), q_len)]
    answers = [t.decode() for t in _texts(vocab, _draw(rng, int(a_len.sum()), len(vocab)), a_len)]
    items = ExampleSet.from_records(
        [
            {"id": f"item{i}", "prompt": q, "completion": a}
            for i, (q, a) in enumerate(zip(questions, answers, strict=True))
        ],
        source="items",
    )
    n_planted = max(3, n_pool // 1000)
    planted = np.sort(rng.choice(n_pool, size=n_planted, replace=False))
    targets = rng.choice(n_items, size=n_planted, replace=False)
    chunk = 50_000
    contents: list[pa.Array] = []
    for lo in range(0, n_pool, chunk):
        hi = min(n_pool, lo + chunk)
        lengths = rng.integers(60, 121, size=hi - lo)
        rows = _texts(vocab, _draw(rng, int(lengths.sum()), len(vocab)), lengths)
        here = planted[(planted >= lo) & (planted < hi)]
        for row in here.tolist():
            j = int(np.searchsorted(planted, row))
            rows[row - lo] = _variant(j % 3, questions[int(targets[j])], rng, vocab).encode()
        contents.append(pa.array(rows, type=pa.large_binary()).cast(pa.large_string()))
        _log(f"generated {hi:,}/{n_pool:,} pool rows")
    user = pa.concat_arrays(contents)
    n = len(user)
    roles = pa.array(["user", "assistant"] * n, type=pa.large_string())
    turns = pa.StructArray.from_arrays(
        [
            roles,
            pa.concat_arrays([user, pa.array(["Sure."] * n, type=pa.large_string())]).take(
                pa.array(np.stack([np.arange(n), np.arange(n) + n], axis=1).ravel())
            ),
        ],
        names=["role", "content"],
    )
    messages = pa.LargeListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int64)), turns)
    table = pa.table({"messages": messages})
    pool = ExampleSet(datasets.Dataset(InMemoryTable(table)), [f"r{i}" for i in range(n)], source="synthetic")
    return pool, items, planted


def naive_rows_per_s(pool, items, n: int, rows: int) -> float:
    """The textbook loop: every 13-word tuple of each row looked up in a set of the items' tuples."""
    from targetsel.decontaminate import normalize_words

    grams = set()
    for msgs in items.iter_messages():
        for m in msgs:
            w = normalize_words(m["content"])
            grams.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    sample = pool.dataset.select(range(min(rows, len(pool))))["messages"]
    t0 = time.perf_counter()
    hits = 0
    for msgs in sample:
        w = normalize_words("\n".join(m["content"] for m in msgs))
        hits += any(tuple(w[i : i + n]) in grams for i in range(len(w) - n + 1))
    return len(sample) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50K pool rows, 1K items")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--items", type=int, default=None)
    args = parser.parse_args(argv)
    n_pool = args.rows or (50_000 if args.quick else 1_000_000)
    n_items = args.items or (1_000 if args.quick else 10_000)

    from targetsel.decontaminate import find_contamination

    t0 = time.perf_counter()
    pool, items, planted = build(n_pool, n_items)
    _log(f"built {len(pool):,} pool rows and {len(items):,} items in {time.perf_counter() - t0:.1f} s")
    rss_before = rss_mb()
    t0 = time.perf_counter()
    with PeakSampler() as sampler:
        found = find_contamination(pool, items)
    seconds = time.perf_counter() - t0
    removed = found.removed
    ok = removed.tolist() == planted.tolist()
    _log(f"decontaminated in {seconds:.1f} s: {len(removed)} removed, {len(planted)} planted, match={ok}")
    naive = naive_rows_per_s(pool, items, 13, 5_000 if args.quick else 20_000)
    rate = len(pool) / seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "decontam_rows_per_s": round(rate),
                "pool_rows": len(pool),
                "items": len(items),
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak),
                "rss_before_mb": round(rss_before),
                "pass_peak_rss_mb": round(sampler.peak),
                "found_planted": ok,
                "planted": len(planted),
                "removed": len(removed),
                "hash_collisions": found.hash_collisions,
                "naive_rows_per_s": round(naive),
                "speedup_vs_naive": round(rate / naive, 2),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
