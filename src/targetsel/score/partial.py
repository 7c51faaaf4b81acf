"""One rank's share of a scoring pass, and the merge of every rank's shares into :class:`Scores`.

Under ``torchrun`` each rank scores only the candidate rows it owns (:mod:`targetsel.score.ranks`),
and rank 0 merges what they kept. The merged scores equal a one-process :func:`~targetsel.score.score`
bit for bit:

* **The same products.** The chunk driver multiplies fixed, absolutely aligned blocks of
  :data:`~targetsel.score.passes.BLOCK` candidates (:mod:`targetsel.score.stream`), and a score's
  bits depend on the block it was computed in. So a rank scores every block that holds one of its
  rows *whole*, the rows of other ranks read as zeros, and keeps only its own columns. A GEMM
  entry depends only on its own query row and candidate column, and the tile's shape and position
  are those of the one-process pass, so each kept score is the one-process score. The blocks a
  rank needs are laid end to end (:class:`_Packed`), so its pass runs in chunks of several blocks
  as a one-process pass does.
* **Exact per-query top-k.** A rank keeps the top ``min(k, its rows)`` of each query among its own
  columns, as tie-free order keys (:mod:`targetsel.score.keys`) with global candidate indices;
  the global top ``k`` is the top ``k`` of the union of the ranks' lists (score desc, index asc),
  since every entry of it is in its owner's list.
* **Column statistics** (maximum, arg-maximum and mean over queries) are per candidate: each rank
  sends those of its rows and rank 0 places them.

Example:
    >>> import numpy as np
    >>> from targetsel.score import score
    >>> rng = np.random.default_rng(0)
    >>> q, x = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    >>> parts = [score_rows(q, x, r, top_k=4) for r in ([[0, 20]], [[20, 35]], [[35, 50]])]
    >>> merged = merge_partials(parts, top_k=4)
    >>> np.array_equal(merged.topk_indices, score(q, x, top_k=4).topk_indices)
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.progress import progress
from targetsel.score.keys import decode_keys, encode_keys
from targetsel.score.passes import BLOCK, ScorePass
from targetsel.score.scores import DenseScores, Scores, StreamingScores
from targetsel.score.stream import FeaturesLike, _as_sources, run_pass
from targetsel.score.topk import StreamingTopK, use_compiled
from targetsel.store import FeatureSource
from targetsel.store.memory import RowReader

__all__ = ["PartialScores", "check_ranges", "merge_partials", "score_rows"]


def check_ranges(ranges: Any, n: int) -> np.ndarray:
    """``ranges`` as an ``(R, 2)`` int64 array of sorted, disjoint, non-empty ``[start, stop)`` within ``[0, n)``.

    Raises:
        ConfigurationError: ranges out of order, overlapping, empty or out of bounds.

    Example:
        >>> check_ranges([[0, 4], [6, 9]], 10).tolist()
        [[0, 4], [6, 9]]
    """
    r = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    if r.size and ((r[:, 0] >= r[:, 1]).any() or r[0, 0] < 0 or r[-1, 1] > n or (r[1:, 0] < r[:-1, 1]).any()):
        raise ConfigurationError(f"row ranges must be sorted, disjoint and non-empty within [0, {n}), got {r.tolist()}")
    return r


@dataclass
class PartialScores:
    """What one rank keeps of a scoring pass over its rows (merged by :func:`merge_partials`).

    Attributes:
        ranges: ``(R, 2)`` int64, the candidate rows ``[start, stop)`` scored here, sorted.
        n_queries: M.
        n_candidates: N, the whole pool.
        keys: Streaming form: ``(M, k_r)`` int64 ascending order keys of each query's best ``k_r``
            candidates among these rows (global indices); ``None`` in dense form.
        cand_max: ``(n_rows,)`` float32 per-candidate maximum, rows in range order (streaming).
        cand_argmax: ``(n_rows,)`` int64 query reaching it (streaming).
        cand_mean: ``(n_rows,)`` float32 mean over queries (streaming).
        matrix: Dense form: ``(M, n_rows)`` float32 columns of these rows; ``None`` when streaming.

    Example:
        >>> import numpy as np
        >>> p = score_rows(np.eye(2, 3), np.eye(5, 3), [[1, 3]])
        >>> p.n_rows, p.matrix.shape
        (2, (2, 2))
    """

    ranges: np.ndarray
    n_queries: int
    n_candidates: int
    keys: np.ndarray | None = None
    cand_max: np.ndarray | None = None
    cand_argmax: np.ndarray | None = None
    cand_mean: np.ndarray | None = None
    matrix: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int((self.ranges[:, 1] - self.ranges[:, 0]).sum())


class _Packed(RowReader):
    """The aligned blocks holding some of ``ranges``, end to end, as one source; other rows read as zeros.

    Virtual block ``j`` is pool block ``blocks[j]`` (rows ``[blocks[j]·B, (blocks[j]+1)·B)``), so
    every product of the chunk driver covers exactly one pool block, with its shape: only the
    pool's last block can be short, and it comes last. A zero row normalises to zero whatever the
    codec (a bit row with a zero norm, an int8 row of zeros), and its columns are dropped anyway.
    """

    def __init__(self, base: FeatureSource, blocks: np.ndarray, segments: np.ndarray) -> None:
        self.base, self.blocks, self.segments = base, blocks, segments
        self.codec: Any = getattr(base, "codec", None)
        last = int(blocks[-1])  # the only block that may be short: the pool's last
        self._rows = BLOCK * (len(blocks) - 1) + min(base.num_rows, (last + 1) * BLOCK) - last * BLOCK

    @property
    def num_rows(self) -> int:
        return self._rows

    @property
    def dim(self) -> int:
        return int(self.base.dim)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.base.manifest

    def _pieces(self, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
        """``(virtual lo, virtual hi, pool lo)`` of the owned rows within virtual ``[start, stop)``."""
        seg = self.segments
        i = int(np.searchsorted(seg[:, 1], start, side="right"))
        while i < len(seg) and seg[i, 0] < stop:
            lo, hi = max(start, int(seg[i, 0])), min(stop, int(seg[i, 1]))
            yield lo, hi, int(seg[i, 2]) + lo - int(seg[i, 0])
            i += 1

    def _read(self, start: int, stop: int, encoded: bool) -> Any:
        read = self.base.read_encoded if encoded else self.base.read_rows  # type: ignore[attr-defined]  # a compressed base's
        pieces = list(self._pieces(start, stop))
        if len(pieces) == 1 and pieces[0][:2] == (start, stop):  # all owned: the store's own view, no copy
            lo, hi, p = pieces[0]
            return read(p, p + hi - lo)
        out, aux = None, None
        for lo, hi, p in pieces:
            got = read(p, p + hi - lo)
            data = np.asarray(got[0] if encoded else got)
            if out is None:
                out = np.zeros((stop - start, data.shape[1]), dtype=data.dtype)
                aux = np.zeros(stop - start, np.float32) if encoded and got[1] is not None else None
            out[lo - start : hi - start] = data
            if aux is not None:
                aux[lo - start : hi - start] = got[1]
        if out is None:  # no owned row here (the driver never asks for such a chunk)
            empty = read(0, 0)
            data = np.asarray(empty[0] if encoded else empty)
            out = np.zeros((stop - start, data.shape[1]), dtype=data.dtype)
            aux = np.zeros(stop - start, np.float32) if encoded and empty[1] is not None else None
        return (out, aux) if encoded else out

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        rows: np.ndarray = self._read(start, stop, False)
        return rows

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        stored: tuple[np.ndarray, np.ndarray | None] = self._read(start, stop, True)
        return stored


def _layout(ranges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool blocks holding some row of ``ranges``, and ``(virtual lo, virtual hi, pool lo)`` per owned piece."""
    if not ranges.size:
        return np.empty(0, np.int64), np.empty((0, 3), np.int64)
    blocks = np.unique(
        np.concatenate([np.arange(a // BLOCK, (b - 1) // BLOCK + 1) for a, b in ranges.tolist()])
    ).astype(np.int64)
    virtual_start = {int(b): j * BLOCK for j, b in enumerate(blocks.tolist())}
    segs: list[list[int]] = []
    for a, b in ranges.tolist():
        for blk in range(a // BLOCK, (b - 1) // BLOCK + 1):
            lo, hi = max(a, blk * BLOCK), min(b, (blk + 1) * BLOCK)
            v = virtual_start[blk] + lo - blk * BLOCK
            if segs and segs[-1][1] == v and segs[-1][2] + (segs[-1][1] - segs[-1][0]) == lo:
                segs[-1][1] = v + hi - lo  # contiguous in both: one piece
            else:
                segs.append([v, v + hi - lo, lo])
    return blocks, np.asarray(segs, dtype=np.int64).reshape(-1, 3)


def _packed_exclude(exclude: np.ndarray, blocks: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([exclude[b * BLOCK : min(n, (b + 1) * BLOCK)] for b in blocks.tolist()])


def score_rows(
    queries: FeaturesLike | Sequence[FeaturesLike],
    candidates: FeaturesLike | Sequence[FeaturesLike],
    ranges: Any,
    *,
    weights: Sequence[float] | None = None,
    top_k: int | None = None,
    chunk_rows: int = 16384,
    device: str | None = None,
    exclude: np.ndarray | None = None,
    query_dtype: str = "float",
    desc: str | None = "score",
) -> PartialScores:
    """Score every query against the candidate rows in ``ranges`` only: one rank's share of :func:`score`.

    The candidate sources span the whole pool (``N`` rows) but only the rows in ``ranges`` are
    read; each kept score equals the one :func:`~targetsel.score.score` computes over the whole
    pool, bit for bit (see the module docstring).

    Args:
        queries: Query features ``(M, d)``, or one per view.
        candidates: Candidate sources ``(N, d)``, one per view (rows outside ``ranges`` may be absent).
        ranges: ``(R, 2)`` sorted, disjoint ``[start, stop)`` candidate rows.
        weights: View weights, as :func:`~targetsel.score.score` takes them.
        top_k: Streaming form: each query's best ``min(top_k, rows)`` of these rows and the column
            statistics; ``None``: the dense columns.
        chunk_rows: Candidate rows per chunk (the results do not depend on it).
        device: Scoring device.
        exclude: ``(N,)`` bool, candidates scored ``-inf`` (streaming form only), as in :func:`score`.
        query_dtype: ``float``, ``int8`` or ``bit`` (see :func:`score`).
        desc: Progress bar label (``None``: no bar, e.g. for one chunk of a sweep).

    Returns:
        :class:`PartialScores`.

    Example:
        >>> import numpy as np
        >>> score_rows(np.eye(2, 3), np.eye(5, 3), [[0, 2], [4, 5]], top_k=1).keys.shape
        (2, 1)
    """
    qs, cs = _as_sources(queries), _as_sources(candidates)
    m, n = qs[0].num_rows, cs[0].num_rows
    r = check_ranges(ranges, n)
    n_rows = int((r[:, 1] - r[:, 0]).sum())
    if top_k is not None and top_k <= 0:
        raise ConfigurationError(f"top_k must be positive, got {top_k}")
    if exclude is not None and (top_k is None or np.shape(exclude) != (n,)):
        raise ConfigurationError(f"exclude needs streaming scores (top_k) and shape ({n},), got {np.shape(exclude)}")
    out = PartialScores(r, m, n)
    if top_k is None:
        out.matrix = np.empty((m, n_rows), np.float32)
    else:
        out.cand_max, out.cand_mean = np.empty(n_rows, np.float32), np.empty(n_rows, np.float32)
        out.cand_argmax = np.empty(n_rows, np.int64)
        out.keys = np.empty((m, 0), np.int64)
    if n_rows == 0:
        return out
    blocks, segs = _layout(r, n)
    packed = [_Packed(c, blocks, segs) for c in cs]
    scoring = ScorePass.create(
        qs,
        packed,
        weights=weights,
        chunk_rows=chunk_rows,
        device=device,
        query_dtype=query_dtype,
        exclude=None if exclude is None else _packed_exclude(np.asarray(exclude, dtype=bool), blocks, n),
        with_mean=top_k is not None,
    )
    use_compiled(m * n)  # (the whole pass's size: a large one loads the compiled kernels for every rank's chunks)
    topk = None if top_k is None else StreamingTopK(m, min(top_k, n_rows))
    pos = 0
    with progress(total=n_rows, desc=desc or "", unit="cand", enabled=None if desc else False) as bar:
        for start, block, mean in run_pass(scoring):
            for lo, hi, p in packed[0]._pieces(start, start + block.shape[1]):
                cols = block[:, lo - start : hi - start]
                width = hi - lo
                if topk is None:
                    out.matrix[:, pos : pos + width] = cols  # type: ignore[index]  # dense form: matrix set above
                else:
                    cols = np.ascontiguousarray(cols)
                    best, arg = topk.add_with_column_max(cols, p)  # one read of the chunk for both
                    out.cand_max[pos : pos + width], out.cand_argmax[pos : pos + width] = best, arg  # type: ignore[index]  # streaming form: set above
                    out.cand_mean[pos : pos + width] = mean[lo - start : hi - start]  # type: ignore[index]  # (as above)
                pos += width
                bar.update(width)
    if topk is not None:
        idx, val = topk.result()
        out.keys = np.ascontiguousarray(encode_keys(val, idx)[:, ::-1])  # ascending
    return out


def merge_partials(
    parts: Sequence[PartialScores], *, top_k: int | None, provenance: dict[str, Any] | None = None
) -> Scores:
    """The scores of the whole pool from every rank's :class:`PartialScores` (their rows must cover it once).

    Raises:
        InvalidDataError: the parts' rows overlap or leave rows unscored, or they disagree on the shape.

    Example:
        >>> import numpy as np
        >>> parts = [score_rows(np.eye(2, 3), np.eye(5, 3), r) for r in ([[0, 2]], [], [[2, 5]])]
        >>> merge_partials(parts, top_k=None).matrix.tolist()[0]
        [1.0, 0.0, 0.0, 0.0, 0.0]
    """
    m, n = parts[0].n_queries, parts[0].n_candidates
    if any(p.n_queries != m or p.n_candidates != n for p in parts):
        raise InvalidDataError("the ranks' partial scores disagree on the number of queries or candidates")
    order = np.concatenate([p.ranges for p in parts]).reshape(-1, 2)
    order = order[np.argsort(order[:, 0], kind="stable")]
    if not order.size or order[0, 0] != 0 or order[-1, 1] != n or (order[1:, 0] != order[:-1, 1]).any():
        raise InvalidDataError(
            f"the ranks' candidate rows must cover the pool's {n} rows exactly once, got {order.tolist()}"
        )
    prov = dict(provenance or {})
    if top_k is None:
        matrix = np.empty((m, n), np.float32)
        for p, cols, _ in _placed(parts):
            matrix[:, cols] = p.matrix[:, _]  # type: ignore[index]  # top_k None: every part is dense
        return DenseScores(m, n, matrix=matrix, provenance=prov)
    k = min(top_k, n)
    keys = np.concatenate([p.keys for p in parts], axis=1)
    keys.sort(axis=1)  # tie-free keys: the exact order, whatever the ranks' order
    idx, val = decode_keys(keys[:, ::-1][:, :k])
    cmax, cmean, carg = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, np.int64)
    for p, cols, own in _placed(parts):
        cmax[cols], cmean[cols], carg[cols] = p.cand_max[own], p.cand_mean[own], p.cand_argmax[own]  # type: ignore[index]  # streaming parts
    return StreamingScores(
        m, n, np.ascontiguousarray(idx), np.ascontiguousarray(val), cmax, carg, cmean, provenance=prov
    )


def _placed(parts: Sequence[PartialScores]) -> Iterator[tuple[PartialScores, slice, slice]]:
    """``(part, pool columns, the part's own positions)`` of every range of every part."""
    for p in parts:
        pos = 0
        for a, b in p.ranges.tolist():
            yield p, slice(a, b), slice(pos, pos + b - a)
            pos += b - a
