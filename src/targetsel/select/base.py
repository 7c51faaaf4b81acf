"""The selector protocol, the :class:`Ranking` result, and the registry.

Every selection algorithm orders the pool: its prefix of length ``B`` is the subset for budget
``B``, so one run serves every budget. Algorithms are small classes registered by name; scikit-
learn style, ``__init__`` stores parameters and :meth:`Selector.rank` does the work.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.registry import Registry
from targetsel.score import FeatureViews, Scores

logger = logging.getLogger(__name__)

__all__ = ["SELECTORS", "Ranking", "Selector", "TopKTooSmallError", "get_selector", "register_selector", "select"]


class TopKTooSmallError(ConfigurationError):
    """Streaming scores kept too few candidates per query for this selector at this budget."""


@dataclass(frozen=True)
class Ranking:
    """An ordered selection: ``indices[:B]`` is the subset for budget ``B``.

    Attributes:
        indices: ``(L,)`` int64 candidate indices, no duplicates.
        query_index: ``(L,)`` int64 query that chose each pick, ``-1`` when not meaningful.
        scores: ``(L,)`` float32 the score behind each pick (NaN when not meaningful).
        method: Registered selector name.
        params: Selector parameters.
        n_candidates: Pool size N.
        extra: Algorithm-specific per-pick arrays (e.g. ``quantile``), each ``(L,)``.

    Example:
        >>> r = Ranking(np.array([2, 0]), np.array([0, 1]), np.array([0.9, 0.8]), "demo", {}, 3)
        >>> r[:1].indices.tolist(), len(r)
        ([2], 2)
    """

    indices: np.ndarray
    query_index: np.ndarray
    scores: np.ndarray
    method: str
    params: dict[str, Any]
    n_candidates: int
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, item: slice) -> Ranking:
        if not isinstance(item, slice):
            raise TypeError("index a Ranking with a slice, e.g. ranking[:1000]; use .indices for elements")
        return Ranking(
            self.indices[item],
            self.query_index[item],
            self.scores[item],
            self.method,
            self.params,
            self.n_candidates,
            {k: v[item] for k, v in self.extra.items()},
        )

    def head(self, budget: int) -> Ranking:
        """The subset for ``budget`` (the first ``budget`` picks)."""
        if budget > len(self):
            raise ConfigurationError(f"budget {budget} exceeds the ranking length {len(self)}")
        return self[:budget]


class Selector(ABC):
    """Base class of selection algorithms.

    Subclasses set ``name`` and implement :meth:`_rank`; :meth:`rank` validates the budget, the
    inputs the selector declares it needs, and the output (no duplicates, right length).

    What a selector needs is declared once, as class attributes (as kronfluence's strategies
    declare ``requires_*``), and :func:`targetsel.pipeline.run_selection` acts on it:

    * ``requires_scores``: the scores are read (``False``: the pipeline skips the scoring pass);
    * ``requires_features``: when the :class:`~targetsel.score.FeatureViews` are read — ``"never"``,
      ``"streaming"`` (only on streaming top-k scores: rescoring passes, chunked sweeps) or
      ``"always"``; the pipeline passes the views to every selector that may read them;
    * ``supports_streaming``: exact on streaming top-k scores (see :meth:`required_top_k`).

    Example:
        >>> get_selector("random").requires_scores, get_selector("uot").requires_features
        (False, 'streaming')
    """

    name: ClassVar[str]
    #: Short name in method labels and reports, as in the paper ("RR", "DG").
    label: ClassVar[str]
    #: False when the algorithm never reads the scores (the pipeline then does not score).
    requires_scores: ClassVar[bool] = True
    #: When the algorithm reads the feature views: "never", "streaming" (streaming scores only) or "always".
    requires_features: ClassVar[str] = "never"
    #: True when the algorithm is exact on streaming top-k scores with ``top_k >= required_top_k``.
    supports_streaming: ClassVar[bool] = False
    #: What to do instead when the feature views are missing (ends the error message).
    features_hint: ClassVar[str] = "or score without top_k"

    def required_top_k(self, budget: int, n_queries: int = 1, memory_bytes: int | None = None) -> int:
        """Streaming ``top_k`` per query to score with for ``budget`` (default: ``budget``).

        Round-robin windows that run dry are refilled through the feature views (one more streaming
        pass); lists that cannot be refilled raise :class:`TopKTooSmallError`, and
        :func:`targetsel.pipeline.run_selection` then scores again with a 4x larger ``top_k``.
        """
        return budget

    def features_needed(self, scores: Scores) -> bool:
        """Whether :meth:`rank` must have the feature views for these scores (checked before ``_rank``)."""
        return self.requires_features == "always" or (self.requires_features == "streaming" and not scores.is_dense)

    def params(self) -> dict[str, Any]:
        """The selector's parameters (its ``__init__`` arguments)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def rank(
        self,
        scores: Scores | None,
        budget: int | None = None,
        features: FeatureViews | None = None,
    ) -> Ranking:
        """Order the pool; return the first ``budget`` picks (all candidates when ``None``).

        Args:
            scores: Query × candidate similarities (``None`` only for a selector that does not
                read them; the pool size then comes from ``features``).
            budget: Number of picks, ``1 <= budget <= n_candidates``.
            features: The feature views (:class:`~targetsel.score.FeatureViews`), for selectors
                that read features; a selector that reads only the candidates' takes views whose
                ``queries`` are ``None``.

        Raises:
            ConfigurationError: budget out of range, missing inputs.
            InvalidDataError: empty query set or pool, features and scores of different pools.

        Example:
            >>> import numpy as np
            >>> from targetsel.store.viewset import ViewSet
            >>> q, x = np.eye(2, 3), np.eye(4, 3)
            >>> views = FeatureViews(ViewSet.of(q), ViewSet.of(x))
            >>> get_selector("round_robin").rank(views.score(top_k=1), 3, views).indices.tolist()
            [0, 1, 2]
        """
        n_queries: int | None
        if scores is not None:
            n, n_queries = scores.n_candidates, scores.n_queries
        elif features is not None:
            n, n_queries = features.n_candidates, features.n_queries
        else:
            raise ConfigurationError(f"{self.name} needs scores (or, when it reads none, the feature views)")
        if n_queries == 0:
            raise InvalidDataError("the query set is empty; give at least one query example")
        budget = _check_budget(budget, n)
        if scores is None and self.requires_scores:
            raise ConfigurationError(f"{self.name} reads the scores; score first (targetsel.score.score)")
        if scores is not None and features is not None and features.n_candidates != n:
            raise InvalidDataError("candidate features and scores disagree on the number of candidates")
        if scores is not None and features is None and self.features_needed(scores):
            form = "dense" if scores.is_dense else "streaming (top-k)"
            raise ConfigurationError(
                f"{self.name} on {form} scores needs the candidate features: pass features=FeatureViews(...) "
                f"(run_selection passes them); {self.features_hint}"
            )
        r = self._rank(scores, budget, features)
        if len(r) != budget or np.unique(r.indices).size != budget:
            raise AssertionError(f"selector {self.name} returned an invalid ranking (length {len(r)}, budget {budget})")
        return r

    @abstractmethod
    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        """Algorithm body: exactly ``budget`` distinct picks (``scores`` is ``None`` only when not required)."""

    def _ranking(
        self,
        indices: np.ndarray,
        query_index: np.ndarray | None,
        values: np.ndarray | None,
        n: int,
        run_info: dict[str, Any] | None = None,
        **extra: np.ndarray,
    ) -> Ranking:
        """A ranking of this selector; ``run_info`` (e.g. convergence, K, passes) joins its params."""
        b = indices.shape[0]
        return Ranking(
            np.asarray(indices, dtype=np.int64),
            np.full(b, -1, np.int64) if query_index is None else np.asarray(query_index, dtype=np.int64),
            np.full(b, np.nan, np.float32) if values is None else np.asarray(values, dtype=np.float32),
            self.name,
            {**self.params(), **(run_info or {})},
            n,
            extra,
        )


