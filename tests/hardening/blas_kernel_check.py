"""The determinism checks, compact, for one OpenBLAS kernel: run as a script in a subprocess with
``OPENBLAS_CORETYPE`` set (see ``test_blas_kernels.py``). Exits 0 when every check holds, and
prints the kernel OpenBLAS actually runs as its first line."""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def main() -> int:
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import demo_pool_path, demo_query_path
    from targetsel.pipeline import run_selection
    from targetsel.represent import LexicalRepresentation
    from targetsel.score import FeatureViews, score
    from targetsel.select.knn import KNNKDE
    from targetsel.store.viewset import ViewSet

    arch = [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"]
    print("kernel", ",".join(str(a) for a in arch), flush=True)
    failures = []
    pool, query = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    # 1. scores: the same bits for every chunk size and BLAS thread count (several blocks, a
    #    partial last one, and more query rows than one tile)
    rng = np.random.default_rng(3)
    q = rng.normal(size=(700, 64)).astype(np.float32)
    c = rng.normal(size=(9000, 64)).astype(np.float16)
    ref = None
    for chunk, threads in [(16384, 2), (4096, 1), (5000, 2), (100_000, 1)]:
        with threadpool_limits(threads):
            m = score(q, c, chunk_rows=chunk).matrix
            t = score(q, c, chunk_rows=chunk, top_k=50)
        if ref is None:
            ref = (m, t.topk_indices, t.topk_values, t.cand_mean)
        elif not (
            np.array_equal(m, ref[0])
            and np.array_equal(t.topk_indices, ref[1])
            and np.array_equal(t.topk_values, ref[2])
            and np.array_equal(t.cand_mean, ref[3])
        ):
            failures.append(f"scores differ with chunk_rows={chunk}, threads={threads}")
    # 2. whole selections: byte-identical outputs
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("round_robin", "doubly_greedy"):
            runs = []
            for i, (chunk, threads) in enumerate([(16384, 2), (1024, 1), (100_000, 1)]):
                out = Path(tmp) / f"{method}-{i}"
                with threadpool_limits(threads):
                    run_selection(
                        pool,
                        query,
                        LexicalRepresentation(),
                        method=method,
                        budgets=[50, 300],
                        output=out,
                        chunk_rows=chunk,
                    )
                runs.append(outputs(out))
            if any(r != runs[0] for r in runs[1:]):
                failures.append(f"{method}: outputs differ across chunk sizes / threads")
    # 3. KNN-KDE: two mathematically equal feature layouts give the same ranking
    rng = np.random.default_rng(9)
    q1, q2 = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    x1, x2 = rng.normal(size=(120, 6)), rng.normal(size=(120, 6))
    s = score([q1, q2], [x1, x2], weights=[0.25, 0.75])
    r1 = KNNKDE(max_neighbors=50, kde_neighbors=20).rank(s, 30, FeatureViews(None, ViewSet.of([x1, x2], [0.25, 0.75])))
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in (x1, x2)]
    z = np.concatenate([math.sqrt(0.25) * unit[0], math.sqrt(0.75) * unit[1]], axis=1).astype(np.float32)
    r2 = KNNKDE(max_neighbors=50, kde_neighbors=20).rank(s, 30, FeatureViews(None, ViewSet.of(z)))
    if not np.array_equal(r1.indices, r2.indices):
        failures.append(f"knn_kde: layouts rank differently: {r1.indices.tolist()} vs {r2.indices.tolist()}")
    for f in failures:
        print("FAIL", f, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
