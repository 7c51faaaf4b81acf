"""The experiment grid: its cells (one task, method, budget or quantile bin, seed each) in run order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from targetsel.experiment.config import ExperimentConfig
from targetsel.report.results import RANDOM_METHOD, ZERO_SHOT_METHOD

__all__ = ["Cell", "build_grid"]


@dataclass(frozen=True)
class Cell:
    """One unit of work of the grid.

    Attributes:
        experiment: ``budget``, ``quantile``, ``quantile_focus`` or ``zero_shot`` (tidy column).
        task: Task name.
        method: ``REPR (ALGO)``, ``Random`` or ``Zero-shot``.
        representation: Index into ``config.representations`` (``None`` for baselines).
        algorithm: Index into ``config.algorithms`` (``None`` for baselines and quantile cells).
        budget: Subset size (``None`` for quantile and zero-shot cells).
        bin: Distance quantile (quantile cells).
        seed: Training/selection seed (``None`` for zero-shot).
    """

    experiment: str
    task: str
    method: str
    representation: int | None = None
    algorithm: int | None = None
    budget: int | None = None
    bin: int | None = None
    seed: int | None = None

    @property
    def key(self) -> str:
        """Relative folder of the cell, e.g. ``math/embed-rr/b40-s0``."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.method.lower()).strip("-") or "method"
        if self.experiment == "zero_shot":
            return f"{_safe(self.task)}/{slug}"
        point = f"q{self.bin}" if self.bin is not None else f"b{self.budget}"
        if self.experiment == "quantile_focus":
            point = f"f{self.bin}"
        return f"{_safe(self.task)}/{slug}/{point}-s{self.seed}"

    def identity(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("experiment", "task", "method", "budget", "bin", "seed")}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def build_grid(config: ExperimentConfig) -> list[Cell]:
    """Every cell of the experiment, baselines included, in run order.

    For each task: zero-shot; then per seed Random at each budget (``quantile.per_bin`` in the
    quantile grid) and every representation × algorithm × budget (or representation × bin).

    Example:
        >>> from targetsel.experiment.config import ExperimentConfig
        >>> cfg = ExperimentConfig.from_dict({"model": "m", "pool": "demo", "tasks": ["math"],
        ...     "representations": ["lexical"], "algorithms": ["round_robin"], "budgets": [20, 40]})
        >>> [c.key for c in build_grid(cfg)]  # doctest: +NORMALIZE_WHITESPACE
        ['math/zero-shot', 'math/random/b20-s0', 'math/random/b40-s0', 'math/lexical-rr/b20-s0',
         'math/lexical-rr/b40-s0']
    """
    cells: list[Cell] = []
    for task in config.tasks:
        cells.append(Cell("zero_shot", task.name, ZERO_SHOT_METHOD))
        for seed in config.seeds:
            if config.grid == "budget":
                cells += [Cell("budget", task.name, RANDOM_METHOD, budget=b, seed=seed) for b in config.budgets]
                for ri, rep in enumerate(config.representations):
                    for ai, alg in enumerate(config.algorithms):
                        label = f"{rep.display} ({alg.display})"
                        cells += [Cell("budget", task.name, label, ri, ai, budget=b, seed=seed) for b in config.budgets]
            else:
                q = config.quantile
                exp = "quantile_focus" if q.focus else "quantile"
                cells.append(Cell("budget", task.name, RANDOM_METHOD, budget=q.per_bin, seed=seed))
                for ri, rep in enumerate(config.representations):
                    label = f"{rep.display} (RR)"
                    cells += [Cell(exp, task.name, label, ri, bin=b, seed=seed) for b in range(q.bins)]
    return cells
