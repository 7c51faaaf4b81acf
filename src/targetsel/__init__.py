"""targetsel: targeted instruction selection.

Given a large pool of instruction-tuning examples and a small query set from a target task,
choose the subset of the pool that best teaches a language model that task. Every method is a
*representation* (how examples become vectors) times a *selection algorithm* (how the
query × candidate similarities order the pool), after Nayak et al., *A Critical Look at
Targeted Instruction Selection* (ICML 2026).

Example:
    >>> import targetsel as ts
    >>> from targetsel.demo import demo_pool_path, demo_query_path
    >>> pool, query = ts.load_pool(demo_pool_path()), ts.load_queries(demo_query_path("math"))
    >>> rep = ts.LexicalRepresentation()
    >>> scores = ts.score(rep.encode(query, role="query"), rep.encode(pool))
    >>> ranking = ts.select(scores, method="round_robin", budget=100)
    >>> len(ranking)
    100
"""

from __future__ import annotations

from targetsel._version import __version__
from targetsel.data import ExampleSet, load_examples, load_pool, load_queries
from targetsel.errors import (
    ArtifactMismatchError,
    ConfigurationError,
    IncompleteArtifactError,
    InvalidDataError,
    MissingArtifactError,
    TargetselError,
)
from targetsel.export import export
from targetsel.represent import EmbedRepresentation, LexicalRepresentation, get_representation
from targetsel.score import Scores, score
from targetsel.select import SELECTORS, Ranking, select
from targetsel.store import FeatureStore, InMemoryFeatures, StoreSpec

__all__ = [
    "SELECTORS",
    "ArtifactMismatchError",
    "ConfigurationError",
    "EmbedRepresentation",
    "ExampleSet",
    "FeatureStore",
    "InMemoryFeatures",
    "IncompleteArtifactError",
    "InvalidDataError",
    "LexicalRepresentation",
    "MissingArtifactError",
    "Ranking",
    "Scores",
    "StoreSpec",
    "TargetselError",
    "__version__",
    "export",
    "get_representation",
    "load_examples",
    "load_pool",
    "load_queries",
    "score",
    "select",
]
