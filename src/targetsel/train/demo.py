"""Setting up the bundled demo for the LM representations (``targetsel demo -r gradient|hidden``).

On CPU, per-example gradients of even a 135M model cost a good fraction of a second, so the demo
runs the LM representations on a seeded, family-stratified sample of the pool (``DEMO_LM_POOL``
rows), and for ``gradient`` first runs a short LESS warmup on 5% of that sample, cached under
``$TARGETSEL_CACHE/demo-warmup`` so that later runs reuse it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.train.checkpoints import find_checkpoints
from targetsel.train.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = ["DEMO_LM_POOL", "DEMO_WARMUP", "lm_demo_setup"]

DEMO_LM_POOL = 150
# LESS settings (r=128, alpha=512, q/k/v/o, linear schedule, 3% warmup) with fewer epochs and a
# smaller batch, so that the demo warmup is a few optimizer steps on a laptop CPU.
DEMO_WARMUP = TrainConfig(epochs=2, effective_batch_size=8, per_device_batch_size=4, max_length=128, learning_rate=1e-4)


def _sample(pool: ExampleSet, n: int, seed: int = 0) -> ExampleSet:
    if len(pool) <= n:
        return pool
    sources = pool.column("source") or ["all"] * len(pool)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        groups.setdefault(str(s), []).append(i)
    take: list[int] = []
    for rows in groups.values():  # the same share of every family
        k = max(1, round(n * len(rows) / len(pool)))
        take.extend(int(i) for i in rng.choice(rows, size=min(k, len(rows)), replace=False))
    return pool.select(sorted(take)[:n] if len(take) > n else sorted(take))


def lm_demo_setup(
    representation: str,
    model: str | None,
    pool: ExampleSet,
    options: dict[str, Any],
    *,
    pool_size: int = DEMO_LM_POOL,
    quiet: bool = False,
) -> tuple[ExampleSet, dict[str, Any]]:
    """Sampled pool and representation options for the demo with ``gradient`` or ``hidden``.

    Args:
        representation: ``gradient`` or ``hidden`` (anything else is returned unchanged).
        model: The ``--model`` given (``None``: the representation's default, ``smollm2-135m``).
        pool: The full demo pool.
        options: Representation options from ``--param``.
        pool_size: Rows of the sampled pool.
        quiet: Hide progress bars.

    Returns:
        ``(pool, options)``; for ``gradient`` without ``checkpoints``, the options name the
        cached demo warmup's checkpoints.

    Example:
        >>> pool2, opts = lm_demo_setup("gradient", None, pool, {})  # doctest: +SKIP
    """
    if representation not in ("gradient", "hidden"):
        return pool, options
    small = _sample(pool, pool_size)
    logger.warning(
        "demo with %s: a %d-row sample of the pool (LM features are slow on CPU)", representation, len(small)
    )
    if representation == "gradient" and "checkpoints" not in options:
        from targetsel.fetching import cache_dir
        from targetsel.train.core import warmup

        name = model or "smollm2-135m"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        out = cache_dir("demo-warmup") / f"{safe}-{small.fingerprint[:12]}"
        if (out / "final").is_dir():
            ckpts = find_checkpoints(out)
        else:
            logger.warning("demo: LESS warmup of %s on 5%% of the sample (once; cached in %s)", name, out)
            ckpts = warmup(name, small, out, fraction=0.05, seed=0, config=DEMO_WARMUP, quiet=quiet)
        options = {**options, "checkpoints": [os.fspath(Path(c)) for c in ckpts]}
    return small, options
