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
the pool given.

**Near-duplicate control** (off by default, :mod:`targetsel.select.dedup`) walks the selector's
finished ranking and skips a candidate too similar to an earlier kept pick. To meet the budget the
selector is asked for a ranking a quarter longer than the largest budget, and for a longer one
(twice as long, up to the whole pool) while the walk runs out before the budget: every selector's
ranking for a budget is a prefix of its ranking for a larger one, so the walk continues where it
stopped (it restarts, should a ranking not extend the previous one). When even the whole pool
leaves fewer rows than the budget, the run fails before anything is written, naming how many rows
remain.

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
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.cleanup import undo_on_failure
from targetsel.data import ExampleSet
from targetsel.decontaminate import Contamination, DecontaminationSettings
from targetsel.decontaminate.features import find_feature_contamination
from targetsel.decontaminate.ngram import find_ngram_contamination
from targetsel.errors import ConfigurationError
from targetsel.export import SelectionArtifact, check_output_dir
from targetsel.represent.base import Representation
from targetsel.score import FeatureViews, Scores
from targetsel.score.ranks import RankGroup
from targetsel.select.base import Ranking, Selector, TopKTooSmallError, get_selector
from targetsel.select.dedup import DedupResult, DedupSettings, DedupWalk, pool_texts, source_reader
from targetsel.select.mixture import MixSettings, check_distinct_queries, interleave, merge_rankings
from targetsel.settings import dense_limit_bytes, memory_budget
from targetsel.store.viewset import ViewSet

logger = logging.getLogger(__name__)

