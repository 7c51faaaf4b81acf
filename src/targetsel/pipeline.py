"""The whole selection pipeline in one call: encode → score → select → export.

This is what ``targetsel select`` runs; the experiment harness and users' scripts call it too.

Example:
    >>> from targetsel.demo import demo_pool_path, demo_query_path
    >>> from targetsel.data import load_pool, load_queries
    >>> from targetsel.represent import LexicalRepresentation
    >>> result = run_selection(load_pool(demo_pool_path()), load_queries(demo_query_path("math")),
    ...                        LexicalRepresentation(), budgets=[100])
    >>> result.summaries[0]["budget"]
    100
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.export import check_output_dir, export
from targetsel.represent.base import Representation
from targetsel.score import Scores, score
from targetsel.select.base import Ranking, TopKTooSmallError, get_selector

logger = logging.getLogger(__name__)

__all__ = ["DENSE_LIMIT_BYTES", "SelectionResult", "parse_budgets", "run_selection", "summarize"]

#: Above this size of the dense (queries × candidates) float32 matrix, streaming-capable methods
#: score in streaming top-k form instead.
DENSE_LIMIT_BYTES = 1 << 30


@dataclass
class SelectionResult:
    """What :func:`run_selection` produced.

    Attributes:
        ranking: The ranking up to the largest budget.
        scores: The scores it was computed from.
        budgets: The budgets exported.
        outputs: ``budget -> (subset path, selection.json path)`` when an output was given.
        summaries: One summary dict per budget (see :func:`summarize`).
    """

    ranking: Ranking
    scores: Scores
    budgets: list[int]
    outputs: dict[int, tuple[Path, Path]] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)


def parse_budgets(text: str | int | Sequence[int]) -> list[int]:
    """Parse ``"500,1000,2500"`` (or an int, or a list) into sorted unique positive budgets.

    Example:
        >>> parse_budgets("1000, 500")
        [500, 1000]
    """
    if isinstance(text, (int, np.integer)):
        items: list[Any] = [int(text)]
    elif isinstance(text, str):
        items = [t.strip() for t in text.split(",") if t.strip()]
    else:
        items = list(text)
    out = set()
    for t in items:
        try:
            b = int(t)
        except (TypeError, ValueError):
            raise ConfigurationError(f"budget {t!r} is not an integer") from None
        if b <= 0:
            raise ConfigurationError(f"budget must be positive, got {b}")
        out.add(b)
    if not out:
        raise ConfigurationError("no budget given")
    return sorted(out)


def summarize(pool: ExampleSet, ranking: Ranking, scores: Scores, budget: int, top: int = 5) -> dict[str, Any]:
    """Budget, top sources and similarity statistics of the first ``budget`` picks.

    Example:
        >>> import numpy as np
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a", "source": "s"} for i in range(2)])
        >>> s = Scores.from_matrix(np.array([[0.2, 0.4]]))
        >>> summarize(pool, select(s, budget=1), s, 1)["top_sources"]
        [['s', 1]]
    """
    idx = ranking.indices[:budget]
    best = scores.candidate_best()
    src = pool.column("source")
    top_sources = Counter(src[int(i)] for i in idx).most_common(top) if src is not None else []
    return {
        "budget": int(budget),
        "method": ranking.method,
        "mean_max_similarity": float(np.mean(best[idx])),
        "pool_mean_max_similarity": float(np.mean(best)),
        "top_sources": [[str(s), int(c)] for s, c in top_sources],
    }


def run_selection(
    pool: ExampleSet,
    queries: ExampleSet,
    representation: Representation,
    *,
    method: str = "round_robin",
    method_params: dict[str, Any] | None = None,
    budgets: Sequence[int] = (1000,),
    output: str | os.PathLike[str] | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    top_k: int | None = None,
    export_format: str = "jsonl",
    chunk_rows: int = 16384,
    device: str | None = None,
) -> SelectionResult:
    """Encode, score, select and (optionally) export in one call.

    Args:
        pool: Candidate pool.
        queries: Target-task query set.
        representation: How to encode both.
        method: Registered selection method.
        method_params: Its parameters (e.g. ``{"seed": 1}`` for random).
        budgets: One or more budgets; one ranking serves all (its prefixes).
        output: Output directory; with several budgets each goes to ``budget-<B>/``.
        store_dir: Where feature stores are kept and reused; ``None`` encodes in memory.
        overwrite: Replace stores written for other inputs.
        top_k: Streaming top-k per query (``None``: dense when the matrix is under 1 GiB, else
            streaming with ``top_k = max(budgets)`` for methods that support it).
        export_format: ``jsonl`` or ``parquet``.
        chunk_rows: Candidate rows per scoring chunk.
        device: Scoring device (``cpu``/``cuda``).

    Returns:
        :class:`SelectionResult`.
    """
    budgets = parse_budgets(budgets)
    if budgets[-1] > len(pool):
        raise ConfigurationError(
            f"budget {budgets[-1]} exceeds the pool size {len(pool)}; choose a budget <= {len(pool)}"
        )
    selector = get_selector(method, **(method_params or {}))
    if output is not None:
        check_output_dir(output)
    if store_dir is not None:
        check_output_dir(store_dir)
    q_src, q_w = representation.encode_for_scoring(queries, role="query", store_dir=store_dir, overwrite=overwrite)
    c_src, c_w = representation.encode_for_scoring(pool, role="candidate", store_dir=store_dir, overwrite=overwrite)
    if q_w != c_w:
        raise ConfigurationError(f"query and candidate view weights differ ({q_w} vs {c_w})")
    too_big = len(queries) * len(pool) * 4 > DENSE_LIMIT_BYTES
    if top_k is None and selector.supports_streaming and too_big:
        top_k = min(len(pool), selector.required_top_k(budgets[-1], len(queries)))
    context: dict[str, Any] = {}
    if selector.needs_features:
        context["candidate_features"] = (c_src, c_w)
        context["query_features"] = (q_src, q_w)
        context["score_options"] = {"chunk_rows": chunk_rows, "device": device}
    while True:
        scores = score(q_src, c_src, weights=c_w, top_k=top_k or None, chunk_rows=chunk_rows, device=device)
        try:
            ranking = selector.rank(scores, budgets[-1], **context)
            break
        except TopKTooSmallError:
            if not top_k or top_k >= len(pool):
                raise
            top_k = min(len(pool), 4 * top_k)  # rare: lists ran out; one more pass, exact again
            logger.info("rescoring with top_k=%d", top_k)
    provenance = dict(scores.provenance)
    result = SelectionResult(ranking=ranking, scores=scores, budgets=budgets)
    for b in budgets:
        result.summaries.append(summarize(pool, ranking, scores, b))
        if output is not None:
            target = Path(output) if len(budgets) == 1 else Path(output) / f"budget-{b}"
            result.outputs[b] = export(
                pool, ranking[:b], target, format=export_format, queries=queries, provenance=provenance
            )
    return result
