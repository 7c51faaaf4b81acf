"""Query × candidate similarity: cosine, streamed over feature stores in chunks.

:func:`score` computes ``S[q, j] = Σ_c w_c · cos(query_c[q], candidate_c[j])`` over one or more
(query, candidate) feature pairs (several LESS checkpoints, each weighted by its learning rate).
Candidates are read in chunks of ``chunk_rows`` rows, so memory is bounded by the chunk (plus the
output), never by reading the whole store.

Two outputs, behind one protocol (:class:`Scores`):

* **dense** (``top_k=None``, :class:`DenseScores`): the full ``(n_queries, n_candidates)`` float32
  matrix;
* **streaming** (``top_k=K``, :class:`StreamingScores`): for each query its ``K`` best candidates,
  ordered by score (ties → lower candidate index), plus per-candidate maximum, arg-maximum and
  mean over queries. Memory ``O(M·K + N)``.

The package, by concern:

* :mod:`~targetsel.score.scores`: the result types;
* :mod:`~targetsel.score.similarity`: normalisation, view weights (the one weight rule) and
  multi-view weighted cosine;
* :mod:`~targetsel.score.keys`: exact int64 order keys;
* :mod:`~targetsel.score.topk`: every exact top-k kernel, :class:`StreamingTopK` included;
* :mod:`~targetsel.score.passes`: :class:`~targetsel.score.passes.ScorePass`, what one pass of the
  chunk driver reads;
* :mod:`~targetsel.score.stream`: the chunk driver and its tile/thread pool (and
  :mod:`~targetsel.score.cuda`, its device path, :mod:`~targetsel.score.integer`, its exact
  integer path);
* :mod:`~targetsel.score.views`: :class:`FeatureViews`, the typed features handed to selectors.

Example:
    >>> import numpy as np
    >>> q, c = np.eye(2, 3, dtype=np.float32), np.eye(4, 3, dtype=np.float32)
    >>> score(q, c).matrix.tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

from targetsel.score.keys import MAX_CANDIDATES, decode_keys, encode_keys
from targetsel.score.scores import DenseScores, Scores, StreamingScores
from targetsel.score.stream import FeaturesLike, score, score_chunks, score_provenance
from targetsel.score.topk import StreamingTopK, column_max_argmax, dense_topk, topk_rows
from targetsel.score.views import FeatureViews

__all__ = [
    "MAX_CANDIDATES",
    "DenseScores",
    "FeatureViews",
    "FeaturesLike",
    "Scores",
    "StreamingScores",
    "StreamingTopK",
    "column_max_argmax",
    "decode_keys",
    "dense_topk",
    "encode_keys",
    "score",
    "score_chunks",
    "score_provenance",
    "topk_rows",
]
