"""The experiment grid: its cells (one task, method, budget or quantile bin, seed each) in run order.

In the mixture grid a cell is one subset selected for every task together (``targets``), trained
once and evaluated on each task; its folder is ``mixture/<method>/b<B>-s<seed>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from targetsel.experiment.config import ExperimentConfig
from targetsel.experiment.specs import algorithm_label
from targetsel.report.tidy import RANDOM_METHOD, ZERO_SHOT_METHOD

__all__ = ["MIXTURE", "Cell", "build_grid", "safe_name"]

#: The ``experiment`` (tidy column) and ``task`` (folder) of the mixture grid's trained cells.
MIXTURE = "mixture"


@dataclass(frozen=True)
class Cell:
    """One unit of work of the grid.

    Attributes:
        experiment: ``budget``, ``quantile``, ``quantile_focus``, ``mixture`` or ``zero_shot`` (tidy column).
        task: Task name (``mixture`` for a cell of the mixture grid, whose tasks are ``targets``).
        method: ``REPR (ALGO)``, ``Random`` or ``Zero-shot``.
        representation: Index into ``config.representations`` (``None`` for baselines).
        algorithm: Index into ``config.algorithms`` (``None`` for baselines and quantile cells).
        budget: Subset size (``None`` for quantile and zero-shot cells).
        bin: Distance quantile (quantile cells).
        seed: Training/selection seed (``None`` for zero-shot).
        targets: The tasks a mixture cell selects for and is evaluated on (empty otherwise).
    """

    experiment: str
    task: str
    method: str
    representation: int | None = None
    algorithm: int | None = None
    budget: int | None = None
    bin: int | None = None
    seed: int | None = None
    targets: tuple[str, ...] = ()

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks whose data the cell reads: its ``targets``, or its one task."""
        return self.targets or (self.task,)

    @property
    def key(self) -> str:
        """Relative folder of the cell, e.g. ``math/embed-rr/b40-s0`` (``mixture/embed-rr/b40-s0``)."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.method.lower()).strip("-") or "method"
        if self.experiment == "zero_shot":
            return f"{safe_name(self.task)}/{slug}"
        point = f"q{self.bin}" if self.bin is not None else f"b{self.budget}"
        if self.experiment == "quantile_focus":
            point = f"f{self.bin}"
        return f"{safe_name(self.task)}/{slug}/{point}-s{self.seed}"

    def identity(self) -> dict[str, Any]:
        """What identifies the cell (in its digest and ``results.json``); ``targets`` only when it has some."""
        out = {k: getattr(self, k) for k in ("experiment", "task", "method", "budget", "bin", "seed")}
        if self.targets:  # a cell of one task has no targets key
            out["targets"] = list(self.targets)
        return out


def safe_name(name: str) -> str:
    """``name`` as one folder name: runs of other characters than ``A-Za-z0-9_.-`` become ``-``.

    Example:
        >>> safe_name("gsm8k:test / v2")
        'gsm8k-test-v2'
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def build_grid(config: ExperimentConfig) -> list[Cell]:
    """Every cell of the experiment, baselines included, in run order.

    For each task: zero-shot; then per seed Random at each budget (``quantile.per_bin`` in the
    quantile grid) and every representation × algorithm × budget (or representation × bin). The
    mixture grid has each task's zero-shot, then per seed Random at each budget and every
    representation × algorithm × budget, each one cell for all tasks.

    Example:
        >>> from targetsel.experiment.config import ExperimentConfig
        >>> cfg = ExperimentConfig.from_dict({"model": "m", "pool": "demo", "tasks": ["math"],
        ...     "representations": ["lexical"], "algorithms": ["round_robin"], "budgets": [20, 40]})
        >>> [c.key for c in build_grid(cfg)]  # doctest: +NORMALIZE_WHITESPACE
        ['math/zero-shot', 'math/random/b20-s0', 'math/random/b40-s0', 'math/lexical-rr/b20-s0',
         'math/lexical-rr/b40-s0']
    """
    if config.grid == MIXTURE:
        return _mixture_grid(config)
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
                    label = f"{rep.display} ({algorithm_label('quantiles')})"
                    cells += [Cell(exp, task.name, label, ri, bin=b, seed=seed) for b in range(q.bins)]
    return cells


def _mixture_grid(config: ExperimentConfig) -> list[Cell]:
    """The mixture grid's cells: each task's zero-shot, then per seed Random and the methods, for all tasks."""
    names = tuple(t.name for t in config.tasks)
    cells = [Cell("zero_shot", name, ZERO_SHOT_METHOD) for name in names]
    for seed in config.seeds:
        cells += [Cell(MIXTURE, MIXTURE, RANDOM_METHOD, budget=b, seed=seed, targets=names) for b in config.budgets]
        for ri, rep in enumerate(config.representations):
            for ai, alg in enumerate(config.algorithms):
                label = f"{rep.display} ({alg.display})"
                cells += [
                    Cell(MIXTURE, MIXTURE, label, ri, ai, budget=b, seed=seed, targets=names) for b in config.budgets
                ]
    return cells
