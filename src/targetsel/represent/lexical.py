"""LEXICAL representation: hashed word n-gram counts, a cheap baseline with no model.

Not in the paper; a fast sanity baseline users expect (no GPU, no download, deterministic).
Tokens are lower-cased word unigrams and bigrams, hashed with CRC-32 into ``dim`` buckets with
a sign bit (feature hashing), weighted by ``1 + log(count)``.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

import numpy as np

from targetsel.data import ExampleSet, TextTurns, render_text
from targetsel.errors import ConfigurationError
from targetsel.represent.base import Representation, Role, register_representation
from targetsel.store import StoreSpec, check_feature_dtype

__all__ = ["LexicalRepresentation"]

_WORD = re.compile(r"\w+", re.UNICODE)


@register_representation
class LexicalRepresentation(Representation):
    """Signed feature hashing of word unigrams and bigrams.

    Args:
        dim: Number of hash buckets.
        ngram: Largest n-gram length (1 or 2 typical).
        text_turns: Which turns to use (see :func:`targetsel.data.render_text`).
        feature_dtype: On-disk layout: ``float32``, ``float16``, ``int8`` or ``bit``
            (:mod:`targetsel.store.codecs`).

    Example:
        >>> from targetsel.data import ExampleSet
        >>> es = ExampleSet.from_records([{"prompt": "sort the list", "completion": "[1, 2]"}])
        >>> LexicalRepresentation(dim=32).encode(es).to_array().shape
        (1, 32)
    """

    name = "lexical"
    label = "LEXICAL"
    planner = "targetsel.plan.encoders:plan_lexical"

    def __init__(
        self, dim: int = 4096, *, ngram: int = 2, text_turns: TextTurns = "all", feature_dtype: str = "float32"
    ) -> None:
        if dim <= 0 or ngram <= 0:
            raise ConfigurationError(f"lexical dim and ngram must be positive, got dim={dim}, ngram={ngram}")
        self.feature_dtype = check_feature_dtype(feature_dtype)
        self.dim = dim
        self.ngram = ngram
        self.text_turns = text_turns

    def spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        return StoreSpec(
            representation=self.name,
            model="none",
            dim=self.dim,
            num_rows=len(examples),
            fingerprint=examples.fingerprint,
            dtype=self.feature_dtype,
            params={"ngram": self.ngram, "text_turns": self.text_turns, "hash": "crc32-signed"},
        )

    def _vector(self, text: str) -> np.ndarray:
        words = _WORD.findall(text.lower())
        grams = Counter(" ".join(words[i : i + n]) for n in range(1, self.ngram + 1) for i in range(len(words) - n + 1))
        vec = np.zeros(self.dim, dtype=np.float32)
        for g, c in grams.items():
            h = zlib.crc32(g.encode("utf-8"))
            vec[h % self.dim] += (1.0 if (h >> 31) & 1 else -1.0) * (1.0 + math.log(c))
        return vec

    def encode_rows(self, examples: ExampleSet, start: int, stop: int, role: Role = "candidate") -> np.ndarray:
        msgs = examples.dataset[start:stop]["messages"]
        if not msgs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(render_text(m, self.text_turns)) for m in msgs])