def _check_budget(budget: Any, n: int) -> int:
    if budget is None:
        budget = n
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ConfigurationError(f"budget must be an integer, got {budget!r}")
    if budget <= 0:
        raise ConfigurationError(f"budget must be positive, got {budget}")
    if budget > n:
        raise ConfigurationError(f"budget {budget} exceeds the pool size {n}; choose a budget <= {n}")
    return int(budget)


#: Selection algorithms by name.
SELECTORS: Registry[type[Selector]] = Registry("selection method")


def register_selector(cls: type[Selector]) -> type[Selector]:
    """Class decorator: make a selector available by its ``name`` (a taken name is an error)."""
    return SELECTORS.register(cls)


def get_selector(method: str, **params: Any) -> Selector:
    """Instantiate a registered selector, its parameters checked against its signature first.

    Example:
        >>> get_selector("round_robin").name
        'round_robin'
    """
    from targetsel.params import validate_params  # imports pydantic only when a selector is built

    cls = SELECTORS.get(method)
    params = validate_params(cls, params, what=f"method {method!r}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigurationError(f"bad parameters for method {method!r}: {exc}") from exc


def select(
    scores: Scores | np.ndarray, method: str = "round_robin", budget: int | None = None, **params: Any
) -> Ranking:
    """Rank the pool with a registered method.

    Args:
        scores: :class:`Scores` or a dense ``(n_queries, n_candidates)`` array.
        method: Registered selector name (see ``SELECTORS``).
        budget: Number of picks (``None``: the whole pool).
        **params: Selector parameters; ``features`` (a :class:`~targetsel.score.FeatureViews`) is
            passed to :meth:`Selector.rank`.

    Example:
        >>> import numpy as np
        >>> select(np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.7]]), "round_robin", budget=2).indices.tolist()
        [0, 1]
    """
    if not isinstance(scores, Scores):
        scores = Scores.from_matrix(scores)
    features = params.pop("features", None)
    return get_selector(method, **params).rank(scores, budget, features)
