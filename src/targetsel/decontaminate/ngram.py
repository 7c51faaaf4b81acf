"""Word n-gram overlap between pool rows and evaluation items, streamed over the pool.

**What is compared.** Text is normalised once, the same way on both sides: lowercased, and split
into words, a word being a maximal run of letters and digits (any script); punctuation, underscores
and whitespace of any kind only separate words. A pool row's text is all its message contents (every
role, turns joined). An evaluation item gives two *parts*, matched separately: its **question** (the
user turns) and its **gold answer** (the assistant turns). Both, as in GPT-3's study, which matched
whole examples: a pool row holding a benchmark's worked solution leaks it as surely as one holding
the question. System turns are left out: they are shared instructions, not the item. Every match
records which part it came from, so a removal can be audited.

**The rule** (Brown et al., 2020, GPT-3, §4 and appendix C: 13-gram collisions, and "overlap with the
whole example when it is shorter than 13-grams"): a pool row is contaminated when it contains, word
for word, an ``n``-word window of a part (default ``n = 13``). A part shorter than ``n`` words
is matched as a whole — the row must contain all of it, in order — when it has at least
``min_words`` words (default 8, the shortest n GPT-3's appendix used); a shorter part is not matched
(a 4-word answer such as "the answer is 5" is a common phrase, not evidence of a copy). An item
with no part long enough is *skipped* and counted, so the report says how much was not checked.
N-grams shared by ``template_items`` or more items (an instruction or a few-shot exemplar repeated
in every prompt) are template text, not item content, and are not matched either.

**How it is fast.** Words become integer ids (a dict holding only the items' words; a pool word the
items lack gets id 0 and can be part of no match), each id a random 64-bit value; the hash of a
window is ``Σ_k value[k] · R_k`` (mod 2⁶⁴), computed with numpy for every window of a whole batch of
rows at once (one multiply-add per word and window length). Windows are looked up in a bitmap of the
items' hashes, and the few that pass in the items' sorted hashes (``np.searchsorted``). Every hit is
then confirmed on the words themselves, so a hash collision never removes a row. Memory is bounded
by the batch (``batch_rows``), never by the pool.

Example:
    >>> from targetsel.data import ExampleSet
    >>> q = "natalia sold clips to 48 of her friends in april and then she sold half as many"
    >>> pool = ExampleSet.from_records([{"prompt": "Solve: " + q.upper() + "!", "completion": "72"},
    ...                                 {"prompt": "natalia sold clips", "completion": "ok"}])
    >>> items = ExampleSet.from_records([{"prompt": q, "completion": "72"}])
    >>> c = find_ngram_contamination(pool, [("query", items)])
    >>> c.removed.tolist(), c.matches[0].evidence["part"]
    ([0], 'question')
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.decontaminate.result import Contamination, DecontaminationSettings, Match, check_sets
from targetsel.progress import progress

logger = logging.getLogger(__name__)

__all__ = ["find_ngram_contamination", "item_parts", "normalize_words"]

_WORD = re.compile(r"[^\W_]+")
#: Written between rows of a batch. Upper case, so no word of lowercased text equals it.
_SEP = "Q"
#: The same for ASCII rows, tokenised as bytes (a row holding this byte takes the regex path).
_SEP_BYTES = b"\x01"
#: ASCII bytes → lowercase letters and digits, everything else a space: ``[^\W_]+`` of ``str.lower()``
#: for ASCII text, at C speed (``bytes.translate`` then ``split``).
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 1) else 32 for c in range(256)
)
_SEP_ID, _UNKNOWN_ID = 1, 0
_SEED = 0x7A5E1


def normalize_words(text: str) -> list[str]:
    """Lowercased words (maximal runs of letters and digits) of ``text``.

    Example:
        >>> normalize_words("It's 3:00 p.m.,  OK?")
        ['it', 's', '3', '00', 'p', 'm', 'ok']
    """
    return _WORD.findall(text.lower())


def item_parts(messages: Sequence[dict[str, str]]) -> list[tuple[str, str]]:
    """The parts of an evaluation item that are matched: ``question`` (user turns), ``answer`` (assistant turns).

    Example:
        >>> item_parts([{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"},
        ...             {"role": "assistant", "content": "4"}])
        [('question', '2+2?'), ('answer', '4')]
    """
    out = []
    for part, role in (("question", "user"), ("answer", "assistant")):
        text = "\n".join(m["content"] for m in messages if m["role"] == role)
        if text:
            out.append((part, text))
    return out


def _window_hashes(values: np.ndarray, lengths: Sequence[int], mult: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(L, hashes)`` for each window length ``L`` (ascending): ``hashes[i] = Σ_{k<L} values[i+k]·mult[k]``.

    Computed incrementally, so all lengths together cost ``max(lengths)`` multiply-adds per word.
    """
    n = values.shape[0]
    if not lengths or n < lengths[0]:
        return
    h = np.zeros(n, dtype=np.uint64)
    done = 0
    with np.errstate(over="ignore"):
        for length in lengths:
            if n < length:
                return
            m = n - length + 1
            h = h[:m]
            for k in range(done, length):
                h += values[k : k + m] * mult[k]
            done = length
            yield length, h


@dataclass
class _Grams:
    """The items' hashes of one window length, sorted, with the occurrence behind each."""

    hashes: np.ndarray  # (G,) uint64, sorted
    part: np.ndarray  # (G,) int64, index into _Index.parts
    start: np.ndarray  # (G,) int64, word offset in the part


class _Index:
    """Every evaluation item's n-grams (and whole short parts), ready for look-ups."""

    def __init__(self, sets: Sequence[tuple[str, ExampleSet]], settings: DecontaminationSettings) -> None:
        assert settings.ngram is not None
        n, short = settings.ngram, settings.short_words
        self.vocab: dict[str, int] = {_SEP: _SEP_ID}
        self.vocab_bytes: dict[bytes, int] | None = None
        self.parts: list[np.ndarray] = []
        self.owner: list[tuple[int, int, str]] = []  # (set, item, part name)
        self.items_skipped = 0
        for s, (_, es) in enumerate(sets):
            for i, msgs in enumerate(es.iter_messages()):
                used = False
                for name, text in item_parts(msgs):
                    if name == "answer" and not settings.answers:
                        continue
                    words = normalize_words(text)
                    if len(words) < short:
                        continue
                    ids = [self.vocab.setdefault(w, len(self.vocab) + 1) for w in words]
                    self.parts.append(np.array(ids, dtype=np.int64))
                    self.owner.append((s, i, name))
                    used = True
                if not used:
                    self.items_skipped += 1
        rng = np.random.default_rng(_SEED)
        self.values = rng.integers(0, 2**64 - 1, size=len(self.vocab) + 2, dtype=np.uint64, endpoint=True)
        self.mult = rng.integers(0, 2**63, size=max(n, 1), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.n = n
        self.grams: dict[int, _Grams] = {}
        self.template_ngrams = 0
        self._build(n, settings.template_items)
        self._build_bitmap()

    def _build(self, n: int, template_items: int) -> None:
        occ: dict[int, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}
        item_key: list[tuple[int, int]] = [(s, i) for s, i, _ in self.owner]
        keys = {k: j for j, k in enumerate(dict.fromkeys(item_key))}
        for p, ids in enumerate(self.parts):
            length = n if ids.shape[0] >= n else ids.shape[0]
            _, h = next(_window_hashes(self.values[ids], [length], self.mult))
            hs, ps, st = occ.setdefault(length, ([], [], []))
            hs.append(h.copy())
            ps.append(np.full(h.shape[0], p, dtype=np.int64))
            st.append(np.arange(h.shape[0], dtype=np.int64))
        item_of = np.array([keys[k] for k in item_key], dtype=np.int64)
        for length, (hs, ps, st) in sorted(occ.items()):
            hashes, items, starts = np.concatenate(hs), np.concatenate(ps), np.concatenate(st)
            if template_items and hashes.size:
                pairs = np.unique(np.stack([hashes, item_of[items].astype(np.uint64)], axis=1), axis=0)
                uniq, counts = np.unique(pairs[:, 0], return_counts=True)
                common = uniq[counts >= template_items]
                if common.size:
                    self.template_ngrams += int(common.size)
                    keep = ~np.isin(hashes, common)
                    hashes, items, starts = hashes[keep], items[keep], starts[keep]
            order = np.argsort(hashes, kind="stable")
            self.grams[length] = _Grams(hashes[order], items[order], starts[order])

    def _build_bitmap(self) -> None:
        total = sum(g.hashes.size for g in self.grams.values())
        bits = int(min(26, max(16, np.ceil(np.log2(max(total, 1) * 16)))))
        self.shift = np.uint64(64 - bits)
        self.bitmap = np.zeros(1 << bits, dtype=bool)
        for g in self.grams.values():
            self.bitmap[g.hashes >> self.shift] = True
        self.lengths = sorted(length for length, g in self.grams.items() if g.hashes.size)

    # -- the pool side --------------------------------------------------------------------------
    def tokens(self, texts: list[str], ascii_only: bool) -> tuple[list[Any], np.ndarray]:
        """Words (``str``, or ``bytes`` for ASCII rows) and their ids, rows separated by ``_SEP_ID``.

        ASCII rows (most of an English pool) are tokenised by ``bytes.translate`` + ``split``, which
        gives the same words as the regex on the lowercased text about 5x faster.
        """
        if ascii_only:
            if self.vocab_bytes is None:
                self.vocab_bytes = {w.encode(): i for w, i in self.vocab.items() if w.isascii() and w != _SEP}
                self.vocab_bytes[_SEP_BYTES] = _SEP_ID
            joined = (b" " + _SEP_BYTES + b" ").join([t.encode() for t in texts])
            tokens: list[Any] = joined.translate(_ASCII_WORDS).split()
            get: Any = self.vocab_bytes.get
        else:
            tokens = _WORD.findall(f"\n{_SEP}\n".join([t.lower() for t in texts]))
            get = self.vocab.get
        return tokens, np.fromiter(map(get, tokens, repeat(_UNKNOWN_ID)), dtype=np.int64, count=len(tokens))

    def scan(
        self, texts: list[str], ascii_only: bool = False
    ) -> tuple[list[Any], np.ndarray, list[tuple[int, int, int, int]]]:
        """Words, ids and candidate hits ``(row, start, length, first gram)`` of a batch of row texts."""
        tokens, ids = self.tokens(texts, ascii_only)
        sep = ids == _SEP_ID
        row_of = np.cumsum(sep)
        hits: list[tuple[np.ndarray, int, np.ndarray]] = []
        for length, h in _window_hashes(self.values[ids], self.lengths, self.mult):
            cand = np.flatnonzero(self.bitmap[h >> self.shift])
            if cand.size == 0:
                continue
            g = self.grams[length].hashes
            pos = np.searchsorted(g, h[cand])
            found = pos < g.size
            found[found] = g[pos[found]] == h[cand[found]]
            start = cand[found]
            # a window across a row boundary holds the separator: never a match
            same_row = row_of[start] == row_of[start + length - 1]
            same_row &= ~sep[start]
            hits.append((start[same_row], length, pos[found][same_row]))
        out = [(int(row_of[s]), int(s), n, int(j)) for starts, n, js in hits for s, j in zip(starts, js, strict=True)]
        out.sort()
        return tokens, ids, out

    def confirm(self, ids: np.ndarray, start: int, length: int, first: int) -> int | None:
        """The gram (index into the sorted grams of ``length``) whose words are the window's, or ``None``."""
        g = self.grams[length]
        window = ids[start : start + length]
        j = first
        while j < g.hashes.size and g.hashes[j] == g.hashes[first]:
            s = int(g.start[j])
            if np.array_equal(self.parts[int(g.part[j])][s : s + length], window):
                return j
            j += 1
        return None


def _batch_texts(pool: ExampleSet, start: int, stop: int) -> list[str]:
    """The rows' texts (every message content, turns joined by a newline), read through Arrow."""
    table = pool.dataset.with_format("arrow")[start:stop]
    col = table.column("messages").combine_chunks()
    contents = col.flatten().field("content").to_pylist()
    offsets = np.asarray(col.offsets) - int(col.offsets[0].as_py())
    return ["\n".join(contents[offsets[r] : offsets[r + 1]]) for r in range(len(offsets) - 1)]


def find_ngram_contamination(
    pool: ExampleSet,
    sets: Sequence[tuple[str, ExampleSet]],
    settings: DecontaminationSettings | None = None,
    *,
    batch_rows: int = 8192,
    desc: str = "decontaminate",
) -> Contamination:
    """Pool rows sharing a normalised word n-gram with an evaluation item (see the module docstring).

    Args:
        pool: The candidate pool.
        sets: ``(name, items)`` of each evaluation set (``"query"``, or a test file's path).
        settings: ``ngram``, ``min_words`` and ``template_items`` are read (default: 13-grams).
        batch_rows: Pool rows hashed at once (memory is bounded by this, not by the pool).
        desc: Progress bar label.

    Returns:
        The :class:`Contamination`, one match per contaminated row (its first matching window).
    """
    settings = settings or DecontaminationSettings()
    if settings.ngram is None:
        raise ValueError("find_ngram_contamination needs settings.ngram")
    check_sets(sets)
    index = _Index(sets, settings)
    names = [(name, es) for name, es in sets]
    matches: list[Match] = []
    collisions = 0
    with progress(total=len(pool), desc=desc, unit="row") as bar:
        for lo in range(0, len(pool), batch_rows):
            hi = min(len(pool), lo + batch_rows)
            texts = _batch_texts(pool, lo, hi) if index.lengths else []
            fast = [t.isascii() and "\x01" not in t for t in texts]
            for ascii_only in (True, False):
                rows = [r for r, f in enumerate(fast) if f == ascii_only]
                if not rows:
                    continue
                tokens, ids, hits = index.scan([texts[r] for r in rows], ascii_only)
                done_row = -1
                for row, start, length, first in hits:
                    if row == done_row:
                        continue
                    j = index.confirm(ids, start, length, first)
                    if j is None:
                        collisions += 1
                        continue
                    done_row = row
                    words = [w.decode() if isinstance(w, bytes) else w for w in tokens[start : start + length]]
                    matches.append(_match(index, names, pool, lo + rows[row], words, length, j))
            bar.update(hi - lo)
    matches.sort(key=lambda m: m.pool_index)
    if collisions:
        logger.info("decontamination: %d hash collisions rejected on the words", collisions)
    return Contamination(
        n_pool=len(pool),
        matches=matches,
        settings=settings,
        sets=[(name, es.source, len(es)) for name, es in sets],
        items_skipped=index.items_skipped,
        template_ngrams=index.template_ngrams,
        hash_collisions=collisions,
    )


def _match(
    index: _Index, sets: list[tuple[str, ExampleSet]], pool: ExampleSet, row: int, words: list[str], length: int, j: int
) -> Match:
    g = index.grams[length]
    s, item, part = index.owner[int(g.part[j])]
    name, es = sets[s]
    evidence: dict[str, Any] = {"ngram": " ".join(words), "n": length, "part": part}
    return Match(row, pool.ids[row], name, es.ids[item], item, "ngram", evidence)
