"""The data a grid cell selects from and is evaluated on: one task's, or every task's of a mixture cell.

:class:`TaskData` holds one task's query (dev) and test sets and the pool rows that overlap them;
:class:`MixtureData` puts several tasks' together: their query sets are the targets of one
selection (shared by the mix rule) and the pool rows overlapping any task's query or test items
(the union) are left out of it. Each loads its files once and keeps the rankings computed on it,
so every budget and seed of a (representation, algorithm) reads one ranking's prefixes.

Example:
    >>> from targetsel.experiment.config import TaskSpec
    >>> from targetsel.select.mixture import MixSettings
    >>> pool = ExampleSet.from_records([{"prompt": "What is 2 + 2?", "completion": "4"}])
    >>> parts = [TaskData(TaskSpec.parse(name), pool, DecontaminationSettings()) for name in ("math", "dates")]
    >>> mixed = MixtureData(parts, MixSettings.parse("equal"))
    >>> list(mixed.queries), mixed.mix.kind
    (['math', 'dates'], 'equal')
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.atomic import atomic_write_text
from targetsel.data import ExampleSet, load_examples
from targetsel.decontaminate import Contamination, DecontaminationSettings
from targetsel.experiment.config import TaskSpec
from targetsel.export.layout import contamination_file
from targetsel.select.base import Ranking
from targetsel.select.mixture import MixSettings

logger = logging.getLogger(__name__)

__all__ = ["MixtureData", "TaskData"]


class TaskData:
    """Pool, query and test sets of one task, loaded once, and the rankings computed on them.

    The pool rows that overlap the task's query or test items are found once
    (:mod:`targetsel.decontaminate`, with the experiment's ``decontaminate`` settings) and left out
    of every selection of the task, random included; with decontamination off nothing is removed.

    Attributes:
        name: The task's name (``contamination-<name>.jsonl``).
        parts: The tasks evaluated: this one.
        mix: ``None``: one target.
    """

    mix: MixSettings | None = None

    def __init__(self, task: TaskSpec, pool: ExampleSet, settings: DecontaminationSettings | None) -> None:
        self.task = task
        self.settings = settings
        self.name = task.name
        self.pool = pool
        assert task.query is not None  # a task of an experiment always has its query set
        self.dev = load_examples(task.query)
        self.test = load_examples(task.test) if task.test else None
        self.parts: list[TaskData] = [self]
        self.rankings: dict[Any, tuple[Ranking, dict[str, Any]]] = {}
        self._contamination: Contamination | None = None

    @property
    def queries(self) -> ExampleSet | dict[str, ExampleSet]:
        """What the selection ranks for (``run_selection``'s ``queries``): the task's query set."""
        return self.dev

    def evaluation_sets(self) -> list[tuple[str, ExampleSet]]:
        """The sets whose items are removed from the pool: ``("query", dev)`` and the test split."""
        return [("query", self.dev)] + ([(str(self.task.test), self.test)] if self.test is not None else [])

    def contamination(self, output: Path) -> Contamination | None:
        """The contamination, found on first use and written to ``output/contamination-<name>.jsonl``;
        ``None`` with decontamination off."""
        from targetsel.decontaminate.ngram import find_ngram_contamination

        if self.settings is None:
            return None
        if self._contamination is None:
            found = find_ngram_contamination(
                self.pool, self.evaluation_sets(), self.settings, desc=f"decontaminate {self.name}"
            )
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
            output.mkdir(parents=True, exist_ok=True)
            atomic_write_text(output / contamination_file(safe), found.jsonl())
            logger.info("task %s: %s", self.name, found.summary())
            self._contamination = found
        return self._contamination

    def eligible(self, output: Path) -> np.ndarray:
        """The pool rows a selection of this data may pick: the clean ones, or all with decontamination off."""
        found = self.contamination(output)
        return np.arange(len(self.pool)) if found is None else found.clean_indices


class MixtureData(TaskData):
    """Several tasks trained together: their query sets are the targets of one selection, shared by ``mix``.

    The pool rows overlapping any task's query or test items are removed (``contamination-mixture.jsonl``),
    exactly as ``run_selection`` with these targets and the tasks' test splits as ``evaluation`` would.
    """

    mix: MixSettings

    def __init__(self, parts: list[TaskData], mix: MixSettings) -> None:
        self.name = "mixture"
        self.settings = parts[0].settings
        self.pool = parts[0].pool
        self.parts = list(parts)
        self.mix = mix
        self.rankings = {}
        self._contamination = None

    @property
    def queries(self) -> dict[str, ExampleSet]:
        """``{task: query set}``, in the config's task order."""
        return {p.name: p.dev for p in self.parts}

    def evaluation_sets(self) -> list[tuple[str, ExampleSet]]:
        """Every task's query set (named by the task, as ``run_selection`` names targets), then every test split."""
        tests = [(str(p.task.test), p.test) for p in self.parts if p.test is not None]
        return list(self.queries.items()) + tests
