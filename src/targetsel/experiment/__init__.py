"""Experiments: a YAML-described grid of representations × algorithms × budgets × seeds.

Random and zero-shot baselines are always included; ``grid: quantile`` runs the paper's
distance-quantile experiment; ``grid: mixture`` trains several tasks together (one subset selected
for all their query sets by a ``--mix`` rule, one model, evaluated on every task). Every cell
(select → train → evaluate → diagnose) is cached in its own folder, so an interrupted run resumes
where it stopped; results go to one tidy CSV that ``targetsel report`` (and the run itself) turns
into the paper's figures.

Example:
    >>> from targetsel.experiment import ExperimentConfig, build_grid
    >>> cfg = ExperimentConfig.from_dict({"model": "m", "pool": "demo", "tasks": ["math"],
    ...     "representations": ["embed"], "algorithms": ["round_robin"], "budgets": [100], "seeds": [0, 1]})
    >>> sorted({c.method for c in build_grid(cfg)})
    ['EMBED (RR)', 'Random', 'Zero-shot']
"""

from __future__ import annotations

from targetsel.experiment.config import (
    GRID_TYPES,
    AlgorithmSpec,
    DiagnoseSpec,
    ExperimentConfig,
    MixtureSpec,
    QuantileSpec,
    RepresentationSpec,
    TaskSpec,
    load_config,
    method_label,
)
from targetsel.experiment.runner import DONE_FILE, STAGES, Cell, RunSummary, build_grid, run_experiment, write_report

__all__ = [
    "DONE_FILE",
    "GRID_TYPES",
    "STAGES",
    "AlgorithmSpec",
    "Cell",
    "DiagnoseSpec",
    "ExperimentConfig",
    "MixtureSpec",
    "QuantileSpec",
    "RepresentationSpec",
    "RunSummary",
    "TaskSpec",
    "build_grid",
    "load_config",
    "method_label",
    "run_experiment",
    "write_report",
]
