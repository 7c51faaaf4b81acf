"""Scoring across ``torchrun`` ranks: rank 0 drives the selection, every rank scores the rows it owns.

Under ``torchrun --nproc-per-node N`` the pool's feature stores are split by shard as
``targetsel encode`` splits them: rank ``r`` owns the shards ``i`` with ``i % N == r`` (fixed row
ranges; a rank may own none). Rank 0 runs the whole selection; the other ranks wait in
:meth:`RankGroup.serve` for its commands:

* **score** (every scoring pass: the first one, round-robin window refills with the ``used``
  mask, knn's re-score with a larger ``top_k``, and passes for summaries): each rank scores its
  rows (:func:`~targetsel.score.partial.score_rows`) and sends rank 0 each query's top ``k`` among
  them as order keys plus its rows' column statistics, or its dense columns; rank 0 merges
  (:func:`~targetsel.score.partial.merge_partials`). The merged scores equal a one-process pass
  bit for bit, so every selector ranks exactly as in one process.
* **block** (a chunked sweep, :meth:`FeatureViews.chunks`: uot's streaming solver, decontamination
  by features): for each chunk of the one-process sweep, each rank scores its columns of it and
  rank 0 assembles the block, so every consumer sees the same blocks in the same order.
* **take** (rows' features at rank 0, e.g. knn's kernel densities, near-duplicate control): each
  rank sends the stored bytes of the requested rows it owns.

Commands carry what the ranks do not hold: the query features (once per query set), the rows of
a decontaminated pool (the removed ones, once), the ``used`` mask (packed bits). A failure on any
rank reaches rank 0 as the same error class with the rank named; rank 0 then tells the others to
stop (they raise :class:`~targetsel.errors.RankStoppedError`, which the CLI turns into exit
status 2 without a second message). :class:`RankedSource` is rank 0's view of a candidate store
whose rows live on several ranks; a :class:`~targetsel.score.FeatureViews` over such sources
scores through its group.

Example:
    >>> owned_shards(10, rank=1, world=4)
    [1, 5, 9]
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

import targetsel.errors as errors
from targetsel.errors import ConfigurationError, IncompleteArtifactError, RankStoppedError, TargetselError
from targetsel.score.partial import PartialScores, merge_partials, score_rows
from targetsel.score.passes import ScorePass
from targetsel.score.scores import Scores
from targetsel.score.wire import Message, Wire
from targetsel.store import FeatureStore, InMemoryFeatures, RowSubset
from targetsel.store.memory import RowReader

if TYPE_CHECKING:
    from targetsel.score.views import FeatureViews

logger = logging.getLogger(__name__)

__all__ = ["WAIT_LIMIT", "RankGroup", "RankedSource", "local_cuda", "owned_shards", "shard_ranges"]

#: How long a rank waits for another in one exchange (a rank that dies ends the job sooner: torchrun
#: stops the others).
WAIT_LIMIT = timedelta(hours=24)

#: ``handler(meta, arrays) -> reply`` of a command (see :meth:`RankGroup.register`).
Handler = Callable[[dict[str, Any], dict[str, np.ndarray]], Message]


def owned_shards(num_shards: int, *, rank: int, world: int) -> list[int]:
    """The shards rank ``rank`` of ``world`` owns: ``i % world == rank``, as ``targetsel encode`` splits them."""
    return list(range(rank, num_shards, world))


def shard_ranges(store: FeatureStore, shards: Sequence[int]) -> np.ndarray:
    """``(R, 2)`` row ranges ``[start, stop)`` of ``shards`` (sorted), adjacent ones joined.

    Example:
        >>> import types
        >>> fake = types.SimpleNamespace(shard_range=lambda i: (4 * i, min(10, 4 * i + 4)))
        >>> shard_ranges(fake, [0, 1]).tolist(), shard_ranges(fake, [2]).tolist()
        ([[0, 8]], [[8, 10]])
    """
    out: list[list[int]] = []
    for i in sorted(shards):
        a, b = store.shard_range(i)
        if out and out[-1][1] == a:
            out[-1][1] = b
        elif b > a:
            out.append([a, b])
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _view_ranges(owned: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """The owned pool rows as ranges of a row subset's positions (``rows``: the subset, ``None``: all)."""
    if rows is None:
        return owned
    out = []
    for a, b in owned.tolist():
        lo, hi = int(np.searchsorted(rows, a)), int(np.searchsorted(rows, b))
        if hi > lo:
            out.append([lo, hi])  # a range never spans two owned shards' gap: each maps on its own
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _status(exc: BaseException) -> tuple[str, str]:
    """What a rank reports of its error: the class name and the message (an OS error as the CLI words it)."""
    if isinstance(exc, OSError) and not isinstance(exc, TargetselError):
        return "OSError", f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    return type(exc).__name__, str(exc)


