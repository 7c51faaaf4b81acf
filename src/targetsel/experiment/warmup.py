"""The LESS warmup the harness runs once for a gradient representation without checkpoints, cached.

``OUT/warmup/<label>/`` holds the epoch checkpoints and ``warmup_done.json`` (the settings' digest,
written last): a finished warmup with the same settings is reused; one with other settings (or a
corrupt marker) is trained again; an interrupted one resumes from its last step checkpoint
(:mod:`targetsel.train.resume`).

Example:
    >>> from targetsel.experiment.config import ExperimentConfig
    >>> cfg = ExperimentConfig.from_dict({"model": "m", "pool": "demo", "tasks": ["math"], "budgets": [10],
    ...     "algorithms": ["round_robin"], "representations": [{"name": "gradient", "warmup": {}}]})
    >>> less_warmup(cfg, 0, pool=None, output="runs/x")  # doctest: +SKIP
    [PosixPath('runs/x/warmup/LESS/checkpoint-epoch-1'), ...]
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from targetsel.atomic import atomic_write_text
from targetsel.data import ExampleSet
from targetsel.errors import InvalidDataError
from targetsel.experiment.config import ExperimentConfig
from targetsel.hashing import content_key, settings_digest
from targetsel.params.artifacts import read_artifact

logger = logging.getLogger(__name__)

__all__ = ["WarmupDone", "less_warmup"]


class WarmupDone(BaseModel):
    """``warmup_done.json``, written after a LESS warmup: the digest and the settings it ran with.

    Types are strict; unknown keys are tolerated and ignored. A marker that fails this model is
    treated as outdated: the warmup runs again (it is a cache, nothing is lost).

    Example:
        >>> WarmupDone(digest="ab12", settings={"fraction": 0.05}).digest
        'ab12'
    """

    model_config = ConfigDict(strict=True, extra="allow")

    digest: str
    settings: dict[str, Any]


def _warmup_digest(done: Path) -> str | None:
    """The digest in a ``warmup_done.json``; ``None`` when it is unreadable or malformed."""
    try:
        return read_artifact(done, WarmupDone, fix="the warmup runs again").digest
    except InvalidDataError:
        logger.warning("%s is unreadable or malformed; the warmup runs again", done)
        return None


def less_warmup(
    config: ExperimentConfig, index: int, pool: ExampleSet, output: str | os.PathLike[str], *, quiet: bool = False
) -> list[Path]:
    """LESS warmup checkpoints of ``config.representations[index]`` (a gradient one), run once and cached.

    Args:
        config: The experiment.
        index: The gradient representation's index in ``config.representations``.
        pool: The experiment's pool (its seeded sample, as the cells read it).
        output: The experiment folder (the warmup goes to ``output/warmup/<label>/``).
        quiet: Hide training progress bars.

    Returns:
        The epoch checkpoints, in order.
    """
    from targetsel.train import warmup
    from targetsel.train.checkpoints import find_checkpoints

    spec = config.representations[index]
    fraction, seed, tcfg = spec.warmup_config()
    model = spec.params.get("model", config.model)
    assert model is not None  # an experiment config always names its model
    settings = {
        "model": model,
        "pool": [content_key(config.pool), config.pool_limit, config.pool_seed],
        "fraction": fraction,
        "seed": seed,
        "train": tcfg.to_dict(),
    }
    digest = settings_digest(settings)
    folder = Path(output) / "warmup" / re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.display)
    done = folder / "warmup_done.json"
    if done.is_file() and _warmup_digest(done) == digest:
        return find_checkpoints(folder)
    if done.is_file():  # other settings (or a corrupt marker): train again
        shutil.rmtree(folder)
    ckpts = warmup(model, pool, folder, fraction=fraction, seed=seed, config=tcfg, quiet=quiet)
    marker = json.loads(json.dumps({"digest": digest, "settings": settings}, default=str))
    atomic_write_text(done, json.dumps(WarmupDone.model_validate(marker).model_dump(), indent=1) + "\n")
    return ckpts
