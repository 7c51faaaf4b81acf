"""The opt-in feature test: a pool row whose similarity to an evaluation item reaches a threshold.

The similarity is the selection's own, ``S = Σ_c w_c · cos(item_c, row_c)`` over the
representation's views (:mod:`targetsel.score.similarity`; the representations' weights sum to 1, so
``S`` is a cosine in ``[-1, 1]``), swept chunk by chunk over the pool with
:meth:`targetsel.score.FeatureViews.chunks`: memory is one ``(items, chunk)`` block, never the
whole matrix. Opt-in, because rows similar to the target but not copies of it are exactly what
targeted selection should keep; use a high threshold (0.95 and up) to catch paraphrased copies.

Example:
    >>> import numpy as np
    >>> from targetsel.data import ExampleSet
    >>> from targetsel.score import FeatureViews
    >>> from targetsel.store.viewset import ViewSet
    >>> pool = ExampleSet.from_records([{"prompt": f"p{i}", "completion": "a"} for i in range(3)])
    >>> items = ExampleSet.from_records([{"prompt": "q", "completion": "a"}])
    >>> pool_x = np.array([[1, 0], [1, 1], [0, 1.0]])
    >>> views = FeatureViews(ViewSet.of(np.array([[1.0, 0.0]])), ViewSet.of(pool_x))
    >>> c = find_feature_contamination(views, pool, [("query", items)], 0.95)
    >>> c.removed.tolist(), c.matches[0].evidence
    ([0], {'cosine': 1.0})
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from targetsel.data import ExampleSet
from targetsel.decontaminate.result import Contamination, DecontaminationSettings, Match, check_sets
from targetsel.errors import ConfigurationError
from targetsel.progress import progress
from targetsel.score import FeatureViews

__all__ = ["find_feature_contamination"]


def find_feature_contamination(
    views: FeatureViews,
    pool: ExampleSet,
    sets: Sequence[tuple[str, ExampleSet]],
    threshold: float,
    *,
    settings: DecontaminationSettings | None = None,
) -> Contamination:
    """Pool rows whose similarity to some evaluation item is at least ``threshold``.

    Args:
        views: Query features = every item of ``sets``, in order, set after set; candidate
            features = the whole pool (one source per view, as the selection scores them).
        pool: The pool (for ids).
        sets: ``(name, items)`` of each evaluation set.
        threshold: Similarity in ``(0, 1]``.
        settings: Recorded in the result (default: the feature test alone at ``threshold``).

    Returns:
        The :class:`Contamination`; each match records the most similar item and the similarity.
    """
    check_sets(sets)
    settings = settings or DecontaminationSettings(ngram=None, threshold=threshold)
    m = sum(len(es) for _, es in sets)
    if views.n_queries != m or views.n_candidates != len(pool):
        raise ConfigurationError(
            f"feature test: views of {views.n_queries}×{views.n_candidates} rows "
            f"for {m} items and {len(pool)} pool rows"
        )
    starts = np.cumsum([0] + [len(es) for _, es in sets])
    # one (items, chunk) float32 block at a time, within a quarter of the memory budget
    chunk = max(1, views.memory_bytes // (16 * max(m, 1)))
    matches: list[Match] = []
    with progress(total=len(pool), desc="decontaminate: features", unit="row") as bar:
        for start, block in views.chunks(chunk):
            best = block.max(axis=0)
            for col in np.flatnonzero(best >= threshold):
                item = int(block[:, col].argmax())
                s = int(np.searchsorted(starts, item, side="right")) - 1
                name, es = sets[s]
                row = start + int(col)
                evidence = {"cosine": round(float(best[col]), 6)}
                idx = item - int(starts[s])
                matches.append(Match(row, pool.ids[row], name, es.ids[idx], idx, "features", evidence))
            bar.update(block.shape[1])
    return Contamination(
        n_pool=len(pool),
        matches=matches,
        settings=settings,
        sets=[(name, es.source, len(es)) for name, es in sets],
    )