__all__ = ["SelectionResult", "parse_budgets", "rank_targets", "run_selection", "summarize"]


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
        contamination_path: The contamination report when an output was given.
        dedup: What near-duplicate control skipped (``None`` when it was off); indices are pool rows.
        dedup_path: The near-duplicate report when an output was given.
        targets: With several targets, ``(name, query set)`` of each, in order (``None``: one target).
        mix: With several targets, how they share the picks.
        distributed: Under torchrun, the world size and the pool rows each rank scored (``None``: one process).
    """

    ranking: Ranking
    budgets: list[int]
    provenance: dict[str, Any]
    outputs: dict[int, tuple[Path, Path]] = field(default_factory=dict)
    contamination: Contamination | None = None
    contamination_path: Path | None = None
    dedup: DedupResult | None = None
    dedup_path: Path | None = None
    targets: list[tuple[str, ExampleSet]] | None = None
    mix: MixSettings | None = None
    distributed: dict[str, Any] | None = None
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
        items = [t.strip() for t in text.split(",")]
        if "" in items and any(items):  # "500,,1000" or "500,": a typo, not a request for fewer budgets
            raise ConfigurationError(f"budgets {text!r} has an empty entry; give them as e.g. 500,1000,2500")
        items = [t for t in items if t]
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


def summarize(
    pool: ExampleSet,
    ranking: Ranking,
    scores: Scores,
    budget: int,
    top: int = 5,
    targets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Budget, top sources and similarity statistics of the first ``budget`` picks.

    With several ``targets`` (names, in order), ``composition`` is ``[[name, picks], ...]``.

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
    out: dict[str, Any] = {
        "budget": int(budget),
        "method": ranking.method,
        "mean_max_similarity": float(np.mean(best[idx])),
        "pool_mean_max_similarity": float(np.mean(best)),
        "top_sources": [[str(s), int(c)] for s, c in top_sources],
    }
    if targets is not None:  # several targets: the picks each target took
        counts = Counter(ranking.extra["target"][:budget].tolist())
        out["composition"] = [[str(t), int(counts.get(t, 0))] for t in targets]
    return out


def run_selection(
    pool: ExampleSet,
    queries: ExampleSet | Mapping[str, ExampleSet],
    representation: Representation,
    *,
    mix: str | MixSettings | None = None,
    method: str = "round_robin",
    method_params: dict[str, Any] | None = None,
    budgets: Sequence[int] = (1000,),
    output: str | os.PathLike[str] | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    top_k: int | None = None,
    export_format: str | None = None,
    chunk_rows: int = 16384,
    device: str | None = None,
    memory_bytes: int | None = None,
    query_dtype: str = "float",
    evaluation: Sequence[tuple[str, ExampleSet]] = (),
    decontaminate: bool | DecontaminationSettings | Contamination = True,
    dedup: DedupSettings | None = None,
    dedup_representation: Representation | None = None,
    ranks: RankGroup | None = None,
) -> SelectionResult:
    """Decontaminate, encode, score, select and (optionally) export in one call.

    What the selector declares it needs (:class:`~targetsel.select.base.Selector`) is acted on
    here, once: no scoring pass for a selector that reads no scores, the feature views passed to
    those that read features, streaming top-k scores for those exact on them when the dense
    matrix would exceed the memory budget.

    Args:
        pool: Candidate pool.
        queries: Target-task query set, or ``{name: query set}`` for several targets sharing the
            budget (one entry: as a single query set).
        representation: How to encode both.
        mix: With several targets, how they share the picks (:class:`~targetsel.select.mixture.MixSettings`
            or its text: ``equal`` (default), ``proportional``, ``weights:a=2,b=1``, ``joint``).
        method: Registered selection method.
        method_params: Its parameters (e.g. ``{"seed": 1}`` for random).
        budgets: One or more budgets; one ranking serves all (its prefixes).
        output: Output directory; with several budgets each goes to ``budget-<B>/``.
        store_dir: Where feature stores are kept and reused; ``None`` encodes in memory.
        overwrite: Replace stores written for other inputs.
        top_k: Streaming top-k per query (``None``: dense when the matrix fits the memory budget,
            else streaming with the selector's ``required_top_k`` for methods that support it).
        export_format: One of :data:`targetsel.export.EXPORT_FORMATS`; default: the ``output``
            file's (``sub.parquet``), else ``jsonl``.
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
        dedup: Near-duplicate control (``None``: off), see :mod:`targetsel.select.dedup`.
        dedup_representation: With ``dedup.by == "embed"``, the representation encoding the
            walked rows (default :class:`~targetsel.represent.EmbedRepresentation`).
        ranks: Under torchrun, rank 0's :class:`~targetsel.score.ranks.RankGroup` (the other ranks
            run :func:`targetsel.distributed.serve_selection`): each rank encodes and scores its
            shards of the pool; the result equals a one-process run.

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
    targets, mix_settings, weights = _targets(queries, mix)
    if output is not None:
        artifact = SelectionArtifact(output)
        artifact.check_writable(budgets)
        artifact.format_for(export_format)  # a format the output cannot take: refused before any work
    if store_dir is not None:
        check_output_dir(store_dir)
    sets = [("query", targets[0][1])] if len(targets) == 1 else list(targets)
    sets += list(evaluation)
    contamination = _contamination(pool, sets, decontaminate)
    if contamination is not None:
        _check_clean_budget(budgets[-1], contamination)
    memory_bytes = memory_budget(memory_bytes)
    encoded = [
        representation.encode_for_scoring(es, role="query", store_dir=store_dir, overwrite=overwrite)
        for _, es in targets
    ]
    if ranks is not None:
        from targetsel.distributed import encode_candidates

        candidates = encode_candidates(ranks, representation, pool, store_dir=store_dir, overwrite=overwrite)
    else:
        candidates = representation.encode_for_scoring(pool, role="candidate", store_dir=store_dir, overwrite=overwrite)
    if (
        contamination is not None
        and contamination.settings.threshold is not None
        and isinstance(decontaminate, (bool, DecontaminationSettings))
    ):
        items = _item_features(representation, encoded[0], sets[1:], store_dir, overwrite)
        views = FeatureViews(items, candidates, device=device, memory_bytes=memory_bytes)
        found = find_feature_contamination(
            views, pool, sets, contamination.settings.threshold, settings=contamination.settings
        )
        contamination = contamination.merged(found)
        _check_clean_budget(budgets[-1], contamination)
    clean = None
    if contamination is not None and len(contamination.matches):
        clean = contamination.clean_indices
        candidates = candidates.subset(clean)
    sub_pool = pool if clean is None else pool.select(clean)

    def views_of(queries: ViewSet) -> FeatureViews:
        return FeatureViews(
            queries,
            candidates,
            chunk_rows=chunk_rows,
            device=device,
            memory_bytes=memory_bytes,
            query_dtype=query_dtype,
        )

    views = views_of(ViewSet.stack(encoded))
    length = budgets[-1] if dedup is None else _first_length(budgets[-1], len(sub_pool))
    n_queries = sum(len(es) for _, es in targets)
    top_k = _top_k(selector, top_k, n_queries, len(sub_pool), length, views.memory_bytes)
    base_ranker = _Ranker(selector, views, top_k, len(sub_pool))
    ranker: _Ranker | _MixtureRanker = base_ranker
    if len(targets) > 1:
        joint = mix_settings.kind == "joint"
        per_target = [] if joint else [views_of(queries) for queries in encoded]
        sizes = [len(es) for _, es in targets]
        ranker = _MixtureRanker.build(
            base_ranker, per_target, [n for n, _ in targets], sizes, None if joint else weights
        )
    ranking = ranker(length)
    deduped = None
    if dedup is not None:
        walk = _walk(dedup, budgets[-1], sub_pool, candidates, dedup_representation)
        ranking, deduped = _deduplicate(ranker, ranking, walk, budgets[-1], len(sub_pool))
    scores, top_k = ranker.scores, ranker.top_k
    provenance = dict(scores.provenance) if scores is not None else views.provenance(top_k)
    names = None if len(targets) == 1 else [name for name, _ in targets]
    result = SelectionResult(
        ranking=ranking if clean is None else _on_pool(ranking, clean, len(pool)),
        budgets=budgets,
        provenance=provenance,
        contamination=contamination,
        dedup=deduped if deduped is None or clean is None else deduped.on_rows(clean),
        targets=None if names is None else targets,
        mix=None if names is None else mix_settings,
        distributed=None if ranks is None else ranks.record(),
        _scores=scores,
        _score_fn=lambda: views.score(top_k),
        _summarize=lambda sc, b: summarize(sub_pool, ranking, sc, b, targets=names),
    )
    if scores is not None:
        result.summaries  # noqa: B018  (computed now: the scores are at hand)
    if output is not None:
        artifact = SelectionArtifact(output)
        # a failure half-way (a full disk, an unwritable folder) leaves no partial budget folders behind
        with nullcontext() if artifact.is_file else undo_on_failure(artifact.path):
            _export(result, pool, targets[0][1] if names is None else None, artifact, export_format)
    return result


