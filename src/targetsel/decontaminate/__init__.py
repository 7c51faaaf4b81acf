"""Decontamination: remove pool rows that copy an evaluation item, before ranking, and report them.

An evaluation item is a row of the query set or of a test split (or any file given to check
against). Two tests, either or both:

* ``ngram`` (default, :mod:`~targetsel.decontaminate.ngram`): the row shares a normalised word
  n-gram (n = 13 by default, GPT-3's contamination study) with an item's question or gold answer;
* ``features`` (opt-in, :mod:`~targetsel.decontaminate.features`): the row's cosine to an item, in
  the selection's own representation, is at least a threshold. Opt-in, because rows similar to the
  target but not copies of it are exactly what targeted selection should keep.

:func:`find_contamination` runs the n-gram test on :class:`~targetsel.data.ExampleSet`\\ s; the
feature test needs features and runs inside :func:`targetsel.pipeline.run_selection`. The result,
:class:`Contamination`, lists each removed row with the item it matched and the evidence; it is
written beside the selection (:data:`targetsel.export.CONTAMINATION_FILE`) and summarised in its
``selection.json``.

Example:
    >>> from targetsel.data import ExampleSet
    >>> text = "a train leaves the station at nine and travels sixty miles per hour until noon"
    >>> pool = ExampleSet.from_records([{"prompt": text, "completion": "180 miles"},
    ...                                 {"prompt": "a train leaves at nine", "completion": "ok"}])
    >>> query = ExampleSet.from_records([{"prompt": text.title(), "completion": "180"}])
    >>> c = find_contamination(pool, query)
    >>> c.removed.tolist(), c.summary()
    ([0], 'decontamination: removed 1 of 2 pool rows (13-gram overlap with 1 query items)')
"""

from __future__ import annotations

from collections.abc import Sequence

from targetsel.data import ExampleSet
from targetsel.decontaminate.ngram import find_ngram_contamination, item_parts, normalize_words
from targetsel.decontaminate.result import (
    DEFAULT_NGRAM,
    Contamination,
    DecontaminationRecord,
    DecontaminationSettings,
    Match,
    parse_methods,
)

__all__ = [
    "DEFAULT_NGRAM",
    "Contamination",
    "DecontaminationRecord",
    "DecontaminationSettings",
    "Match",
    "find_contamination",
    "item_parts",
    "normalize_words",
    "parse_methods",
]


def find_contamination(
    pool: ExampleSet,
    items: ExampleSet | Sequence[tuple[str, ExampleSet]],
    n: int = DEFAULT_NGRAM,
    *,
    min_words: int = 8,
    template_items: int = 5,
    batch_rows: int = 8192,
) -> Contamination:
    """Pool rows sharing a normalised word ``n``-gram with an evaluation item.

    Args:
        pool: The candidate pool.
        items: The evaluation items: one set (named ``query``), or ``(name, set)`` pairs (e.g.
            ``[("query", dev), ("test.jsonl", test)]``).
        n: Words per n-gram.
        min_words: Questions/answers shorter than ``n`` words are matched whole from this length;
            shorter ones are skipped and counted (:attr:`Contamination.items_skipped`).
        template_items: N-grams shared by this many items or more are template text, not matched.
        batch_rows: Pool rows per hashing batch (bounds memory).

    Returns:
        :class:`Contamination`: ``removed``/``clean_indices``, one :class:`Match` per removed row.
    """
    sets = [("query", items)] if isinstance(items, ExampleSet) else list(items)
    settings = DecontaminationSettings(ngram=n, min_words=min_words, template_items=template_items)
    return find_ngram_contamination(pool, sets, settings, batch_rows=batch_rows)