def _failure(exc: BaseException) -> Message:
    return {"error": _status(exc)}, {}


def _rebuilt(rank: int, name: str, message: str) -> Exception:
    """The error a rank reported, as the same targetsel error class with the rank named."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, TargetselError) and cls is not RankStoppedError:
        return cls(f"rank {rank}: {message}")
    if name == "OSError":
        return TargetselError(f"rank {rank}: {message}")
    return TargetselError(f"rank {rank} failed: {name}: {message}")  # a bug: its traceback is in that rank's log


class RankGroup:
    """This process's place in a torchrun job: rank 0 drives, the others :meth:`serve`.

    Use :meth:`join` to start (it creates the gloo process group when none exists) and the
    group as a context manager. Every rank calls :meth:`agree` once its inputs are read; then
    rank 0 sends commands (:meth:`call`, through :func:`~targetsel.pipeline.run_selection`) while
    the others :meth:`serve`. Leaving the block, rank 0 tells the others to stop (after an error:
    to abort), and every rank leaves the process group it created.

    Attributes:
        rank: This process's rank.
        world: Number of ranks.
        row_ranges: On rank 0 after the pool is attached: the pool rows each rank scores.
        wire: The byte counters of what this rank sent and received.

    Example:
        >>> RankGroup(0, 1).is_driver
        True
    """

    def __init__(self, rank: int, world: int, *, owns_process_group: bool = False) -> None:
        self.rank, self.world = rank, world
        self.wire = Wire()
        self.row_ranges: list[list[list[int]]] = []
        self._owns = owns_process_group
        self._closed = self._agreed = self._stopped = False
        self._handlers: dict[str, Handler] = {"score": self._score_here, "take": self._take_here}
        self._local: list[FeatureStore] = []
        self._owned = np.empty((0, 2), np.int64)
        self._sent: dict[int, Any] = {}  # rank 0: objects whose content the others hold (kept alive)
        self._held: dict[int, Any] = {}  # other ranks: that content, by rank 0's token

    # ------------------------------------------------------------------ lifetime
    @classmethod
    def join(cls) -> RankGroup:
        """This process's group under torchrun (``RANK``/``WORLD_SIZE`` from the environment)."""
        import torch.distributed as dist

        owns = not dist.is_initialized()
        if owns:
            # gloo: what travels is CPU arrays (scores, keys, rows); a CUDA scoring device is per rank.
            # The ranks wait on one another for as long as the slowest step takes (rank 0 encoding the
            # queries and ranking, a rank encoding its shards of a 7B LESS pool): hours, not gloo's 30 min.
            dist.init_process_group(backend="gloo", timeout=WAIT_LIMIT)
        return cls(dist.get_rank(), dist.get_world_size(), owns_process_group=owns)

    @property
    def is_driver(self) -> bool:
        return self.rank == 0

    def __enter__(self) -> RankGroup:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self.world > 1 and not self._agreed:  # e.g. a failure while reading the inputs
                self.agree(exc if isinstance(exc, Exception) else None)
        finally:
            self.close(failed=exc_type is not None)

    def close(self, *, failed: bool = False) -> None:
        """Rank 0: tell the others to stop (``failed``: to abort); every rank: leave the process group."""
        if self._closed:
            return
        self._closed = True
        if self.is_driver and self.world > 1 and self._agreed and not self._stopped:
            with contextlib.suppress(Exception):  # a rank that died already: nothing left to tell
                self.wire.broadcast(({"op": "abort" if failed else "stop"}, {}))
            logger.info("rank 0: sent %d bytes, received %d bytes", self.wire.sent, self.wire.received)
        if self._owns:
            import torch.distributed as dist

            with contextlib.suppress(Exception):
                dist.destroy_process_group()

    def agree(self, error: BaseException | None = None) -> None:
        """Every rank: say whether what it did on its own (reading its inputs) failed; go on only if none did.

        Called once by every rank before rank 0's first command (by :meth:`call` and :meth:`serve`
        unless called already; by the context manager when the block ends first, e.g. in an
        error), so a failure on one rank never leaves the others waiting. Rank 0 raises the
        failure (its own first, else the first failing rank's, named); the others raise
        :class:`~targetsel.errors.RankStoppedError`.
        """
        import torch.distributed as dist

        if self._agreed and error is None:
            return
        self._agreed = True
        statuses: list[Any] = [None if error is None else _status(error)]
        if self.world > 1:
            statuses = [None] * self.world
            dist.all_gather_object(statuses, None if error is None else _status(error))
        failed = next(((r, s) for r, s in enumerate(statuses) if s is not None), None)
        if failed is None:
            return
        self._stopped = True  # every rank knows: no command follows
        if self.is_driver:
            if error is not None:
                raise error
            raise _rebuilt(failed[0], *failed[1])
        raise RankStoppedError(f"rank {failed[0]} failed") from error

    # ------------------------------------------------------------------ commands
    def register(self, op: str, handler: Handler) -> None:
        """Run ``handler(meta, arrays)`` on every rank for rank 0's ``call(op, ...)``; it returns the reply."""
        self._handlers[op] = handler

    def call(
        self, op: str, meta: dict[str, Any] | None = None, arrays: dict[str, np.ndarray] | None = None
    ) -> list[Message]:
        """Rank 0: run command ``op`` on every rank (itself included); the replies, by rank.

        Raises:
            TargetselError: a rank failed (the first failing rank's error, the rank named).
        """
        if not self.is_driver:
            raise ConfigurationError("only rank 0 sends commands; the other ranks serve()")
        if not self._agreed and self.world > 1:
            self.agree()
        meta, arrays = dict(meta or {}), dict(arrays or {})
        if self.world > 1:
            self.wire.broadcast(({"op": op, **meta}, arrays))
        own_error: BaseException | None = None
        try:
            own = self._handlers[op](meta, arrays)
        except Exception as exc:  # the others' replies are still collected: the ranks stay in step
            own_error, own = exc, _failure(exc)
        replies = [own] + [self.wire.recv(r) for r in range(1, self.world)]
        if own_error is not None:
            raise own_error
        for r, (m, _) in enumerate(replies):
            if "error" in m:
                raise _rebuilt(r, *m["error"])
        return replies

    def serve(self) -> None:
        """Ranks other than 0: run rank 0's commands until it says stop.

        Raises:
            RankStoppedError: rank 0 aborted (its own error is reported there).
        """
        if not self._agreed:
            self.agree()
        while True:
            meta, arrays = self.wire.broadcast(None)
            op = meta.pop("op")
            if op == "stop":
                return
            if op == "abort":
                raise RankStoppedError("rank 0 stopped the run")
            try:
                reply = self._handlers[op](meta, arrays)
            except Exception as exc:
                if not isinstance(exc, (TargetselError, OSError)):  # a bug: keep its traceback here
                    logger.exception("rank %d: %s failed", self.rank, op)
                reply = _failure(exc)
            self.wire.send(reply, dst=0)

    # ------------------------------------------------------------------ the pool's rows
    def attach(self, stores: Sequence[FeatureStore]) -> np.ndarray:
        """Take this rank's share of the candidate stores (one per view); its pool row ranges.

        Raises:
            IncompleteArtifactError: a shard this rank owns is not written.
        """
        first = stores[0]
        if any(s.num_rows != first.num_rows or s.shard_size != first.shard_size for s in stores):
            raise ConfigurationError("the candidate stores of the views differ in rows or shard size")
        mine = owned_shards(first.num_shards, rank=self.rank, world=self.world)
        for s in stores:
            missing = sorted(set(mine) & set(s.missing_shards()))
            if missing:
                raise IncompleteArtifactError(
                    f"feature store {s.path} lacks shard(s) {missing[:5]} that rank {self.rank} scores; "
                    "rerun to encode them"
                )
        self._local, self._owned = list(stores), shard_ranges(first, mine)
        return self._owned

    def record(self) -> dict[str, Any]:
        """What ``selection.json`` records of the run: the world size and the pool rows each rank scored.

        Example:
            >>> RankGroup(0, 1).record()
            {'world_size': 1, 'row_ranges': []}
        """
        return {"world_size": self.world, "row_ranges": self.row_ranges}

    def sources(self) -> list[RankedSource]:
        """Rank 0: one :class:`RankedSource` per attached candidate view."""
        return [RankedSource(self, v, s) for v, s in enumerate(self._local)]

    # ------------------------------------------------------------------ rank 0's side of a pass
    def score(
        self, views: FeatureViews, top_k: int | None, *, desc: str = "score", exclude: np.ndarray | None = None
    ) -> Scores:
        """Rank 0: ``views.score(top_k)`` (or a rescore with ``exclude``) computed by every rank over its rows."""
        meta, arrays = self._describe(views)
        meta.update(top_k=top_k, desc=desc, n=views.n_candidates)
        if exclude is not None:
            arrays["exclude"] = np.packbits(np.asarray(exclude, dtype=bool))
        parts = [_partial(m, a) for m, a in self.call("score", meta, arrays)]
        return merge_partials(parts, top_k=top_k, provenance=views.provenance(top_k))

    def chunks(self, views: FeatureViews, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Rank 0: the chunks of :func:`~targetsel.score.score_chunks`, each assembled from the ranks' columns."""
        meta, arrays = self._describe(views)
        assert views.queries is not None  # FeatureViews.chunks checks its query side before it calls here
        n, m = views.n_candidates, int(views.n_queries or 0)
        rows = views.chunk_rows if chunk_rows is None else chunk_rows
        chunk = ScorePass.create(views.queries, views.candidates, weights=views.weights, chunk_rows=rows).chunk_rows
        block = np.empty((m, min(n, chunk)), np.float32)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            sweep = {**meta, "top_k": None, "window": [start, stop], "desc": None, "n": n}
            parts = [_partial(p, a) for p, a in self.call("score", sweep, arrays)]
            out = block[:, : stop - start]
            for p in parts:
                assert p.matrix is not None  # a sweep (top_k None) is scored dense
                pos = 0
                for a, b in p.ranges.tolist():
                    out[:, a - start : b - start] = p.matrix[:, pos : pos + b - a]
                    pos += b - a
            yield start, out
            arrays = {}  # sent with the first chunk

    @overload
    def take(self, view: int, rows: np.ndarray, *, encoded: Literal[False]) -> np.ndarray: ...

    @overload
    def take(self, view: int, rows: np.ndarray, *, encoded: Literal[True]) -> tuple[np.ndarray, np.ndarray | None]: ...

    def take(self, view: int, rows: np.ndarray, *, encoded: bool) -> Any:
        """Rank 0: the stored rows ``rows`` (sorted, unique pool rows) of view ``view``, from their owners.

        Returns:
            Decoded float rows, or with ``encoded`` the stored ``(data, per-row values or None)``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        replies = self.call("take", {"view": view, "encoded": encoded}, {"rows": rows})
        src = self._local[view]
        data = aux = None
        for _, a in replies:
            if data is None:
                data = np.empty((rows.size, *a["data"].shape[1:]), a["data"].dtype)
                aux = np.empty(rows.size, np.float32) if "aux" in a else None
            pos = np.searchsorted(rows, a["rows"])
            data[pos] = a["data"]
            if aux is not None:
                aux[pos] = a["aux"]
        assert data is not None  # every rank replies, with its rows or none
        if encoded:
            return data, aux
        return data if not src.codec.compressed else src.codec.decode(data, aux, src.dim)

    def _describe(self, views: FeatureViews) -> Message:
        """The command fields naming ``views`` for the other ranks, with the content they lack."""
        arrays: dict[str, np.ndarray] = {}
        cands = []
        for c in views.candidates:
            rows = None
            while isinstance(c, RowSubset):
                rows = c.rows if rows is None else c.rows[rows]
                c = c.base
            if not isinstance(c, RankedSource) or c.group is not self:
                raise ConfigurationError("a view mixes candidates spread over ranks with local ones")
            token = None if rows is None else self._token(rows, arrays, _subset_payload(rows, c.num_rows))
            cands.append((c.view, token))
        assert views.queries is not None  # FeatureViews checks its query side before it calls the group
        queries = [self._token(q, arrays, None) for q in views.queries]
        meta = {
            "candidates": cands,
            "queries": queries,
            "weights": list(views.weights),
            "chunk_rows": views.chunk_rows,
            "device": views.device,
            "query_dtype": views.query_dtype,
        }
        return meta, arrays

    def _token(self, obj: Any, arrays: dict[str, np.ndarray], payload: dict[str, np.ndarray] | None) -> int:
        """An id the other ranks know ``obj``'s content by, adding the content to ``arrays`` the first time."""
        token = id(obj)
        if token not in self._sent:
            self._sent[token] = obj  # kept alive: the id is never reused for other content
            if payload is None:
                payload = {"q": np.asarray(obj.to_array())}
            arrays.update({f"{token}:{k}": v for k, v in payload.items()})
        return token

    # ------------------------------------------------------------------ every rank's side
    def _held_content(self, token: int, arrays: dict[str, np.ndarray]) -> Any:
        prefix = f"{token}:"
        new = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        if new or token not in self._held:
            self._held[token] = new
        return self._held[token]

    def _score_here(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Message:
        queries = []
        for token in meta["queries"]:
            held = self._held_content(token, arrays) if not self.is_driver else None
            queries.append(InMemoryFeatures(held["q"]) if held is not None else self._sent[token])
        cands, ranges = [], None
        for view, token in meta["candidates"]:
            base = self._local[view] if self._local else None
            if base is None:
                raise ConfigurationError(f"rank {self.rank} holds no candidate store; encode the pool first")
            rows = None if token is None else self._subset_rows(token, arrays, base.num_rows)
            cands.append(base if rows is None else RowSubset(base, rows))
            ranges = _view_ranges(self._owned, rows) if ranges is None else ranges
        n = meta["n"]
        assert ranges is not None  # set by the first of the candidate views (a pass has at least one)
        if "window" in meta:  # one chunk of a sweep: the owned columns within it
            a, b = meta["window"]
            ranges = _clip(ranges, a, b)
        exclude = None
        if "exclude" in arrays:
            exclude = np.unpackbits(arrays["exclude"], count=n).astype(bool)
        part = score_rows(
            queries,
            cands,
            ranges,
            weights=meta["weights"],
            top_k=meta["top_k"],
            chunk_rows=meta["chunk_rows"],
            device=_device(meta["device"]),
            exclude=exclude,
            query_dtype=meta["query_dtype"],
            desc=meta["desc"],
        )
        return _reply(part)

    def _subset_rows(self, token: int, arrays: dict[str, np.ndarray], n: int) -> np.ndarray:
        if self.is_driver:
            sent: np.ndarray = self._sent[token]
            return sent
        held = self._held_content(token, arrays)
        if "rows" not in held:
            held["rows"] = np.setdiff1d(np.arange(n, dtype=np.int64), held["drop"]) if "drop" in held else held["keep"]
        rows: np.ndarray = held["rows"]
        return rows

    def _take_here(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Message:
        src = self._local[meta["view"]]
        rows = arrays["rows"]
        mine = np.zeros(rows.size, dtype=bool)
        for a, b in self._owned.tolist():
            mine[np.searchsorted(rows, a) : np.searchsorted(rows, b)] = True
        rows = rows[mine]
        data, aux = _read_at(src, rows, encoded=meta["encoded"] or src.codec.compressed)
        out = {"rows": rows, "data": data}
        if aux is not None:
            out["aux"] = aux
        return {}, out


def _subset_payload(rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """A row subset as the removed rows when they are fewer (decontamination removes few)."""
    if 2 * rows.size > n:
        return {"drop": np.setdiff1d(np.arange(n, dtype=np.int64), rows)}
    return {"keep": np.asarray(rows, dtype=np.int64)}


def _clip(ranges: np.ndarray, a: int, b: int) -> np.ndarray:
    r = np.clip(ranges, a, b)
    kept: np.ndarray = r[r[:, 1] > r[:, 0]]
    return kept


def _device(device: str | None) -> str | None:
    """This rank's device: ``cuda`` means this process's GPU (``LOCAL_RANK``; ranks share GPUs when
    there are more ranks on the machine than GPUs)."""
    if device is None or not device.startswith("cuda") or ":" in device:
        return device
    return local_cuda()


def local_cuda() -> str:
    """``cuda:<LOCAL_RANK modulo the GPUs of this machine>``: this rank's GPU.

    Example:
        >>> local_cuda().startswith("cuda:")
        True
    """
    import os

    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 1
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % max(1, count)}"


def _read_at(src: FeatureStore, rows: np.ndarray, *, encoded: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows ``rows`` (sorted) of a store, read shard by shard: stored bytes (``encoded``) or decoded."""
    width = src.codec.width(src.dim) if encoded else src.dim
    dtype = src.codec.storage_dtype() if encoded else src.dtype
    data = np.empty((rows.size, width), dtype)
    aux = np.empty(rows.size, np.float32) if encoded and src.codec.aux else None
    shard = rows // src.shard_size
    for i in np.unique(shard).tolist():
        at = np.flatnonzero(shard == i)
        lo, hi = src.shard_range(i)
        if encoded:
            d, x = src.read_encoded(lo, hi)
            data[at] = np.asarray(d)[rows[at] - lo]
            if aux is not None:
                aux[at] = np.asarray(x)[rows[at] - lo]
        else:
            data[at] = np.asarray(src.read_rows(lo, hi))[rows[at] - lo]
    return data, aux


def _reply(p: PartialScores) -> Message:
    arrays = {"ranges": p.ranges}
    if p.matrix is not None:
        arrays["matrix"] = p.matrix
    else:  # the query index fits int32: 4 bytes a candidate fewer on the wire
        assert p.keys is not None and p.cand_max is not None and p.cand_mean is not None  # streaming form
        assert p.cand_argmax is not None
        arrays.update(keys=p.keys, cmax=p.cand_max, cmean=p.cand_mean, carg=p.cand_argmax.astype(np.int32))
    return {"m": p.n_queries, "n": p.n_candidates}, arrays


def _partial(meta: dict[str, Any], a: dict[str, np.ndarray]) -> PartialScores:
    if "matrix" in a:
        return PartialScores(a["ranges"], meta["m"], meta["n"], matrix=a["matrix"])
    return PartialScores(
        a["ranges"], meta["m"], meta["n"], a["keys"], a["cmax"], a["carg"].astype(np.int64), a["cmean"]
    )


class RankedSource(RowReader):
    """Rank 0's view of a candidate store whose rows live on several ranks (one view of the pool).

    Rows that rank 0 owns are read from its own store; others come from their owners in one
    round (:meth:`RankGroup.take`). Scoring never reads rows here: a
    :class:`~targetsel.score.FeatureViews` over these sources scores through the group.

    Attributes:
        group: The rank group.
        view: Index of this view among the group's candidate stores.

    Example:
        >>> sources = group.sources()  # rank 0, once the pool is attached  # doctest: +SKIP
        >>> FeatureViews(ViewSet.of(queries), ViewSet.of(sources)).score(top_k=100)  # doctest: +SKIP
    """

    def __init__(self, group: RankGroup, view: int, local: FeatureStore) -> None:
        self.group, self.view, self._local = group, view, local
        self.codec: Any = local.codec

    @property
    def rank_group(self) -> RankGroup:
        """The group that scores views over this source."""
        return self.group

    @property
    def num_rows(self) -> int:
        return self._local.num_rows

    @property
    def dim(self) -> int:
        return self._local.dim

    @property
    def manifest(self) -> dict[str, Any]:
        return self._local.manifest

    def _local_only(self, start: int, stop: int) -> bool:
        owned = self.group._owned
        i = int(np.searchsorted(owned[:, 1], start, side="right"))
        return i < len(owned) and owned[i, 0] <= start and stop <= owned[i, 1]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.num_rows)
        if stop <= start or self._local_only(start, stop):
            return self._local.read_rows(start, stop)
        return self.take_rows(np.arange(start, stop))

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        stop = min(stop, self.num_rows)
        if stop <= start or self._local_only(start, stop):
            return self._local.read_encoded(start, stop)
        return self.group.take(self.view, np.arange(start, stop), encoded=True)

    def take_rows(self, rows: np.ndarray) -> np.ndarray:
        """Decoded rows ``rows`` (sorted, unique), fetched from their owners in one round."""
        return self.group.take(self.view, rows, encoded=False)

    def __repr__(self) -> str:
        return f"RankedSource(view {self.view}, rows={self.num_rows}, ranks={self.group.world})"
