"""Encoding under ``torchrun``: each rank fills its own fixed shards of the same feature store(s).

``torchrun --nproc-per-node N -m targetsel encode ...`` starts N processes with ``RANK`` and
``WORLD_SIZE`` set. Rank ``r`` encodes the shards ``i`` with ``i % N == r`` (shards are fixed row
ranges, so the split does not depend on batch size or timing); every rank uses the same
projection seed, so the store equals a single-process one. Rank 0 creates (or checks) the store
manifests before the others start, behind a ``torch.distributed`` barrier.

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
from targetsel.store import FeatureStore

if TYPE_CHECKING:
    from targetsel.represent.base import Representation, Role

logger = logging.getLogger(__name__)

__all__ = ["encode_sharded", "world_info"]


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
        return [(rep.for_checkpoint(c), store / c.name) for c in checkpoints]  # type: ignore[attr-defined]
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
        return out  # type: ignore[return-value]

    if world == 1:
        return encode_all(overwrite, shards)
    if shards is not None:
        raise ConfigurationError("--shard cannot be combined with torchrun: each rank already takes its own shards")
    dist = _init_process_group()
    if getattr(rep, "device", "absent") is None:
        import torch

        if torch.cuda.is_available():
            for r, _ in targets:
                r.device = f"cuda:{local}"  # type: ignore[attr-defined]
    try:
        if rank == 0:  # create or check the manifests once, before anyone writes a shard
            for r, s in targets:
                r.create_store(examples, role, s, shard_size=shard_size, overwrite=overwrite)
        dist.barrier()
        out = encode_all(False, (rank, world))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return out  # type: ignore[return-value]
