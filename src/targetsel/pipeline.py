"""The whole selection pipeline in one call: decontaminate → encode → score → select → export.

This is what ``targetsel select`` runs; the experiment harness and users' scripts call it too.

**Decontamination** (on by default, :mod:`targetsel.decontaminate`) removes, before ranking, every
pool row that overlaps an evaluation item (the query set, plus ``evaluation`` sets such as test
splits). Removal is exact: the selector ranks the clean pool, so the result is the selection on a
pool from which those rows were deleted by hand. The pool is still encoded whole and its features
read through a :class:`~targetsel.store.RowSubset` of the kept rows: a feature store keeps serving
every selection from that pool whatever the evaluation files (a sub-pool ``ExampleSet`` would have
its own fingerprint and be encoded again for each set of removed rows). A mask over the full pool's
scores was the alternative; it would have to be honoured by every selector (each algorithm's
candidate sweeps, refills and statistics) and by every summary, where a row view is invisible to
them. Picks are mapped back to rows of the whole pool, so ``selection.json`` and its readers index
the pool given, as before.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.decontaminate import CONTAMINATION_FILE, Contamination, DecontaminationSettings
from targetsel.decontaminate.features import find_feature_contamination
from targetsel.decontaminate.ngram import find_ngram_contamination
from targetsel.errors import ConfigurationError
from targetsel.export import check_output_dir, export
from targetsel.represent.base import Representation
from targetsel.score import FeatureViews, Scores
from targetsel.select.base import Ranking, Selector, TopKTooSmallError, get_selector
from targetsel.settings import DEFAULT_MEMORY_BYTES, dense_limit_bytes
from targetsel.store import InMemoryFeatures, RowSubset

logger = logging.getLogger(__name__)

__all__ = ["DENSE_LIMIT_BYTES", "SelectionResult", "parse_budgets", "run_selection", "summarize"]

#: Above this size of the dense (queries × candidates) float32 matrix, streaming-capable methods
#: score in streaming top-k form instead (the default memory budget, see :mod:`targetsel.settings`).
DENSE_LIMIT_BYTES = DEFAULT_MEMORY_BYTES


@dataclass
class SelectionResult:
    """What :func:`run_selection` produced.

    For a selector that reads no scores (``random``) the scoring pass runs only when
    :attr:`scores` or :attr:`summaries` is first read (the CLI's summary table reads them;
    ``--quiet`` does not).

    Attributes:
        ranking: The ranking up to the largest budget; indices are rows of the pool given.
        budgets: The budgets exported.
        provenance: Representation/scoring provenance (what ``Scores.provenance`` holds).
        outputs: ``budget -> (subset path, selection.json path)`` when an output was given.
        contamination: What decontamination removed (``None`` when it was off). The scores'
            candidates are the kept rows, ``contamination.clean_indices``, in order.
        contamination_path: ``contamination.jsonl`` when an output was given.
    """

    ranking: Ranking
    budgets: list[int]
    provenance: dict[str, Any]
    outputs: dict[int, tuple[Path, Path]] = field(default_factory=dict)
    contamination: Contamination | None = None
    contamination_path: Path | None = None
    _scores: Scores | None = field(default=None, repr=False)
    _score_fn: Callable[[], Scores] | None = field(default=None, repr=False)
    _summarize: Callable[[Scores, int], dict[str, Any]] | None = field(default=None, repr=False)
    _summaries: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def scores(self) -> Scores:
        """The scores the ranking was computed from (computed now if the selector needed none)."""
        if self._scores is None:
            assert self._score_fn is not None
            self._scores = self._score_fn()
        return self._scores

    @property
    def summaries(self) -> list[dict[str, Any]]:
        """One summary dict per budget (see :func:`summarize`)."""
        if self._summaries is None:
            assert self._summarize is not None
            self._summaries = [self._summarize(self.scores, b) for b in self.budgets]
        return self._summaries


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
    memory_bytes: int | None = None,
    query_dtype: str = "float",
    evaluation: Sequence[tuple[str, ExampleSet]] = (),
    decontaminate: bool | DecontaminationSettings | Contamination = True,
) -> SelectionResult:
    """Decontaminate, encode, score, select and (optionally) export in one call.

    What the selector declares it needs (:class:`~targetsel.select.base.Selector`) is acted on
    here, once: no scoring pass for a selector that reads no scores, the feature views passed to
    those that read features, streaming top-k scores for those exact on them when the dense
    matrix would exceed the memory budget.

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
        top_k: Streaming top-k per query (``None``: dense when the matrix fits the memory budget,
            else streaming with the selector's ``required_top_k`` for methods that support it).
        export_format: ``jsonl`` or ``parquet``.
        chunk_rows: Candidate rows per scoring chunk.
        device: Scoring device (``cpu``/``cuda``).
        memory_bytes: Memory budget (default :mod:`targetsel.settings`: 1 GiB or
            ``$TARGETSEL_MEMORY_BYTES``).
        query_dtype: ``float`` (default), or ``int8``/``bit``: compress the queries like int8/bit
            candidate stores and score by exact integer products (:mod:`targetsel.score.integer`).
        evaluation: ``(name, items)`` of the evaluation sets checked besides the query set (test
            splits; the name is what ``contamination.jsonl`` records, e.g. the file path).
        decontaminate: ``True`` (default: 13-gram test), ``False`` (off), the settings to use, or a
            :class:`~targetsel.decontaminate.Contamination` already computed for this pool (used
            as it is; ``evaluation`` is then not read).

    Returns:
        :class:`SelectionResult`.
    """
    # Over 80 lines by its docstring (every argument documented); the body is a list of steps.
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
    sets = [("query", queries), *evaluation]
    contamination = _contamination(pool, sets, decontaminate)
    if contamination is not None:
        _check_clean_budget(budgets[-1], contamination)
    q_src, q_w = representation.encode_for_scoring(queries, role="query", store_dir=store_dir, overwrite=overwrite)
    c_src, c_w = representation.encode_for_scoring(pool, role="candidate", store_dir=store_dir, overwrite=overwrite)
    if (
        contamination is not None
        and contamination.settings.threshold is not None
        and isinstance(decontaminate, (bool, DecontaminationSettings))
    ):
        items_src = _item_features(representation, q_src, sets[1:], store_dir, overwrite)
        views = FeatureViews.from_encoded(items_src, q_w, c_src, c_w, device=device, memory_bytes=memory_bytes)
        found = find_feature_contamination(
            views, pool, sets, contamination.settings.threshold, settings=contamination.settings
        )
        contamination = contamination.merged(found)
        _check_clean_budget(budgets[-1], contamination)
    clean = None
    if contamination is not None and len(contamination.matches):
        clean = contamination.clean_indices
        c_src = [RowSubset(c, clean) for c in c_src]
    sub_pool = pool if clean is None else pool.select(clean)
    views = FeatureViews.from_encoded(
        q_src, q_w, c_src, c_w, chunk_rows=chunk_rows, device=device, memory_bytes=memory_bytes, query_dtype=query_dtype
    )
    top_k = _top_k(selector, top_k, len(queries), len(sub_pool), budgets[-1], views.memory_bytes)
    reads_features = selector.requires_features != "never" or not selector.requires_scores
    scores: Scores | None
    if selector.requires_scores:
        ranking, scores, top_k = _rank_scored(selector, views, top_k, budgets[-1], len(sub_pool), reads_features)
        provenance = dict(scores.provenance)
    else:
        scores = None
        ranking = selector.rank(None, budgets[-1], views)
        provenance = views.provenance(top_k)
    result = SelectionResult(
        ranking=ranking if clean is None else _on_pool(ranking, clean, len(pool)),
        budgets=budgets,
        provenance=provenance,
        contamination=contamination,
        _scores=scores,
        _score_fn=lambda: views.score(top_k),
        _summarize=lambda sc, b: summarize(sub_pool, ranking, sc, b),
    )
    if scores is not None:
        result.summaries  # noqa: B018  (computed now, as before: the scores are at hand)
    if output is not None:
        _export(result, pool, queries, Path(output), export_format)
    return result


def _contamination(
    pool: ExampleSet, sets: list[tuple[str, ExampleSet]], decontaminate: bool | DecontaminationSettings | Contamination
) -> Contamination | None:
    """The n-gram part of decontamination (the feature part needs features: later), or ``None`` when off."""
    if isinstance(decontaminate, Contamination):
        if decontaminate.n_pool != len(pool):
            raise ConfigurationError(
                f"the contamination given was found on a pool of {decontaminate.n_pool} rows, "
                f"not this one of {len(pool)}"
            )
        return decontaminate
    if decontaminate is False or decontaminate is None:
        return None
    settings = DecontaminationSettings() if decontaminate is True else decontaminate
    if settings.ngram is not None:
        return find_ngram_contamination(pool, sets, settings)
    return Contamination(n_pool=len(pool), settings=settings, sets=[(n, es.source, len(es)) for n, es in sets])


def _check_clean_budget(budget: int, contamination: Contamination) -> None:
    kept = contamination.n_pool - len(contamination.matches)
    if budget > kept:
        raise ConfigurationError(
            f"budget {budget} exceeds the {kept} pool rows left after decontamination "
            f"({len(contamination.matches)} of {contamination.n_pool} removed); choose a budget <= {kept}"
        )


def _item_features(
    representation: Representation,
    q_src: list[Any],
    others: list[tuple[str, ExampleSet]],
    store_dir: str | os.PathLike[str] | None,
    overwrite: bool,
) -> list[Any]:
    """One source per view with every evaluation item's features: the queries', then each other set's."""
    if not others:
        return q_src
    encoded = [
        representation.encode_for_scoring(es, role="query", store_dir=store_dir, overwrite=overwrite)[0]
        for _, es in others
    ]
    return [
        InMemoryFeatures(np.concatenate([np.asarray(src.to_array(), dtype=np.float32) for src in (q, *rest)]))
        for q, *rest in zip(q_src, *encoded, strict=True)
    ]


def _on_pool(ranking: Ranking, clean: np.ndarray, n: int) -> Ranking:
    """A ranking of the clean pool as rows of the whole pool (``clean[i]`` for pick ``i``)."""
    return Ranking(
        clean[ranking.indices], ranking.query_index, ranking.scores, ranking.method, ranking.params, n, ranking.extra
    )


def _export(result: SelectionResult, pool: ExampleSet, queries: ExampleSet, output: Path, export_format: str) -> None:
    """Every budget's files and, when decontamination ran, ``contamination.jsonl`` beside them."""
    single = len(result.budgets) == 1
    block = None
    if result.contamination is not None:
        if output.suffix.lower() in (".jsonl", ".parquet"):
            path = output.with_name(f"{output.stem}.{CONTAMINATION_FILE}")
        else:
            path = output / CONTAMINATION_FILE
        output_dir = path.parent
        output_dir.mkdir(parents=True, exist_ok=True)
        result.contamination.write(path)
        result.contamination_path = path
        block = result.contamination.block(path.name if single else f"../{path.name}")
    for b in result.budgets:
        target = output if single else output / f"budget-{b}"
        result.outputs[b] = export(
            pool,
            result.ranking[:b],
            target,
            format=export_format,
            queries=queries,
            provenance=result.provenance,
            decontamination=block,
        )


def _rank_scored(
    selector: Selector, views: FeatureViews, top_k: int | None, budget: int, n: int, reads_features: bool
) -> tuple[Ranking, Scores, int | None]:
    """Score and rank; a selector whose neighbour lists run dry gets one more pass with a 4x ``top_k``.

    Returns:
        ``(ranking, scores, top_k)``, ``top_k`` the one the scores were computed with.
    """
    while True:
        scores = views.score(top_k)
        try:
            return selector.rank(scores, budget, views if reads_features else None), scores, top_k
        except TopKTooSmallError:
            # the knn selectors' neighbour lists (round-robin windows refill through the views
            # instead, and never get here): one more pass with a 4x top_k, recorded in the provenance
            if not top_k or top_k >= n:
                raise
            top_k = min(n, 4 * top_k)
            logger.info("rescoring with top_k=%d", top_k)


def _top_k(selector: Selector, top_k: int | None, m: int, n: int, budget: int, memory_bytes: int) -> int | None:
    """The streaming ``top_k`` to score with: the caller's (0: dense), else streaming only when the
    dense matrix would exceed the memory budget and the selector is exact on streaming scores."""
    if top_k is None and selector.supports_streaming and m * n * 4 > dense_limit_bytes(memory_bytes):
        top_k = min(n, selector.required_top_k(budget, m, memory_bytes))
    return top_k or None
