"""Encoding and selection under ``torchrun``: each rank works on its own fixed shards of the pool.

``torchrun --nproc-per-node N -m targetsel encode ...`` starts N processes with ``RANK`` and
``WORLD_SIZE`` set. Rank ``r`` encodes the shards ``i`` with ``i % N == r`` (shards are fixed row
ranges, so the split does not depend on batch size or timing); every rank uses the same
projection seed, so the store equals a single-process one. Rank 0 creates (or checks) the store
manifests before the others start, behind a ``torch.distributed`` barrier.

``torchrun ... -m targetsel select ...`` splits the pool the same way: rank 0 runs the selection
(:func:`targetsel.pipeline.run_selection` with ``ranks``), and :func:`encode_candidates` has every
rank encode its shards of the pool's stores in ``store_dir`` (reusing what is there) while the
others wait in :func:`serve_selection`; each rank then scores only those shards
(:mod:`targetsel.score.ranks`). A rank reads no other rank's shards, so ``store_dir`` may be a
disk of each node holding only that node's shards, or a directory per rank (``{rank}`` in the path
is replaced by the rank: :func:`rank_path`). Only rank 0 writes the selection.

Example:
    >>> world_info({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    (1, 4, 1)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.progress import set_quiet
from targetsel.store import FeatureStore, ViewSet

if TYPE_CHECKING:
    from targetsel.represent.base import Representation, Role
    from targetsel.score.ranks import RankGroup

logger = logging.getLogger(__name__)

__all__ = [
    "encode_candidates",
    "encode_sharded",
    "join_ranks",
    "rank_path",
    "scoring_stores",
    "serve_selection",
    "world_info",
]


def world_info(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the torchrun environment (``(0, 1, 0)`` outside it)."""
    env = os.environ if env is None else env
    try:
        rank, world = int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigurationError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigurationError(f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


def _init_process_group() -> Any:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist


def _targets(rep: Representation, store: Path) -> list[tuple[Representation, Path]]:
    checkpoints = getattr(rep, "checkpoints", None) or []
    if len(checkpoints) > 1:  # gradient features: one store per checkpoint
        return [(rep.for_checkpoint(c), store / c.name) for c in checkpoints]  # type: ignore[attr-defined]  # the gradient representation's
    return [(rep, store)]


def encode_sharded(
    rep: Representation,
    examples: ExampleSet,
    *,
    role: Role,
    store: str | os.PathLike[str],
    shard_size: int = 4096,
    overwrite: bool = False,
    shards: tuple[int, int] | None = None,
) -> list[FeatureStore]:
    """Encode into ``store`` (``store/<checkpoint>`` per gradient checkpoint), sharded by torchrun rank.

    Args:
        rep: The representation.
        examples: Rows to encode.
        role: ``candidate`` or ``query``.
        store: Store directory.
        shard_size: Rows per shard.
        overwrite: Replace stores written for other inputs.
        shards: Explicit ``(index, count)`` (``--shard i/n``); under torchrun it is ``(RANK, WORLD_SIZE)``.

    Returns:
        The stores (complete once every rank or shard process has finished).

    Example:
        >>> encode_sharded(rep, pool, role="candidate", store="stores/pool")  # doctest: +SKIP
    """
    rank, world, local = world_info()
    targets = _targets(rep, Path(store))

    def encode_all(replace: bool, part: tuple[int, int] | None) -> list[FeatureStore]:
        out = []
        for r, s in targets:  # one checkpoint's model in memory at a time
            out.append(r.encode(examples, role=role, store=s, shard_size=shard_size, overwrite=replace, shards=part))
            if r is not rep:
                r.release()
        return out

    if world == 1:
        return encode_all(overwrite, shards)
    if shards is not None:
        raise ConfigurationError("--shard cannot be combined with torchrun: each rank already takes its own shards")
    dist = _init_process_group()
    if getattr(rep, "device", "absent") is None:
        import torch

        if torch.cuda.is_available():
            for r, _ in targets:
                r.device = f"cuda:{local}"  # type: ignore[attr-defined]  # it has one: checked above
    try:
        if rank == 0:  # create or check the manifests once, before anyone writes a shard
            for r, s in targets:
                r.create_store(examples, role, s, shard_size=shard_size, overwrite=overwrite)
        dist.barrier()
        out = encode_all(False, (rank, world))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return out


# ---------------------------------------------------------------------------------------- selection
def join_ranks() -> RankGroup | None:
    """Under torchrun (``WORLD_SIZE`` > 1): this process's :class:`~targetsel.score.ranks.RankGroup`; else ``None``.

    Example:
        >>> join_ranks() is None  # one process
        True
    """
    if world_info()[1] == 1:
        return None
    from targetsel.score.ranks import RankGroup

    return RankGroup.join()


def rank_path(path: str | os.PathLike[str], rank: int | None = None) -> Path:
    """``path`` with ``{rank}`` replaced by this process's rank (a store directory per rank).

    Example:
        >>> str(rank_path("stores/rank-{rank}", 2))
        'stores/rank-2'
    """
    rank = world_info()[0] if rank is None else rank
    return Path(str(path).replace("{rank}", str(rank)))


def scoring_stores(
    rep: Representation, examples: ExampleSet, role: Role, store_dir: str | os.PathLike[str]
) -> tuple[list[tuple[Representation, Path, list[Path]]], list[float]]:
    """The stores :meth:`Representation.encode_for_scoring` keeps ``examples`` in inside ``store_dir``.

    Returns:
        ``([(view representation, store path, stores of other versions of the pool), ...], weights)``:
        one entry per view (per LESS checkpoint), and the views' weights.

    Example:
        >>> from targetsel.data import ExampleSet
        >>> from targetsel.represent import LexicalRepresentation
        >>> es = ExampleSet.from_records([{"prompt": "q", "completion": "a"}])
        >>> views, w = scoring_stores(LexicalRepresentation(dim=8), es, "candidate", "stores")
        >>> views[0][1].name.startswith("lexical-candidate-"), w
        (True, [1.0])
    """
    checkpoints = getattr(rep, "checkpoints", None) or []
    several = len(checkpoints) > 1
    reps = [rep.for_checkpoint(c) for c in checkpoints] if several else [rep]  # type: ignore[attr-defined]  # the gradient representation's
    weights = rep.checkpoint_weights() if several else [1.0]  # type: ignore[attr-defined]  # (as above)
    out = []
    for r in reps:
        name = r.store_name(examples, role)
        settings_key = name.rsplit("-", 1)[1]  # the part of the name that does not depend on the pool
        siblings = sorted(Path(store_dir).glob(f"{r.name}-{role}-*-{settings_key}"))
        out.append((r, Path(store_dir) / name, siblings))
    return out, [float(w) for w in weights]


def _device_per_rank(reps: list[Representation]) -> None:
    """A representation left to pick its device encodes on this rank's GPU (``LOCAL_RANK``), as encode does."""
    import torch

    from targetsel.score.ranks import local_cuda

    if torch.cuda.is_available():
        for r in reps:
            if getattr(r, "device", "absent") is None:
                r.device = local_cuda()  # type: ignore[attr-defined]  # it has one: checked above


def _encode_here(
    group: RankGroup, rep: Representation, pool: ExampleSet, store_dir: Path, overwrite: bool, shard_size: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """This rank's shards of the pool's stores, encoded (or reused) and attached to ``group``."""
    views, _ = scoring_stores(rep, pool, "candidate", store_dir)
    _device_per_rank([r for r, _, _ in views])
    stores = []
    for r, path, siblings in views:  # one checkpoint's model in memory at a time
        fs = r.encode(
            pool,
            role="candidate",
            store=path,
            shard_size=shard_size,
            overwrite=overwrite,
            shards=(group.rank, group.world),
            reuse_from=siblings,
        )
        if r is not rep:
            r.release()
        stores.append(FeatureStore.open(fs.path, require_complete=False))
    ranges = group.attach(stores)
    logger.info("rank %d: %d pool rows in %d range(s) of %s", group.rank, int((ranges[:, 1] - ranges[:, 0]).sum()),
                len(ranges), store_dir)  # fmt: skip
    return {"rows": stores[0].num_rows, "shard_size": stores[0].shard_size}, {"ranges": ranges}


def encode_candidates(
    group: RankGroup,
    rep: Representation,
    pool: ExampleSet,
    *,
    store_dir: str | os.PathLike[str] | None,
    overwrite: bool = False,
    shard_size: int = 4096,
) -> ViewSet:
    """Rank 0: every rank encodes its shards of the pool into ``store_dir``; rank 0's views of the whole pool.

    What :meth:`Representation.encode_for_scoring` returns for the pool in one process, spread
    over the ranks: the same stores (names, manifests, shards), each rank writing and later
    scoring its own shards. ``group.row_ranges`` then holds the pool rows each rank scores.

    Raises:
        ConfigurationError: no ``store_dir`` (features in memory cannot be split over ranks).
        TargetselError: a rank failed to encode (the rank named).

    Example:
        >>> encode_candidates(group, rep, pool, store_dir="stores")  # doctest: +SKIP
    """
    if store_dir is None:
        raise ConfigurationError(
            "under torchrun each rank encodes and scores its own shards of the pool's feature stores: "
            "give --store-dir (not --no-store)"
        )
    group.agree()  # every rank has its inputs: only then create stores
    store_dir = Path(store_dir)
    views, weights = scoring_stores(rep, pool, "candidate", store_dir)
    for r, path, siblings in views:  # created (or checked) once, before any rank writes a shard
        r.create_store(pool, "candidate", path, shard_size=shard_size, overwrite=overwrite, reuse_from=siblings)
    group.register("encode", lambda meta, arrays: _encode_here(group, rep, pool, store_dir, overwrite, shard_size))
    replies = group.call("encode")
    layout = {(m["rows"], m["shard_size"]) for m, _ in replies}
    if len(layout) != 1:
        raise ConfigurationError(f"the ranks' pool stores disagree on rows and shard size: {sorted(layout)}")
    group.row_ranges = [a["ranges"].tolist() for _, a in replies]
    return ViewSet(tuple(group.sources()), tuple(weights))


def serve_selection(
    group: RankGroup,
    pool: ExampleSet,
    rep: Representation,
    *,
    store_dir: str | os.PathLike[str] | None,
    overwrite: bool = False,
    shard_size: int = 4096,
) -> None:
    """Ranks other than 0: encode and score this rank's shards of ``pool`` when rank 0 asks, until it stops.

    ``pool``, ``rep`` and ``store_dir`` are this rank's copies of what rank 0 selects with
    (``store_dir`` may be this rank's own directory). Progress bars are switched off here: rank 0
    shows the run's.

    Raises:
        RankStoppedError: rank 0 aborted the run.

    Example:
        >>> serve_selection(group, pool, rep, store_dir="stores")  # doctest: +SKIP
    """

    def encode(meta: dict[str, Any], arrays: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if store_dir is None:
            raise ConfigurationError("this rank was given no store directory for the pool's feature stores")
        return _encode_here(group, rep, pool, Path(store_dir), overwrite, shard_size)

    set_quiet(True)
    group.register("encode", encode)
    group.serve()