def rank_targets(
    selector: Selector,
    views: Sequence[FeatureViews],
    names: Sequence[str],
    weights: Sequence[float] | None,
    length: int,
    top_k: int | None = None,
) -> Ranking:
    """The merged ranking of several targets over one pool: the ranking step of :func:`run_selection`.

    Args:
        selector: The selection method, run on each target's queries.
        views: One :class:`~targetsel.score.FeatureViews` per target, all over the same candidates.
        names: The targets' names (the ranking's ``target`` extra).
        weights: The targets' weights (:meth:`~targetsel.select.mixture.MixSettings.weights_for`), or
            ``None`` for ``joint`` (the union of the query sets ranked as one).
        length: Picks wanted.
        top_k: Streaming top-k per query (``None``: dense when the union's matrix fits the memory budget).

    Example:
        >>> import numpy as np
        >>> from targetsel.score import FeatureViews
        >>> c = ViewSet.of(np.eye(4, dtype=np.float32))
        >>> v = [FeatureViews(ViewSet.of(np.eye(4, dtype=np.float32)[[i]]), c) for i in (0, 1)]
        >>> r = rank_targets(get_selector("round_robin"), v, ["a", "b"], [1.0, 1.0], 4)
        >>> r.indices[:2].tolist(), r.extra["target"].tolist()
        ([0, 1], ['a', 'b', 'a', 'b'])
    """
    from dataclasses import replace

    queries = [v.queries for v in views if v.queries is not None]
    if len(queries) != len(views):
        raise ConfigurationError("rank_targets needs each target's query features in its views")
    joint_views = replace(views[0], queries=ViewSet.stack(queries))
    n = joint_views.n_candidates
    sizes = [q.n_rows for q in queries]  # each view's n_queries: none is None (checked above)
    top_k = _top_k(selector, top_k, sum(sizes), n, length, joint_views.memory_bytes)
    joint = _Ranker(selector, joint_views, top_k, n)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    return _MixtureRanker.build(joint, [] if w is None else list(views), names, sizes, w)(length)


