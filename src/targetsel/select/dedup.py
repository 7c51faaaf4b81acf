"""Near-duplicate control: a post-selection walk that skips picks too similar to an earlier pick.

**The rule.** A selector produces a *ranking* (its prefix of length ``B`` is the subset for budget
``B``). Dedup walks that ranking in order and keeps a candidate only when it is not a near-copy
of a row already *kept*:

* ``threshold`` (cosine): its cosine to every kept row is ``< threshold``. The cosine is the
  selection's own similarity ``Σ_c w_c cos(x_c, y_c) / Σ_c w_c`` over the representation's views,
  read as unit rows through :func:`targetsel.score.similarity.unit_features` (the one home of
  normalisation), or the same on embed features of the walked rows (``by="embed"``);
* ``text_threshold`` (Jaccard): the Jaccard similarity of its set of word ``shingle``-grams
  (default 5 words; text normalised as decontamination does,
  :func:`targetsel.decontaminate.normalize_words`; all message contents of the row) to every kept
  row's set is ``< text_threshold``. A row of fewer words than ``shingle`` is one shingle (all its
  words); a row without words is never a duplicate.

A candidate that fails either test is skipped and reported with the kept pick it duplicates (the
most similar one; ties go to the earlier pick) and the similarity. The output ranking is the kept
rows in walk order: still a ranking (its prefix of ``B`` serves budget ``B``), so one run serves
every budget, and the walk for ``B`` reads exactly the walk for any larger budget up to its
``B``-th kept pick. The walk stops at the ``target``-th kept row; when the selector's ranking runs
out first, the caller ranks further (:func:`targetsel.pipeline.run_selection` asks the selector for a
longer ranking — every selector's rankings are prefixes of its whole-pool ranking — up to the
whole pool, and fails with a :class:`~targetsel.errors.ConfigurationError` naming how many rows
remain when even the whole pool cannot meet the budget).

**Why a filter of the finished ranking.** For round-robin, skipping *inside* its walk (the next
query then picks again) would give a different subset. Filtering the finished ranking keeps every
selector exactly what it is (its ranking is computed and tested on its own), keeps this module
independent of the selectors, and gives one rule for all of them: the result is exact and
deterministic given the threshold.

**Exact and deterministic.** The feature side compares each block of ``block_rows`` candidates
with all kept rows by one float32 matmul per column chunk of the kept matrix (at most ``target ×
dim`` float32), screens with a margin of ``4·dim·2⁻²⁴`` below the threshold (above the float32 dot
product's rounding error on unit rows), and decides every screened pair on the float64 sum of the
exact products of the float32 unit rows, in a fixed order. Dependencies inside a block (a
candidate duplicating an earlier candidate of the same block that was kept) are resolved in walk
order. The decisions therefore do not depend on the block size, the BLAS threads or the process.
Hand-written blocking rather than FAISS ``IndexFlatIP.range_search``: the same brute-force
products, but the kept set grows after every kept row (FAISS would be re-queried per block anyway,
and the in-block pass and the exact float64 confirmation are needed either way), so FAISS would
add a dependency on this path and no speed.

The text side is an exact set-similarity join by prefix filtering (Chaudhuri et al., 2006; Bayardo
et al., 2007, All-Pairs): shingles get integer ids in first-seen order; under the fixed order
"larger id first", two sets with Jaccard ≥ ``t`` share a token among the first ``|s| - ⌈t·|s|⌉ + 1``
of each. Kept rows are indexed by those prefix tokens; a candidate's prefix finds every kept row
that can reach the threshold, and the Jaccard is then computed on the sets. MinHash-LSH
(``datasketch``) was the alternative: it can miss a pair above the threshold (its recall is a
probability), which confirming hits by exact Jaccard does not repair, so the result would not be
exact given the threshold; the prefix join is exact, deterministic and needs no new dependency.

Example:
    >>> import numpy as np
    >>> from targetsel.select.base import Ranking
    >>> x = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0]], np.float32)
    >>> r = Ranking(np.array([0, 1, 2]), np.full(3, -1), np.full(3, np.nan, np.float32), "demo", {}, 3)
    >>> out, found = dedup_ranking(r, DedupSettings(threshold=0.95), features=array_reader(x))
    >>> out.indices.tolist(), [(d.index, d.of_index) for d in found.duplicates]
    ([0, 2], [(1, 0)])
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from targetsel.data import ExampleSet
from targetsel.decontaminate.ngram import normalize_words
from targetsel.errors import ConfigurationError
from targetsel.score.similarity import unit_features
from targetsel.select.base import Ranking
from targetsel.store.viewset import ViewSet

__all__ = [
    "DEDUP_BY",
    "DedupRecord",
    "DedupResult",
    "DedupSettings",
    "DedupWalk",
    "Duplicate",
    "array_reader",
    "dedup_ranking",
    "parse_threshold",
    "pool_texts",
    "source_reader",
]

#: Which features the cosine test reads: the selection's representation, or embed features.
DEDUP_BY = ("selection", "embed")

#: ``(pool rows in walk order) -> (rows, dim)`` float32 unit rows.
FeatureReader = Callable[[np.ndarray], np.ndarray]
#: ``(pool rows in walk order) -> their texts``.
TextReader = Callable[[np.ndarray], Sequence[str]]


def parse_threshold(value: Any, flag: str) -> float:
    """A similarity threshold in ``(0, 1]`` from a flag's value (text or number).

    Raises:
        ConfigurationError: not a number, or outside ``(0, 1]``.

    Example:
        >>> parse_threshold("0.95", "--dedup")
        0.95
    """
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{flag} {value!r}: give a similarity threshold in (0, 1], e.g. {flag} 0.95") from None
    if not 0.0 < t <= 1.0:  # NaN fails too
        raise ConfigurationError(f"{flag} {value}: the threshold must be in (0, 1], e.g. {flag} 0.95")
    return t


@dataclass(frozen=True)
class DedupSettings:
    """What counts as a near-duplicate of an earlier pick.

    Attributes:
        threshold: Cosine at or above which a candidate duplicates a kept row (``None``: no
            feature test).
        by: ``selection`` (the selection's own features) or ``embed`` (embed features of the
            walked rows).
        text_threshold: Jaccard of word shingles at or above which a candidate duplicates a kept
            row (``None``: no text test).
        shingle: Words per shingle of the text test.

    Example:
        >>> DedupSettings(threshold=1.5)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.ConfigurationError: ...
    """

    threshold: float | None = None
    by: str = "selection"
    text_threshold: float | None = None
    shingle: int = 5

    def __post_init__(self) -> None:
        if self.threshold is None and self.text_threshold is None:
            raise ConfigurationError("dedup needs a cosine threshold (--dedup) or a text one (--dedup-text)")
        if self.threshold is not None:
            object.__setattr__(self, "threshold", parse_threshold(self.threshold, "--dedup"))
        if self.text_threshold is not None:
            object.__setattr__(self, "text_threshold", parse_threshold(self.text_threshold, "--dedup-text"))
        if self.by not in DEDUP_BY:
            raise ConfigurationError(f"--dedup-by {self.by!r}: use one of {', '.join(DEDUP_BY)}")
        if isinstance(self.shingle, bool) or not isinstance(self.shingle, int) or self.shingle < 1:
            raise ConfigurationError(f"shingle must be a positive number of words, got {self.shingle!r}")

    def describe(self) -> str:
        """The rule in words, e.g. ``cosine ≥ 0.95``."""
        how = []
        if self.threshold is not None:
            how.append(f"cosine ≥ {self.threshold:g}" + (" (embed)" if self.by == "embed" else ""))
        if self.text_threshold is not None:
            how.append(f"word {self.shingle}-shingle Jaccard ≥ {self.text_threshold:g}")
        return " or ".join(how)


@dataclass(frozen=True)
class Duplicate:
    """One skipped candidate and the kept pick it duplicates.

    Attributes:
        position: Its position in the selector's ranking (the walk).
        index: Its candidate index.
        of_rank: The kept pick's rank in the deduplicated ranking.
        of_index: The kept pick's candidate index.
        by: ``cosine`` or ``jaccard``.
        similarity: The similarity to that pick.
    """

    position: int
    index: int
    of_rank: int
    of_index: int
    by: str
    similarity: float


@dataclass
class DedupResult:
    """What a dedup walk kept and skipped.

    Attributes:
        settings: The settings used.
        kept: ``(K,)`` int64 positions in the selector's ranking of the kept rows, in order.
        duplicates: One :class:`Duplicate` per skipped row, in walk order.
        walked: Positions of the selector's ranking read (up to the last kept row).
    """

    settings: DedupSettings
    kept: np.ndarray
    duplicates: list[Duplicate] = field(default_factory=list)
    walked: int = 0

    def apply(self, ranking: Ranking) -> Ranking:
        """The kept rows of ``ranking`` (the one walked), in order, with their per-pick values."""
        pos = self.kept
        return Ranking(
            ranking.indices[pos],
            ranking.query_index[pos],
            ranking.scores[pos],
            ranking.method,
            ranking.params,
            ranking.n_candidates,
            {k: v[pos] for k, v in ranking.extra.items()},
        )

    def on_rows(self, rows: np.ndarray) -> DedupResult:
        """The same result with candidate indices mapped through ``rows`` (a sub-pool's rows)."""
        dups = [replace(d, index=int(rows[d.index]), of_index=int(rows[d.of_index])) for d in self.duplicates]
        return DedupResult(self.settings, self.kept, dups, self.walked)

    def skipped_before(self, budget: int) -> int:
        """Rows skipped while walking to the ``budget``-th kept pick."""
        if budget > len(self.kept):
            raise ConfigurationError(f"budget {budget} exceeds the {len(self.kept)} rows kept by dedup")
        last = int(self.kept[budget - 1])
        return sum(1 for d in self.duplicates if d.position < last)

    def block(self, budget: int, file: str | None = None) -> dict[str, Any]:
        """The ``dedup`` block of ``selection.json`` for ``budget`` (validated by :class:`DedupRecord`);
        ``file`` is the report's name relative to it."""
        s = self.settings
        skipped = self.skipped_before(budget)
        return {
            "threshold": s.threshold,
            "by": s.by if s.threshold is not None else None,
            "text_threshold": s.text_threshold,
            "shingle_words": s.shingle if s.text_threshold is not None else None,
            "walked": budget + skipped,
            "skipped": skipped,
            "file": file,
        }

    def jsonl(self, ids: Sequence[str]) -> str:
        """The report's text: one object per skipped row (``ids``: the pool's row ids); empty when
        nothing was skipped."""
        lines = []
        for d in self.duplicates:
            rec = {
                "position": d.position,
                "index": d.index,
                "id": ids[d.index],
                "duplicate_of": {"rank": d.of_rank, "index": d.of_index, "id": ids[d.of_index]},
                "by": d.by,
                "similarity": round(d.similarity, 6),
            }
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        return "".join(lines)

    def summary(self, path: str | os.PathLike[str] | None = None) -> str:
        """One line, e.g. ``dedup: skipped 37 rows with cosine ≥ 0.95 to an earlier pick → out/duplicates.jsonl``.

        Example:
            >>> DedupResult(DedupSettings(threshold=0.95), np.arange(3)).summary()
            'dedup: skipped 0 rows with cosine ≥ 0.95 to an earlier pick'
        """
        n = len(self.duplicates)
        line = f"dedup: skipped {n} row{'' if n == 1 else 's'} with {self.settings.describe()} to an earlier pick"
        return line if path is None else f"{line} → {path}"


_Count = Annotated[int, Field(ge=0)]
_Unit = Annotated[float, Field(gt=0.0, le=1.0)]


class DedupRecord(BaseModel):
    """The ``dedup`` block of ``selection.json`` (absent when dedup was off).

    ``walked`` is the positions of the selector's ranking read for this budget: ``budget +
    skipped``. Types are strict; unknown keys are tolerated (a newer targetsel may record more).

    Example:
        >>> DedupRecord.model_validate(DedupResult(DedupSettings(threshold=0.9), np.arange(2)).block(2)).skipped
        0
    """

    model_config = ConfigDict(strict=True, extra="allow")

    threshold: _Unit | None
    by: str | None
    text_threshold: _Unit | None
    shingle_words: Annotated[int, Field(ge=1)] | None
    walked: _Count
    skipped: _Count
    file: str | None


# ------------------------------------------------------------------------------------------ readers
def array_reader(x: np.ndarray) -> FeatureReader:
    """A reader of unit rows of an in-memory ``(N, dim)`` array (one view).

    Example:
        >>> array_reader(np.array([[3.0, 4.0]]))(np.array([0])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    return source_reader(ViewSet.of(np.asarray(x)))


def source_reader(candidates: ViewSet) -> FeatureReader:
    """A reader of the candidates' unit features (:func:`~targetsel.score.similarity.unit_features`,
    every view weighted as in the scores) at pool rows given in any order (each row once).

    Example:
        >>> source_reader(ViewSet.of(np.eye(3)))(np.array([2, 0])).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    def read(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        x = unit_features(candidates.sources, candidates.weights, rows[order])
        out = np.empty_like(x)
        out[order] = x
        return out

    return read


def pool_texts(pool: ExampleSet) -> TextReader:
    """A reader of rows' texts: every message content, turns joined by a newline.

    Example:
        >>> pool = ExampleSet.from_records([{"prompt": "hi", "completion": "there"}])
        >>> pool_texts(pool)(np.array([0]))
        ['hi\\nthere']
    """

    def read(rows: np.ndarray) -> list[str]:
        sub = pool.dataset.select([int(i) for i in rows])
        return ["\n".join(m["content"] for m in msgs) for msgs in sub["messages"]]

    return read


# ---------------------------------------------------------------------------------------- text side
class _ShingleIndex:
    """Exact Jaccard join of word-shingle sets by prefix filtering (see the module docstring)."""

    def __init__(self, threshold: float, shingle: int) -> None:
        self.t, self.k = threshold, shingle
        self._words: dict[str, int] = {}
        self._ids: dict[tuple[int, ...], int] = {}
        self._sets: list[frozenset[int]] = []
        self._postings: dict[int, list[int]] = defaultdict(list)

    def shingles(self, text: str) -> frozenset[int]:
        words = [self._words.setdefault(w, len(self._words)) for w in normalize_words(text)]
        k = self.k
        grams = [tuple(words[i : i + k]) for i in range(len(words) - k + 1)] or ([tuple(words)] if words else [])
        return frozenset(self._ids.setdefault(g, len(self._ids)) for g in grams)

    def _prefix(self, s: frozenset[int]) -> list[int]:
        n = len(s)
        # ⌈t·n⌉ rounded down a hair: a longer prefix is always safe, a shorter one could miss a pair
        need = max(1, math.ceil(self.t * n - 1e-9))
        return sorted(s, reverse=True)[: n - need + 1]

    def probe(self, s: frozenset[int]) -> tuple[int, float] | None:
        """The kept slot with the highest Jaccard ≥ threshold (ties: the lowest slot), or ``None``."""
        if not s:
            return None
        cands: set[int] = set()
        for tok in self._prefix(s):
            cands.update(self._postings.get(tok, ()))
        best: tuple[int, float] | None = None
        for slot in sorted(cands):
            other = self._sets[slot]
            inter = len(s & other)
            j = inter / (len(s) + len(other) - inter)
            if j >= self.t and (best is None or j > best[1]):
                best = (slot, j)
        return best

    def add(self, s: frozenset[int]) -> None:
        slot = len(self._sets)
        self._sets.append(s)
        if s:
            for tok in self._prefix(s):
                self._postings[tok].append(slot)


# ------------------------------------------------------------------------------------- feature side
def _exact_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(P,)`` float64 row-wise dot products of float32 rows: exact products (a float32 product
    fits a float64), summed in one fixed order whatever ``P``."""
    dots: np.ndarray = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
    return dots


class DedupWalk:
    """The incremental walk: :meth:`feed` it the selector's ranking (in pieces, continuing where
    it stopped) until :attr:`done`; :meth:`result` is the outcome.

    Args:
        settings: The rule.
        target: Rows to keep (the largest budget); the walk stops at the ``target``-th kept row.
        features: Unit-row reader (needed with ``settings.threshold``).
        texts: Text reader (needed with ``settings.text_threshold``).
        block_rows: Candidates compared with the kept rows per matmul (changes speed, not results).
        read_rows: Candidates whose features/texts are read at once.
        col_rows: Kept rows per matmul (bounds the ``(block_rows, col_rows)`` float32 block).

    Example:
        >>> x = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]], np.float32)
        >>> walk = DedupWalk(DedupSettings(threshold=0.99), 2, features=array_reader(x))
        >>> walk.feed(np.array([0, 1, 2]))
        >>> walk.done, walk.result().kept.tolist()
        (True, [0, 2])
    """

    def __init__(
        self,
        settings: DedupSettings,
        target: int,
        *,
        features: FeatureReader | None = None,
        texts: TextReader | None = None,
        block_rows: int = 1024,
        read_rows: int = 32768,
        col_rows: int = 16384,
    ) -> None:
        if settings.threshold is not None and features is None:
            raise ConfigurationError("dedup by cosine needs the candidates' features")
        if settings.text_threshold is not None and texts is None:
            raise ConfigurationError("dedup by text needs the candidates' texts")
        if target < 1 or block_rows < 1 or read_rows < 1 or col_rows < 1:
            raise ConfigurationError("dedup: target, block_rows, read_rows and col_rows must be positive")
        self.settings, self.target = settings, int(target)
        self._features, self._texts = features, texts
        self.block_rows, self.read_rows, self.col_rows = int(block_rows), int(read_rows), int(col_rows)
        self.walked = 0
        self._kept_pos: list[int] = []
        self._kept_index: list[int] = []
        self._dups: list[Duplicate] = []
        self._K: np.ndarray | None = None
        self._text = _ShingleIndex(settings.text_threshold, settings.shingle) if settings.text_threshold else None

    @property
    def done(self) -> bool:
        return len(self._kept_pos) >= self.target

    @property
    def kept(self) -> int:
        return len(self._kept_pos)

    def restarted(self) -> DedupWalk:
        """A new walk with the same rule, target and readers, from position 0."""
        return DedupWalk(
            self.settings,
            self.target,
            features=self._features,
            texts=self._texts,
            block_rows=self.block_rows,
            read_rows=self.read_rows,
            col_rows=self.col_rows,
        )

    def result(self) -> DedupResult:
        return DedupResult(self.settings, np.asarray(self._kept_pos, dtype=np.int64), list(self._dups), self.walked)

    def feed(self, indices: np.ndarray) -> None:
        """Walk ``indices``, the selector's ranking from position :attr:`walked` on, until done."""
        indices = np.asarray(indices, dtype=np.int64)
        for r0 in range(0, len(indices), self.read_rows):
            if self.done:
                return
            batch = indices[r0 : r0 + self.read_rows]
            feats = self._features(batch) if self._features is not None and self.settings.threshold else None
            texts = list(self._texts(batch)) if self._texts is not None and self._text is not None else None
            for b0 in range(0, len(batch), self.block_rows):
                if self.done:
                    return
                sl = slice(b0, b0 + self.block_rows)
                self._block(batch[sl], None if feats is None else feats[sl], None if texts is None else texts[sl])

    def _kept_matrix(self, dim: int) -> np.ndarray:
        if self._K is None:
            self._K = np.empty((self.target, dim), dtype=np.float32)
        return self._K

    def _versus_kept(self, x: np.ndarray, lo: float) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate the best kept slot with exact cosine, or ``(-1, -inf)`` below ``lo``."""
        b, nk = x.shape[0], self.kept
        best_slot = np.full(b, -1, np.int64)
        best_cos = np.full(b, -np.inf)
        if nk == 0:
            return best_slot, best_cos
        K = self._kept_matrix(x.shape[1])
        rows_l, cols_l = [], []
        for c0 in range(0, nk, self.col_rows):
            s = x @ K[c0 : min(nk, c0 + self.col_rows)].T
            hot = np.flatnonzero(s.max(axis=1) >= lo)
            if hot.size:
                r, c = np.nonzero(s[hot] >= lo)
                rows_l.append(hot[r])
                cols_l.append(c + c0)
        if not rows_l:
            return best_slot, best_cos
        rows, cols = np.concatenate(rows_l), np.concatenate(cols_l)
        cos = _exact_dots(x[rows], K[cols])
        order = np.lexsort((cols, rows))  # by candidate, then slot: ties keep the earliest kept row
        for r, c, v in zip(rows[order].tolist(), cols[order].tolist(), cos[order].tolist(), strict=True):
            if v > best_cos[r]:
                best_cos[r], best_slot[r] = v, c
        return best_slot, best_cos

    @staticmethod
    def _within(x: np.ndarray, lo: float) -> dict[int, list[tuple[int, float]]]:
        """Pairs ``j < i`` of the block above ``lo``, with exact cosine: ``{i: [(j, cos), ...]}``, ``j`` ascending."""
        g = x @ x.T
        i, j = np.nonzero(np.tril(g >= lo, -1))
        out: dict[int, list[tuple[int, float]]] = defaultdict(list)
        if i.size:
            cos = _exact_dots(x[i], x[j])
            for a, b, v in zip(i.tolist(), j.tolist(), cos.tolist(), strict=True):
                out[a].append((b, v))
        return out

    def _block(self, idx: np.ndarray, x: np.ndarray | None, texts: list[str] | None) -> None:
        t = self.settings.threshold
        if x is not None and t is not None:
            lo = t - (4.0 * x.shape[1] * 2.0**-24 + 1e-6)
            best_slot, best_cos = self._versus_kept(x, lo)
            within = self._within(x, lo)
        slot_of = np.full(len(idx), -1, np.int64)
        for i in range(len(idx)):
            dup: tuple[str, int, float] | None = None
            if x is not None and t is not None:
                c, s = float(best_cos[i]), int(best_slot[i])
                for j, v in within.get(i, ()):
                    if slot_of[j] >= 0 and v > c:
                        c, s = v, int(slot_of[j])
                if c >= t:
                    dup = ("cosine", s, c)
            shingles = None
            if dup is None and self._text is not None and texts is not None:
                shingles = self._text.shingles(texts[i])
                hit = self._text.probe(shingles)
                if hit is not None:
                    dup = ("jaccard", hit[0], hit[1])
            if dup is not None:
                by, s, v = dup
                self._dups.append(Duplicate(self.walked, int(idx[i]), s, self._kept_index[s], by, float(v)))
                self.walked += 1
                continue
            slot = self.kept
            if x is not None and t is not None:
                self._kept_matrix(x.shape[1])[slot] = x[i]
            if self._text is not None and texts is not None:
                self._text.add(shingles if shingles is not None else self._text.shingles(texts[i]))
            slot_of[i] = slot
            self._kept_pos.append(self.walked)
            self._kept_index.append(int(idx[i]))
            self.walked += 1
            if self.done:
                return


def dedup_ranking(
    ranking: Ranking,
    settings: DedupSettings,
    *,
    features: FeatureReader | None = None,
    texts: TextReader | None = None,
    budget: int | None = None,
    block_rows: int = 1024,
) -> tuple[Ranking, DedupResult]:
    """Walk a finished ranking once: the kept rows (up to ``budget``, default all) and what was skipped.

    Args:
        ranking: The selector's ranking.
        settings: The rule.
        features: Unit rows of candidates (:func:`source_reader`, :func:`array_reader`).
        texts: Texts of candidates (:func:`pool_texts`).
        budget: Stop at this many kept rows (``None``: walk the whole ranking).
        block_rows: Candidates per matmul block (results do not depend on it).

    Returns:
        ``(deduplicated ranking, result)``; the ranking is shorter than ``budget`` when the
        ranking given ran out first.
    """
    walk = DedupWalk(settings, budget or max(1, len(ranking)), features=features, texts=texts, block_rows=block_rows)
    walk.feed(ranking.indices)
    result = walk.result()
    return result.apply(ranking), result
