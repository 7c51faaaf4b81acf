"""Fixtures of the explorer tests: a demo selection (lexical, three budgets) and a synthetic large one."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_selection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``targetsel select`` on the bundled demo (math task), lexical + round-robin, budgets 20/50/100."""
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import demo_pool_path, demo_query_path
    from targetsel.pipeline import run_selection
    from targetsel.represent import LexicalRepresentation

    out = tmp_path_factory.mktemp("explore") / "selection"
    pool, queries = load_pool(demo_pool_path()), load_queries(demo_query_path("math"))
    run_selection(pool, queries, LexicalRepresentation(), budgets=[20, 50, 100], output=out)
    return out


_TEXT = (
    "the of a to in is you that it he was for on are as with his they at be this have from or one had by word but "
    "not what all were we when your can said there use an each which she do how their if will up other about out "
    "many then them these so some her would make like him into time has look two more write go see number no way"
)


def write_synthetic_selection(folder: Path, n: int, *, n_queries: int = 200, seed: int = 0) -> Path:
    """A selection folder as ``targetsel select`` writes it, with ``n`` made-up picks (two turns each).

    Rows carry ``id``, ``source`` (12 labels, skewed) and ``messages``; pick ``i`` was chosen by
    query ``i % n_queries`` with score ``1 - i / n``. The pool and queries are recorded as in memory.
    """
    rng = random.Random(seed)
    words = _TEXT.split()
    folder.mkdir(parents=True, exist_ok=True)
    picks = []
    with open(folder / "subset.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            row = {
                "id": f"row-{i:06d}",
                "source": f"source_{min(11, int(rng.expovariate(0.4)))}",
                "messages": [
                    {"role": "user", "content": " ".join(rng.choices(words, k=25))},
                    {"role": "assistant", "content": " ".join(rng.choices(words, k=35))},
                ],
            }
            fh.write(json.dumps(row) + "\n")
            picks.append({"rank": i, "index": i, "id": row["id"], "query_index": i % n_queries, "score": 1 - i / n})
    meta = {
        "method": "round_robin",
        "params": {},
        "budget": n,
        "pool": {"source": "<memory>", "rows": 2 * n, "fingerprint": "0" * 64},
        "queries": {"source": "<memory>", "rows": n_queries, "fingerprint": "1" * 64},
        "representation": {},
        "library_version": "0.1.0",
        "picks": picks,
    }
    (folder / "selection.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def synthetic_selection():
    """:func:`write_synthetic_selection`, for tests that need a large made-up selection."""
    return write_synthetic_selection