def _targets(
    queries: ExampleSet | Mapping[str, ExampleSet], mix: str | MixSettings | None
) -> tuple[list[tuple[str, ExampleSet]], MixSettings, np.ndarray]:
    """The targets as ``(name, query set)``, the mix and the targets' weights, checked."""
    mix_settings = MixSettings.parse(mix)
    if isinstance(queries, ExampleSet):
        return [("query", queries)], mix_settings, np.ones(1)
    targets = list(queries.items())
    if not targets:
        raise ConfigurationError("no query set given; give at least one target's queries")
    check_distinct_queries(targets)
    names = [name for name, _ in targets]
    weights = mix_settings.weights_for(names, [len(es) for _, es in targets])
    return targets, mix_settings, weights


@dataclass
class _MixtureRanker:
    """Several targets' rankings merged by their weights (:func:`~targetsel.select.mixture.interleave`).

    ``joint`` ranks the union of the query sets (``weights`` ``None``); otherwise each target is
    ranked on its own queries. Dense scores are computed once, for the union, and each target
    reads its rows; streaming scores are computed per target (their per-candidate statistics are
    per query set). A target's ranking is asked for its share of the length and longer while the
    merge runs it dry: never longer than the merged length, which always suffices (each row it
    passes over was taken by another target).
    """

    joint: _Ranker
    rankers: list[_Ranker] | None
    names: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray
    _rankings: dict[int, Ranking] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        joint: _Ranker,
        views: Sequence[FeatureViews],
        names: Sequence[str],
        sizes: Sequence[int],
        weights: np.ndarray | None,
    ) -> _MixtureRanker:
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        labels = np.asarray(names)
        if weights is None:
            return cls(joint, None, labels, offsets, np.asarray(sizes, dtype=np.float64))
        s = joint.selector
        rankers = [_Ranker(s, v, joint.top_k, joint.n) for v in views]
        if s.requires_scores and joint.top_k is None:  # dense: one pass for every target
            joint.scores = joint.views.score(None)
            matrix = joint.scores.dense()
            for r, v, a, b in zip(rankers, views, offsets[:-1], offsets[1:], strict=True):
                r.scores = Scores.from_matrix(matrix[a:b], provenance=v.provenance(None))
        return cls(joint, rankers, labels, offsets, np.asarray(weights, dtype=np.float64))

    @property
    def scores(self) -> Scores | None:
        return self.joint.scores

    @property
    def top_k(self) -> int | None:
        return self.joint.top_k

    def __call__(self, length: int) -> Ranking:
        if self.rankers is None:
            r = self.joint(length)
            target = np.searchsorted(self.offsets, r.query_index, side="right") - 1
            extra = {**r.extra, "target": self.names[target]}
            return Ranking(
                r.indices, r.query_index - self.offsets[target], r.scores, r.method, r.params, r.n_candidates, extra
            )
        n = self.joint.n
        share = self.weights / self.weights.sum()
        lengths = [min(n, length, int(np.ceil(length * sh * 1.1)) + 16) for sh in share]
        while True:
            rankings = [self._ranking(t, k) for t, k in enumerate(lengths)]
            merged = interleave([r.indices for r in rankings], self.weights, length, n)
            if merged.dry is None or lengths[merged.dry] >= min(n, length):
                break
            lengths[merged.dry] = min(n, length, 2 * lengths[merged.dry])
        out = merge_rankings(rankings, merged)
        return Ranking(
            out.indices,
            out.query_index,
            out.scores,
            out.method,
            out.params,
            out.n_candidates,
            {**out.extra, "target": self.names[out.extra["target"]]},
        )

    def _ranking(self, t: int, length: int) -> Ranking:
        """Target ``t``'s ranking of at least ``length`` rows (the longest asked so far serves shorter asks)."""
        have = self._rankings.get(t)
        if have is None or len(have) < length:
            assert self.rankers is not None
            have = self._rankings[t] = self.rankers[t](length)
        return have


