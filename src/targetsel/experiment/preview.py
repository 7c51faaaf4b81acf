"""What ``targetsel experiment run --dry-run`` lists: every cell, its state, and the real run's checks.

The dry run performs the checks the real run performs before any work, per cell: the output
folder, the pool (loaded, as the size checks need it), the budget and quantile-bin sizes against
the pool, and finished cells computed with other settings; it also reads each task's query and
test sets, which the real run reads when it reaches the task. A cell the real run would refuse is
``refused``, with the reason. Nothing is written.

Example:
    >>> from targetsel.experiment.config import ExperimentConfig
    >>> cfg = ExperimentConfig.from_dict({"model": "m", "pool": "demo", "pool_limit": 50, "tasks": ["math"],
    ...     "representations": ["lexical"], "algorithms": ["round_robin"], "budgets": [20, 80]})
    >>> [(p.state, p.key) for p in preview_experiment(cfg, "runs/none")]  # doctest: +NORMALIZE_WHITESPACE
    [('todo', 'math/zero-shot'), ('todo', 'math/random/b20-s0'), ('refused', 'math/random/b80-s0'),
     ('todo', 'math/lexical-rr/b20-s0'), ('refused', 'math/lexical-rr/b80-s0')]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from targetsel.errors import TargetselError
from targetsel.experiment.cells import _Runner
from targetsel.experiment.config import ExperimentConfig
from targetsel.experiment.grid import Cell, build_grid
from targetsel.experiment.runner import DONE_FILE, _output_folder, _refuse_other_settings

__all__ = ["STATES", "CellPreview", "preview_experiment"]

#: ``done``: finished with these settings (reused); ``todo``: runs; ``redo``: finished with other
#: settings and recomputed (``--redo``); ``refused``: the real run stops on it (``reason`` says why).
STATES = ("done", "todo", "redo", "refused")


@dataclass(frozen=True)
class CellPreview:
    """One line of the dry run: the cell's folder key, its state and, when refused, why.

    Example:
        >>> CellPreview("math/zero-shot", "todo").line()
        'todo     math/zero-shot'
    """

    key: str
    state: str
    reason: str | None = None

    def line(self) -> str:
        """``state  key`` and, for a refused cell, the reason in brackets."""
        return f"{self.state:<7}  {self.key}" + (f"  ({self.reason})" if self.reason else "")


def preview_experiment(
    config: ExperimentConfig, output: str | os.PathLike[str] | None = None, *, redo: bool = False
) -> list[CellPreview]:
    """Every cell of ``config`` in run order, with the state the real run would give it.

    Raises:
        TargetselError: what stops the real run before it looks at any cell (an output path that
            is a file, an unreadable pool).
    """
    out = _output_folder(config, output)
    runner = _Runner(config, out, redo=redo, hook=None, quiet=True)
    cells = build_grid(config)
    len(runner.pool)  # loaded and validated, as the real run's size checks do before any work
    task_problems = _task_problems(runner, {name for c in cells for name in c.task_names})
    problem = {c.key: next((task_problems[n] for n in c.task_names if n in task_problems), None) for c in cells}
    return [_preview(runner, cell, out, redo, problem[cell.key]) for cell in cells]


def _task_problems(runner: _Runner, tasks: set[str]) -> dict[str, str]:
    """Per task, why its query or test set cannot be read (the real run stops when it gets there)."""
    problems: dict[str, str] = {}
    for name in sorted(tasks):
        try:
            runner.task_data(name)
        except TargetselError as exc:
            problems[name] = f"task {name}: {exc}"
    return problems


def _preview(runner: _Runner, cell: Cell, out: Path, redo: bool, task_problem: str | None) -> CellPreview:
    try:
        runner.check_sizes([cell])
    except TargetselError as exc:
        return CellPreview(cell.key, "refused", str(exc))
    if task_problem is not None:
        return CellPreview(cell.key, "refused", task_problem)
    try:
        _refuse_other_settings([cell], out, {cell.key: runner.digest(cell)})
    except TargetselError as exc:
        if redo:
            return CellPreview(cell.key, "redo")
        return CellPreview(cell.key, "refused", str(exc))
    done = (out / "cells" / cell.key / DONE_FILE).is_file()
    return CellPreview(cell.key, "done" if done else "todo")
