"""The one home of row normalisation, view weights and multi-view weighted cosine.

Features are stored raw; whoever compares them normalises when reading, here. A representation
gives one or more *views* (e.g. one per LESS checkpoint) and one weight per view.

**The weight rule.** The similarity of a query ``q`` and a candidate ``x`` is

``S(q, x) = Σ_c w_c · cos(q_c, x_c)``

with the weights **as given** (:func:`score_weights`; default uniform ``1 / n_views``). This is
what :func:`targetsel.score.score` computes and every selector ranks by. Where a quantity needs
unit vectors or a similarity in ``[-1, 1]`` — the concatenated unit features of knn's kernel
density (:func:`unit_features`), the cost ``(1 − S) / 2 ∈ [0, 1]`` and the MMD of
:mod:`targetsel.diagnose` (:func:`weighted_cosine`) — the weights are **rescaled to sum 1**
(:func:`unit_weights`), i.e. ``S / Σ_c w_c``. The representations give weights that already sum
to 1 (LESS: learning rates normalised; one view: ``[1.0]``), so the two agree; they differ by the
factor ``Σ_c w_c`` only for hand-made weights that do not sum to 1 (kept as it was, so every output
stays the same; see :func:`unit_weights`).

**Normalisation.** Three numeric contracts, each pinned by tests and by the outputs it produces:

* :func:`normalize_rows`: float32 rows divided by their float32 norm, the scoring hot path
  (candidate chunks, in place into reused buffers; NaN/inf found through the norm);
* :func:`unit_rows`: float64 rows divided by ``max(‖x‖, 1e-12)`` (diagnose's distances);
* :func:`unit_features`: float64 normalisation and ``√w`` scaling rounded once to float32 (the
  nearest float32 to the scaled unit vector: knn's kernel density sees norms exactly 1).

Example:
    >>> import numpy as np
    >>> q, x = [np.array([[1.0, 0.0]])], [np.array([[1.0, 1.0]])]
    >>> round(float(weighted_cosine([unit_rows(a) for a in q], [unit_rows(a) for a in x], unit_weights(1))[0, 0]), 4)
    0.7071
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.store.codecs import sign_rows, to_float32
from targetsel.store.rows import RowSubset

__all__ = [
    "check_same_weights",
    "normalize_rows",
    "score_weights",
    "unit_chunk",
    "unit_features",
    "unit_rows",
    "unit_weights",
    "weighted_cosine",
]


# ------------------------------------------------------------------------------------------ weights
def score_weights(weights: Sequence[float] | None, n_views: int) -> np.ndarray:
    """The weights of ``S = Σ_c w_c cos_c``, as given (default uniform ``1 / n_views``), float64.

    Raises:
        ConfigurationError: not one finite weight per view.

    Example:
        >>> score_weights(None, 2).tolist(), score_weights([0.3, 0.9], 2).tolist()
        ([0.5, 0.5], [0.3, 0.9])
    """
    w = np.full(n_views, 1.0 / n_views) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_views,) or not np.isfinite(w).all():
        raise ConfigurationError(f"need {n_views} finite weights, got {weights!r}")
    return w


def unit_weights(n_views: int, weights: Sequence[float] | None = None) -> np.ndarray:
    """The weights rescaled to sum 1 (default equal), for similarities that must lie in ``[-1, 1]``.

    Equal to :func:`score_weights` when the given weights sum to 1 (what every representation
    gives); for other weights the unit-vector quantities see ``S / Σ_c w_c``.

    Raises:
        ConfigurationError: not ``n_views`` non-negative weights with a positive sum.

    Example:
        >>> unit_weights(2, [3.0, 1.0]).tolist()
        [0.75, 0.25]
    """
    w = np.ones(n_views) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_views,) or (w < 0).any() or not w.sum() > 0:
        raise ConfigurationError(f"need {n_views} non-negative view weights with a positive sum, got {weights!r}")
    unit: np.ndarray = w / w.sum()
    return unit


def check_same_weights(query_weights: Sequence[float], candidate_weights: Sequence[float]) -> None:
    """Queries and candidates must be weighted alike (the same views, the same checkpoints).

    Raises:
        ConfigurationError: the two weight lists differ.

    Example:
        >>> check_same_weights([1.0], [1.0])
    """
    if list(query_weights) != list(candidate_weights):
        raise ConfigurationError(
            f"query and candidate view weights differ ({list(query_weights)} vs {list(candidate_weights)}); "
            "encode both with the same representation and checkpoints"
        )


# ------------------------------------------------------------------------------------ normalisation
def normalize_rows(block: np.ndarray, what: str, start: int, out: np.ndarray | None = None) -> np.ndarray:
    """Row-normalised float32 copy of ``(rows, dim)`` features (into ``out`` when given).

    A NaN/inf row is an error, found through its norm (no extra pass); ``what`` and ``start``
    (the block's first row) name it in the message.

    Raises:
        InvalidDataError: a row contains NaN or inf.

    Example:
        >>> normalize_rows(np.array([[3.0, 4.0]]), "query", 0).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    x = to_float32(block, out)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    if not np.isfinite(norms).all():
        bad_rows = ~np.isfinite(x).all(axis=1)
        if bad_rows.any():
            raise InvalidDataError(
                f"{what} features of row {int(np.flatnonzero(bad_rows)[0]) + start} contain NaN or inf"
            )
        norms = np.linalg.norm(x.astype(np.float64), axis=1).astype(np.float32)  # finite but huge values
    np.divide(x, np.maximum(norms, np.float32(1e-12))[:, None], out=x)
    return x


def unit_chunk(source: Any, start: int, stop: int, out: np.ndarray) -> np.ndarray:
    """Unit rows ``[start, stop)`` of a candidate source, float32, into ``out`` (the scoring hot path).

    Float sources go through :func:`normalize_rows`. Compressed sources (``int8``/``bit``,
    :mod:`targetsel.store.codecs`) are read as stored, without decoding to their float values
    first: the per-row scale or norm cancels in a cosine, so an int8 row is ``q / ‖q‖`` (``q``
    widened to float32) and a bit row is ``±1/√d`` (one table look-up per byte); an all-zero
    row stays zero. Either way the result is the unit vector of the decoded row.

    Example:
        >>> from targetsel.store import EncodedFeatures
        >>> feats = EncodedFeatures.from_float(np.array([[3.0, -4.0]]), "int8")
        >>> [round(float(v), 3) for v in unit_chunk(feats, 0, 1, np.empty((1, 2), np.float32))[0]]  # (95, -127) / ‖·‖
        [0.599, -0.801]
    """
    codec = getattr(source, "codec", None)
    if codec is None or not codec.compressed:
        return normalize_rows(source.read_rows(start, stop), "candidate", start, out=out)
    data, aux = source.read_encoded(start, stop)
    if codec.name == "int8":
        return normalize_rows(data, "candidate", start, out=out)

    dim = out.shape[1]
    x = sign_rows(data, dim, out, 1.0 / math.sqrt(dim))
    zero = np.asarray(aux) == 0
    if zero.any():
        x[zero] = 0.0
    return x


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``(rows, dim)`` float64 rows divided by ``max(‖row‖, 1e-12)``.

    Example:
        >>> unit_rows(np.array([[0.0, 2.0]])).tolist()
        [[0.0, 1.0]]
    """
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = x / np.maximum(norms, 1e-12)
    return unit


def weighted_cosine(queries: list[np.ndarray], others: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``Σ_c w_c · (q_c @ x_cᵀ)`` of unit-normalised views: ``(n_queries, n_others)``.

    Args:
        queries: One ``(n_queries, dim_c)`` unit-row array per view.
        others: One ``(n_others, dim_c)`` unit-row array per view.
        weights: ``(n_views,)`` (:func:`unit_weights` for a similarity in ``[-1, 1]``).

    Example:
        >>> weighted_cosine([np.eye(2)], [np.eye(2)], np.ones(1)).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    total: np.ndarray = sum(wi * (a @ b.T) for wi, a, b in zip(weights, queries, others, strict=True))
    return total


def _read_sorted_rows(src: Any, rows: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Rows ``rows`` (sorted, unique) of a feature source, reading each chunk that holds some of them.

    A row subset is read at its base's rows; a source that fetches scattered rows at once
    (``take_rows``: rows spread over torchrun ranks) is asked for them in one call.
    """
    if not hasattr(src, "read_rows") or isinstance(src, np.ndarray):
        picked: np.ndarray = np.asarray(src, dtype=np.float32)[rows]
        return picked
    while isinstance(src, RowSubset):
        src, rows = src.base, src.rows[rows]
    take = getattr(src, "take_rows", None)
    if take is not None:
        return np.asarray(take(rows), dtype=np.float32)
    out = np.empty((rows.size, src.dim), np.float32)
    pos = 0
    while pos < rows.size:
        start = int(rows[pos])
        stop = min(start + chunk, src.num_rows)
        end = int(np.searchsorted(rows, stop, side="left"))
        block = np.asarray(src.read_rows(start, stop))
        out[pos:end] = block[rows[pos:end] - start]
        pos = end
    return out


def unit_features(sources: Sequence[Any], weights: Sequence[float], rows: np.ndarray) -> np.ndarray:
    """Unit-norm candidate features whose inner products are the weighted cosine of the scores.

    For several views (e.g. LESS checkpoints) each view is L2-normalised, scaled by ``√w`` (the
    weights rescaled to sum 1, :func:`unit_weights`) and concatenated, so
    ``⟨x, y⟩ = Σ_c w_c cos(x_c, y_c) / Σ_c w_c``. Rows are read in sorted runs from the
    (memory-mapped) sources; nothing else is loaded.

    Args:
        sources: Feature sources (FeatureStore or InMemoryFeatures) or arrays, each ``(N, d_c)``.
        weights: One non-negative weight per source.
        rows: ``(R,)`` sorted unique candidate indices.

    Returns:
        ``(R, Σ d_c)`` float32.

    Example:
        >>> from targetsel.store import InMemoryFeatures
        >>> x = unit_features([InMemoryFeatures(np.array([[3.0, 4.0], [1.0, 0.0]]))], [1.0], np.array([0]))
        >>> np.round(x.astype(np.float64), 2).tolist()
        [[0.6, 0.8]]
    """
    w = unit_weights(len(sources), weights)
    parts = []
    for src, wc in zip(sources, w, strict=True):
        out = _read_sorted_rows(src, rows)
        if not np.isfinite(out).all():
            raise InvalidDataError("candidate features contain NaN or inf; re-encode the pool")
        # normalised and scaled in float64, rounded once: the nearest float32 to the unit vector
        # (a float32 norm would leave each row's norm a few ulp off 1, differently per layout)
        x64 = out.astype(np.float64)
        x64 /= np.maximum(np.sqrt(np.einsum("ij,ij->i", x64, x64)), 1e-300)[:, None]
        x64 *= math.sqrt(wc)
        parts.append(x64.astype(np.float32))
    x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)