@dataclass
class _Ranker:
    """The selector's ranking of the (clean) pool for a length, scoring once and again only when a
    streaming ``top_k`` turns out too small (:func:`_rank_scored`)."""

    selector: Selector
    views: FeatureViews
    top_k: int | None
    n: int
    scores: Scores | None = None

    def __call__(self, length: int) -> Ranking:
        s = self.selector
        if not s.requires_scores:
            return s.rank(None, length, self.views)
        reads_features = s.requires_features != "never"
        if self.scores is not None:
            try:
                return s.rank(self.scores, length, self.views if reads_features else None)
            except TopKTooSmallError:
                pass
        ranking, self.scores, self.top_k = _rank_scored(s, self.views, self.top_k, length, self.n, reads_features)
        return ranking


def _first_length(budget: int, n: int) -> int:
    """The ranking length asked of the selector first when dedup may skip rows: a quarter more."""
    return min(n, budget + budget // 4 + 16)


def _walk(
    settings: DedupSettings,
    budget: int,
    pool: ExampleSet,
    candidates: ViewSet,
    representation: Representation | None,
) -> DedupWalk:
    """The dedup walk over ``pool`` (the clean pool: the ranking's index space; ``candidates`` its features)."""
    features = None
    if settings.threshold is not None and settings.by == "selection":
        features = source_reader(candidates)
    elif settings.threshold is not None:
        if representation is None:
            from targetsel.represent import EmbedRepresentation

            representation = EmbedRepresentation()
        rep = representation

        def features(rows: np.ndarray) -> np.ndarray:  # only the rows walked are encoded
            return source_reader(rep.encode_for_scoring(pool.select(rows), role="candidate"))(np.arange(len(rows)))

    texts = pool_texts(pool) if settings.text_threshold is not None else None
    read_rows = 4096 if settings.by == "embed" and settings.threshold is not None else 32768
    return DedupWalk(settings, budget, features=features, texts=texts, read_rows=read_rows)


def _deduplicate(
    ranker: Callable[[int], Ranking], ranking: Ranking, walk: DedupWalk, budget: int, n: int
) -> tuple[Ranking, DedupResult]:
    """Walk the ranking, asking the selector for a longer one while the budget is not met."""
    walk.feed(ranking.indices)
    while not walk.done and len(ranking) < n:
        length = min(n, max(2 * len(ranking), budget + 2 * len(walk.result().duplicates)))
        logger.info("dedup: %d of %d rows kept; ranking %d rows", walk.kept, budget, length)
        longer = ranker(length)
        if not np.array_equal(longer.indices[: walk.walked], ranking.indices[: walk.walked]):
            walk = walk.restarted()
            walk.feed(longer.indices)
        else:
            walk.feed(longer.indices[walk.walked :])
        ranking = longer
    result = walk.result()
    if not walk.done:
        raise ConfigurationError(
            f"budget {budget} cannot be met: only {walk.kept} of the {n} pool rows remain once rows with "
            f"{walk.settings.describe()} to an earlier pick are skipped; choose a budget <= {walk.kept} "
            "or a higher threshold"
        )
    return result.apply(ranking), result


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
    queries: ViewSet,
    others: list[tuple[str, ExampleSet]],
    store_dir: str | os.PathLike[str] | None,
    overwrite: bool,
) -> ViewSet:
    """Every evaluation item's features: the queries', then each other set's."""
    encoded = [
        representation.encode_for_scoring(es, role="query", store_dir=store_dir, overwrite=overwrite)
        for _, es in others
    ]
    return ViewSet.stack([queries, *encoded])


def _on_pool(ranking: Ranking, clean: np.ndarray, n: int) -> Ranking:
    """A ranking of the clean pool as rows of the whole pool (``clean[i]`` for pick ``i``)."""
    return Ranking(
        clean[ranking.indices], ranking.query_index, ranking.scores, ranking.method, ranking.params, n, ranking.extra
    )


def _export(
    result: SelectionResult,
    pool: ExampleSet,
    queries: ExampleSet | None,
    artifact: SelectionArtifact,
    export_format: str | None,
) -> None:
    """Every budget's files and, when decontamination or dedup ran, its report beside them."""
    result.outputs = artifact.write_budgets(
        pool,
        result.ranking,
        result.budgets,
        format=export_format,
        queries=queries,
        provenance=result.provenance,
        contamination=result.contamination,
        dedup=result.dedup,
        mix=result.mix,
        targets=result.targets,
        distributed=result.distributed,
    )
    result.contamination_path = None if result.contamination is None else artifact.contamination_path
    result.dedup_path = None if result.dedup is None else artifact.duplicates_path


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
