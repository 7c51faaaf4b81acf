"""Decontamination settings, the :class:`Contamination` found, and its two records on disk.

The contamination report (:meth:`Contamination.jsonl`) has one line per removed pool row; a
selection's ``selection.json`` gets the summary block :meth:`Contamination.block` (validated on read
by :class:`DecontaminationRecord`). Where they are written is :class:`targetsel.export.SelectionArtifact`'s.

Example:
    >>> parse_methods("ngram:10,features:0.95")
    DecontaminationSettings(ngram=10, threshold=0.95, min_words=8, template_items=5, answers=True)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from targetsel.errors import ConfigurationError

__all__ = [
    "DEFAULT_NGRAM",
    "Contamination",
    "DecontaminationRecord",
    "DecontaminationSettings",
    "Match",
    "parse_methods",
]

#: GPT-3's contamination study (Brown et al., 2020, §4 and appendix C) used 13-grams.
DEFAULT_NGRAM = 13


@dataclass(frozen=True)
class DecontaminationSettings:
    """How pool rows are matched against evaluation items.

    Attributes:
        ngram: Word n-gram length of the overlap test (``None``: no n-gram test).
        threshold: Cosine (in the selection's representation) at or above which a pool row counts
            as a copy of an evaluation item (``None``: no feature test; opt-in, because rows
            similar to the target but not copies are what targeted selection keeps).
        min_words: A question or answer shorter than ``ngram`` words is matched as a whole when it
            has at least this many words, else skipped (see :mod:`targetsel.decontaminate.ngram`).
        template_items: An n-gram shared by this many evaluation items or more is template text
            (an instruction, a few-shot exemplar), not item content, and is not matched (0: off).
        answers: Match the items' gold answers as well as their questions (``False``: questions
            only, for tasks whose answers are generic, e.g. boilerplate code).

    Example:
        >>> DecontaminationSettings(ngram=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.ConfigurationError: ...
    """

    ngram: int | None = DEFAULT_NGRAM
    threshold: float | None = None
    min_words: int = 8
    template_items: int = 5
    answers: bool = True

    def __post_init__(self) -> None:
        if self.ngram is None and self.threshold is None:
            raise ConfigurationError("decontamination needs a method: ngram[:N] or features:THRESHOLD")
        if self.ngram is not None and (isinstance(self.ngram, bool) or not isinstance(self.ngram, int)):
            raise ConfigurationError(f"ngram:N needs an integer N, got {self.ngram!r}")
        if self.ngram is not None and self.ngram < 1:
            raise ConfigurationError(f"ngram:{self.ngram}: N must be a positive integer (default {DEFAULT_NGRAM})")
        if self.threshold is not None and not (0.0 < float(self.threshold) <= 1.0):
            raise ConfigurationError(
                f"features:{self.threshold}: the cosine threshold must be in (0, 1], e.g. features:0.95"
            )
        if self.min_words < 1:
            raise ConfigurationError(f"min_words must be a positive integer, got {self.min_words}")
        if self.template_items < 0:
            raise ConfigurationError(f"template_items must be 0 (off) or positive, got {self.template_items}")

    @property
    def methods(self) -> list[str]:
        return [m for m, on in (("ngram", self.ngram is not None), ("features", self.threshold is not None)) if on]

    @property
    def short_words(self) -> int:
        """The fewest words a question or answer needs to be matched at all (``min(min_words, ngram)``)."""
        return min(self.min_words, self.ngram or self.min_words)


def parse_methods(specs: str | Iterable[str] | None) -> DecontaminationSettings:
    """``--decontaminate-by`` values (repeatable, or comma lists) → settings.

    ``ngram`` (n = 13), ``ngram:N``, ``features:THRESHOLD``. The methods given are the methods used:
    ``features:0.95`` alone turns the n-gram test off; ``ngram,features:0.95`` runs both.

    Example:
        >>> parse_methods(["features:0.9"]).methods, parse_methods(None).ngram
        (['features'], 13)
    """
    if specs is None:
        return DecontaminationSettings()
    items = [specs] if isinstance(specs, str) else list(specs)
    parts = [p.strip() for s in items for p in s.split(",") if p.strip()]
    if not parts:
        return DecontaminationSettings()
    ngram: int | None = None
    threshold: float | None = None
    for p in parts:
        name, _, value = p.partition(":")
        if name == "ngram":
            try:
                ngram = int(value) if value else DEFAULT_NGRAM
            except ValueError:
                raise ConfigurationError(f"--decontaminate-by {p}: N must be an integer, e.g. ngram:13") from None
            if ngram < 1:
                raise ConfigurationError(f"--decontaminate-by {p}: N must be a positive integer, e.g. ngram:13")
        elif name == "features":
            try:
                threshold = float(value)
            except ValueError:
                raise ConfigurationError(
                    f"--decontaminate-by {p}: give a cosine threshold in (0, 1], e.g. features:0.95"
                ) from None
            if not (0.0 < threshold <= 1.0):
                raise ConfigurationError(
                    f"--decontaminate-by {p}: the cosine threshold must be in (0, 1], e.g. features:0.95"
                )
        else:
            raise ConfigurationError(f"--decontaminate-by {p}: unknown method; use ngram[:N] or features:THRESHOLD")
    return DecontaminationSettings(ngram=ngram, threshold=threshold)


@dataclass(frozen=True)
class Match:
    """One removed pool row and the evaluation item it matched.

    Attributes:
        pool_index: Row of the pool.
        pool_id: Its id.
        item_file: The evaluation set (``query``, or the file a test split came from).
        item_id: The item's id.
        item_index: The item's row in its set.
        method: ``ngram`` or ``features``.
        evidence: ``{"ngram": text, "n": words, "part": "question"|"answer"}`` or ``{"cosine": value}``.
    """

    pool_index: int
    pool_id: str
    item_file: str
    item_id: str
    item_index: int
    method: str
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "pool_index": self.pool_index,
            "pool_id": self.pool_id,
            "item": {"file": self.item_file, "id": self.item_id, "index": self.item_index},
            "method": self.method,
            "evidence": self.evidence,
        }


@dataclass
class Contamination:
    """What :func:`targetsel.decontaminate.find_contamination` found.

    Attributes:
        n_pool: Rows in the pool checked.
        matches: One :class:`Match` per removed row, by pool index (a row both methods flag is
            reported once, with its n-gram evidence).
        settings: The settings used.
        sets: ``(name, source, items)`` of each evaluation set checked.
        items_skipped: Items with no question or answer of ``settings.short_words`` words or more
            (too short to tell a copy from a common phrase; never matched by n-grams).
        template_ngrams: Distinct n-grams left out as template text (see ``template_items``).
        hash_collisions: Windows whose hash matched but whose words did not (rejected).

    Example:
        >>> c = Contamination(n_pool=3, matches=[Match(1, "p1", "query", "q0", 0, "ngram", {})])
        >>> c.removed.tolist(), c.clean_indices.tolist()
        ([1], [0, 2])
    """

    n_pool: int
    matches: list[Match] = field(default_factory=list)
    settings: DecontaminationSettings = field(default_factory=DecontaminationSettings)
    sets: list[tuple[str, str, int]] = field(default_factory=list)
    items_skipped: int = 0
    template_ngrams: int = 0
    hash_collisions: int = 0

    @property
    def removed(self) -> np.ndarray:
        """``(R,)`` int64 removed pool rows, ascending."""
        return np.array(sorted(m.pool_index for m in self.matches), dtype=np.int64)

    @property
    def clean_indices(self) -> np.ndarray:
        """``(n_pool - R,)`` int64 pool rows kept, ascending."""
        keep = np.ones(self.n_pool, dtype=bool)
        keep[self.removed] = False
        return np.flatnonzero(keep).astype(np.int64)

    @property
    def n_items(self) -> int:
        return sum(n for _, _, n in self.sets)

    def merged(self, other: Contamination) -> Contamination:
        """Both results; a row in both keeps this one's match (n-gram evidence first)."""
        seen = {m.pool_index for m in self.matches}
        matches = sorted([*self.matches, *(m for m in other.matches if m.pool_index not in seen)], key=_by_row)
        return Contamination(
            self.n_pool,
            matches,
            self.settings,
            self.sets or other.sets,
            self.items_skipped,
            self.template_ngrams,
            self.hash_collisions + other.hash_collisions,
        )

    def block(self, file: str | None = None) -> dict[str, Any]:
        """The ``decontamination`` block of ``selection.json``; ``file`` is the report's name relative to it."""
        s = self.settings
        return {
            "methods": s.methods,
            "n": s.ngram,
            "min_words": s.short_words if s.ngram is not None else None,
            "parts": (["question", "answer"] if s.answers else ["question"]) if s.ngram is not None else None,
            "threshold": s.threshold,
            "checked": [{"file": name, "source": source, "items": n} for name, source, n in self.sets],
            "items": self.n_items,
            "items_skipped_short": self.items_skipped,
            "template_ngrams": self.template_ngrams,
            "pool_rows": self.n_pool,
            "removed": len(self.matches),
            "file": file,
        }

    def jsonl(self) -> str:
        """The report's text: one JSON object per removed row (empty when nothing was removed)."""
        return "".join(json.dumps(m.to_json(), ensure_ascii=False) + "\n" for m in self.matches)

    def summary(self, path: str | os.PathLike[str] | None = None) -> str:
        """One line for the user, e.g. ``decontamination: removed 12 of 2470 pool rows (...) → out/...``.

        Example:
            >>> Contamination(n_pool=10, sets=[("query", "q.jsonl", 4)]).summary()
            'decontamination: removed 0 of 10 pool rows (13-gram overlap with 4 query items)'
        """
        s = self.settings
        how = []
        if s.ngram is not None:
            how.append(f"{s.ngram}-gram overlap")
        if s.threshold is not None:
            how.append(f"cosine ≥ {s.threshold:g}")
        kinds = "/".join(dict.fromkeys("query" if name == "query" else "test" for name, _, _ in self.sets))
        text = f"{' or '.join(how)} with {self.n_items} {kinds} items"
        if s.ngram is not None and self.items_skipped:
            text += f"; {self.items_skipped} items shorter than {s.short_words} words skipped"
        line = f"decontamination: removed {len(self.matches)} of {self.n_pool} pool rows ({text})"
        return line if path is None else f"{line} → {path}"


def _by_row(m: Match) -> int:
    return m.pool_index


_Count = Annotated[int, Field(ge=0)]


class _Checked(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    file: str
    source: str
    items: _Count


class DecontaminationRecord(BaseModel):
    """The ``decontamination`` block of ``selection.json`` (absent when decontamination was off).

    Types are strict; unknown keys are tolerated (a newer targetsel may record more).

    Example:
        >>> DecontaminationRecord.model_validate(Contamination(n_pool=3).block()).removed
        0
    """

    model_config = ConfigDict(strict=True, extra="allow")

    methods: list[str]
    n: Annotated[int, Field(ge=1)] | None
    min_words: Annotated[int, Field(ge=1)] | None
    parts: list[str] | None
    threshold: float | None
    checked: list[_Checked]
    items: _Count
    items_skipped_short: _Count
    template_ngrams: _Count
    pool_rows: _Count
    removed: _Count
    file: str | None


def check_sets(sets: Sequence[tuple[str, Any]]) -> None:
    """Refuse two evaluation sets with one name (their matches could not be told apart)."""
    names = [n for n, _ in sets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigurationError(f"evaluation set {dup[0]!r} given twice; give each file once")
