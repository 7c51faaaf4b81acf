"""Representations: how query and candidate examples become vectors.

Each representation lives in its own module behind :class:`Representation`; the registry maps
names (``embed``, ``lexical``, and the LM representations ``gradient`` and ``hidden``) to classes.
"""

from __future__ import annotations

from targetsel.represent.base import (
    REPRESENTATIONS,
    Representation,
    Role,
    get_representation,
    register_representation,
)
from targetsel.represent.embed import DEFAULT_EMBED_MODEL, EmbedRepresentation
from targetsel.represent.gradient import GradientRepresentation
from targetsel.represent.hidden import HiddenRepresentation
from targetsel.represent.lexical import LexicalRepresentation
from targetsel.represent.projection import DenseProjector, Projector, SparseProjector, get_projector

__all__ = [
    "DEFAULT_EMBED_MODEL",
    "REPRESENTATIONS",
    "DenseProjector",
    "EmbedRepresentation",
    "GradientRepresentation",
    "HiddenRepresentation",
    "LexicalRepresentation",
    "Projector",
    "Representation",
    "Role",
    "SparseProjector",
    "get_projector",
    "get_representation",
    "register_representation",
]
