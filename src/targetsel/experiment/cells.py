"""The work of one grid cell: its data, representation (and LESS warmup), settings digest, subset,
and the stages select → train → evaluate → diagnose.

A mixture cell (``grid: mixture``) goes through the same stages with every task's data
(:class:`~targetsel.experiment.taskdata.MixtureData`): one selection for all tasks' query sets, one
trained model, then the evaluation and the diagnosis once per task, each task's rows carrying its
name and its share of the subset (``subset_share``)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.data import ExampleSet, load_examples
from targetsel.errors import ArtifactMismatchError, ConfigurationError
from targetsel.experiment.config import AlgorithmSpec, ExperimentConfig, RepresentationSpec
from targetsel.experiment.grid import Cell, safe_name
from targetsel.experiment.taskdata import MixtureData, TaskData
from targetsel.experiment.warmup import less_warmup
from targetsel.hashing import content_key, settings_digest
from targetsel.report.tables import SHARE_METRIC
from targetsel.report.tidy import RANDOM_METHOD
from targetsel.select.base import Ranking

if TYPE_CHECKING:
    from targetsel.represent.base import Representation

logger = logging.getLogger(__name__)

__all__ = ["CellHook"]


#: Called as ``hook(cell, stage)`` before each stage; tests use it to simulate a crash.
CellHook = Callable[["Cell", str], None]

#: A cell folder's parts: the selection (a :class:`~targetsel.export.SelectionArtifact` folder), the
#: trained adapter, and per task evaluated its evaluation and diagnosis (``eval-<task>.json`` and
#: ``diagnosis-<task>/`` in a mixture cell, see :func:`_per_task`).
CELL_SELECTION = "selection"
CELL_TRAIN = "train"
CELL_EVAL = "eval.json"
CELL_DIAGNOSIS = "diagnosis"


class _Runner:
    def __init__(
        self, config: ExperimentConfig, output: Path, *, redo: bool, hook: CellHook | None, quiet: bool
    ) -> None:
        self.config = config
        self.output = output
        self.redo = redo
        self.hook = hook
        self.quiet = quiet
        self.store_dir = Path(config.store_dir) if config.store_dir else output / "stores"
        self._pool: ExampleSet | None = None
        self._tasks: dict[str, TaskData] = {}
        self._mixture: MixtureData | None = None
        self._reps: dict[int, Representation] = {}

    # -- data -------------------------------------------------------------------------------
    @property
    def pool(self) -> ExampleSet:
        if self._pool is None:
            pool = load_examples(self.config.pool)
            limit = self.config.pool_limit
            if limit is not None and limit < len(pool):
                rng = np.random.default_rng(self.config.pool_seed)
                pool = pool.select(np.sort(rng.choice(len(pool), size=limit, replace=False)))
            self._pool = pool
        return self._pool

    def task_data(self, name: str) -> TaskData:
        if name not in self._tasks:
            task = next(t for t in self.config.tasks if t.name == name)
            self._tasks[name] = TaskData(task, self.pool, self.config.decontaminate.settings())
        return self._tasks[name]

    def data(self, cell: Cell) -> TaskData:
        """The data of ``cell``: its task's, or for a mixture cell every task's together."""
        if not cell.targets:
            return self.task_data(cell.task)
        if self._mixture is None:
            parts = [self.task_data(name) for name in cell.targets]
            self._mixture = MixtureData(parts, self.config.mix_settings())
        return self._mixture

    def rep(self, index: int) -> Representation:
        if index not in self._reps:
            spec = self.config.representations[index]
            if spec.needs_warmup:
                extra: dict[str, Any] = {"checkpoints": [str(c) for c in self.warmup(index)]}
                if "model" not in spec.params:  # the warmed-up base model
                    extra["model"] = self.config.model
                self._reps[index] = spec.build(**extra)
            else:
                self._reps[index] = spec.build()
        return self._reps[index]

    def warmup(self, index: int) -> list[Path]:
        """LESS warmup checkpoints of gradient representation ``index`` (run once, cached: ``less_warmup``)."""
        return less_warmup(self.config, index, self.pool, self.output, quiet=self.quiet)

    # -- digests ----------------------------------------------------------------------------
    def digest(self, cell: Cell) -> str:
        cfg = self.config
        tasks = [next(t for t in cfg.tasks if t.name == name) for name in cell.task_names]
        rep: RepresentationSpec | None = (
            None if cell.representation is None else cfg.representations[cell.representation]
        )
        alg: AlgorithmSpec | None = None if cell.algorithm is None else cfg.algorithms[cell.algorithm]
        task_part: list[Any] = [content_key(tasks[0].query), content_key(tasks[0].test), tasks[0].answer_format]
        eval_part: Any = cfg.eval_config(tasks[0]).__dict__
        if cell.targets:  # a mixture cell: every task's files and evaluation (a one-task cell: that task's)
            task_part = [[t.name, content_key(t.query), content_key(t.test), t.answer_format] for t in tasks]
            eval_part = [cfg.eval_config(t).__dict__ for t in tasks]
        parts: dict[str, Any] = {
            "cell": cell.identity(),
            "model": cfg.model,
            "task": task_part,
            "evaluate": eval_part,
            "decontaminate": cfg.decontaminate.describe(),
        }
        if cell.experiment != "zero_shot":
            parts.update(
                pool=[content_key(cfg.pool), cfg.pool_limit, cfg.pool_seed],
                representation=None if rep is None else [rep.name, rep.params, *([rep.warmup] if rep.warmup else [])],
                algorithm=None if alg is None else [alg.name, alg.params],
                quantile=cfg.quantile.__dict__ if cell.bin is not None else None,
                train=cfg.train_config(cell.seed or 0).to_dict(),
                diagnose=[cfg.diagnose.__dict__, self._distance_rep_index(cell)],
            )
        if cell.targets and alg is not None:  # how the tasks share the subset (Random does not read it)
            parts["mix"] = cfg.mix_settings().describe()
        return settings_digest([parts])

    def _distance_rep_index(self, cell: Cell) -> int | None:
        if not self.config.diagnose.enabled or cell.experiment == "zero_shot":
            return None
        if cell.representation is not None:
            return cell.representation
        wanted = self.config.diagnose.representation
        names = [r.name for r in self.config.representations]
        return names.index(wanted) if wanted is not None else 0

    # -- selection --------------------------------------------------------------------------
    def subset(self, cell: Cell) -> tuple[Ranking, dict[str, Any]]:
        """The cell's subset as a ranking (picks in order) and the scoring provenance."""
        from targetsel.pipeline import run_selection
        from targetsel.score import Scores
        from targetsel.select.base import get_selector

        data = self.data(cell)
        pool = data.pool
        if cell.method == RANDOM_METHOD:
            key: Any = ("random", cell.seed)
            if key not in data.rankings:
                budget = self.config.quantile.per_bin if self.config.grid == "quantile" else max(self.config.budgets)
                clean = data.eligible(self.output)
                dummy = Scores.from_matrix(np.zeros((1, len(clean)), dtype=np.float32))
                r = get_selector("random", seed=int(cell.seed or 0)).rank(dummy, budget)
                r = Ranking(clean[r.indices], r.query_index, r.scores, r.method, r.params, len(pool), r.extra)
                data.rankings[key] = (r, {})
            ranking, prov = data.rankings[key]
            return ranking[: cell.budget], prov
        assert cell.representation is not None
        rep = self.rep(cell.representation)
        if cell.bin is None:
            assert cell.algorithm is not None
            alg = self.config.algorithms[cell.algorithm]
            key = ("budget", cell.representation, cell.algorithm)
            if key not in data.rankings:
                found = data.contamination(self.output)
                res = run_selection(
                    pool,
                    data.queries,
                    rep,
                    mix=data.mix,
                    method=alg.name,
                    method_params=alg.params,
                    budgets=[max(self.config.budgets)],
                    store_dir=self.store_dir,
                    decontaminate=False if found is None else found,
                )
                data.rankings[key] = (res.ranking, dict(res.scores.provenance))
            ranking, prov = data.rankings[key]
            return ranking[: cell.budget], prov
        q = self.config.quantile
        key = ("quantile", cell.representation)
        if key not in data.rankings:
            found = data.contamination(self.output)
            res = run_selection(
                pool,
                data.dev,
                rep,
                method="quantiles",
                method_params={"q": q.bins, "n": q.per_bin, "focus": q.focus},
                budgets=[len(data.eligible(self.output))],
                store_dir=self.store_dir,
                decontaminate=False if found is None else found,
            )
            data.rankings[key] = (res.ranking, dict(res.scores.provenance))
        ranking, prov = data.rankings[key]
        mask = (ranking.extra["quantile"] == cell.bin) & (ranking.extra["quantile_rank"] < q.per_bin)
        sub = Ranking(
            ranking.indices[mask],
            ranking.query_index[mask],
            ranking.scores[mask],
            ranking.method,
            ranking.params,
            ranking.n_candidates,
            {k: v[mask] for k, v in ranking.extra.items()},
        )
        return sub, prov

    # -- cells ------------------------------------------------------------------------------
    def _stage(self, cell: Cell, stage: str) -> None:
        if self.hook is not None:
            self.hook(cell, stage)
        logger.info("%s: %s", cell.key, stage)

    def run_cell(self, cell: Cell, folder: Path) -> list[dict[str, Any]]:
        """Run the cell's stages in ``folder``; its tidy rows (one ``dataset`` per task it is evaluated on)."""
        from targetsel.evaluate import evaluate_model
        from targetsel.export import SelectionArtifact
        from targetsel.select.mixture import targets_record
        from targetsel.train import train_model

        data = self.data(cell)
        rows: list[dict[str, Any]] = []

        def add(task: str, metric: str, value: float) -> None:
            rows.append(
                {
                    "experiment": cell.experiment,
                    "dataset": task,
                    "method": cell.method,
                    "budget": cell.budget,
                    "bin": cell.bin,
                    "seed": cell.seed,
                    "metric": metric,
                    "value": float(value),
                }
            )

        if cell.experiment == "zero_shot":
            self._stage(cell, "evaluate")
            ecfg = self.config.eval_config(data.task)
            result = evaluate_model(self.config.model, dev=data.dev, test=data.test, task=cell.task, config=ecfg)
            result.save(folder / CELL_EVAL)
            for k, v in result.metrics.items():
                add(cell.task, k, v)
            return rows

        self._stage(cell, "select")
        ranking, prov = self.subset(cell)
        targets = None
        if isinstance(data, MixtureData) and "target" in ranking.extra:  # Random picks for no target
            targets = targets_record(data.mix, list(data.queries.items()), ranking.extra["target"], len(ranking))
        single = None if isinstance(data, MixtureData) else data.dev
        _, meta_path = SelectionArtifact(folder / CELL_SELECTION).write(
            data.pool, ranking, queries=single, provenance=prov, targets=targets
        )

        self._stage(cell, "train")
        tcfg = self.config.train_config(int(cell.seed or 0))
        subset = data.pool.select(ranking.indices)
        try:  # a killed cell's training resumes from its last step checkpoint (targetsel.train.resume)
            final = train_model(self.config.model, subset, folder / CELL_TRAIN, tcfg, quiet=self.quiet)
        except ArtifactMismatchError:  # it was interrupted with other settings: start it over
            final = train_model(self.config.model, subset, folder / CELL_TRAIN, tcfg, quiet=self.quiet, resume=False)

        self._stage(cell, "evaluate")
        for part in data.parts:
            ecfg = self.config.eval_config(part.task)
            result = evaluate_model(
                self.config.model, trained=final, dev=part.dev, test=part.test, task=part.name, config=ecfg
            )
            result.save(folder / _per_task(CELL_EVAL, part, data))
            for k, v in result.metrics.items():
                add(part.name, k, v)

        rep_index = self._distance_rep_index(cell)
        if rep_index is not None:
            self._stage(cell, "diagnose")
            # a mixture's selection.json names several targets; each task measures the whole subset alone
            selection: Any = meta_path if targets is None else _one_target(data.pool, ranking, prov)
            for part in data.parts:
                for metric, value in self._diagnose(selection, part, rep_index, len(ranking), folder, data):
                    add(part.name, metric, value)
        if targets is not None:  # each task's share of the subset's picks
            for t in targets["targets"]:
                add(t["name"], SHARE_METRIC, t["picks"] / len(ranking))
        if not self.config.keep_models:
            shutil.rmtree(folder / CELL_TRAIN, ignore_errors=True)
        return rows

    def _diagnose(
        self, selection: Any, part: TaskData, rep_index: int, n: int, folder: Path, data: TaskData
    ) -> list[tuple[str, float]]:
        """The subset's distances to ``part``'s query set (saved in :data:`CELL_DIAGNOSIS`, per task)."""
        from targetsel.diagnose import diagnose_selection
        from targetsel.report.figures import save_diagnosis

        diag = diagnose_selection(
            selection,
            data.pool,
            part.dev,
            self.rep(rep_index),
            budgets=_prefix_budgets(n),
            store_dir=self.store_dir,
            exact_limit=self.config.diagnose.exact_limit,
        )
        diag.info["distance_representation"] = self.config.representations[rep_index].display
        save_diagnosis(diag, folder / _per_task(CELL_DIAGNOSIS, part, data))
        point = diag.points[-1]
        return [
            ("subset_distance", point.w1),
            ("subset_mmd_distance", point.mmd),
            ("subset_nn_distance", point.mean_nn_query),
        ]

    def check_sizes(self, cells: list[Cell]) -> None:
        n = len(self.pool)
        biggest = max((c.budget or 0) for c in cells)
        if biggest > n:
            raise ConfigurationError(f"budget {biggest} exceeds the pool size {n}; lower it or raise pool_limit")
        if self.config.grid == "quantile":
            q = self.config.quantile
            span = n // q.bins if q.focus else n
            if span // q.bins < q.per_bin:
                raise ConfigurationError(
                    f"quantile: {q.bins} bins of {span // q.bins} pool rows cannot hold per_bin={q.per_bin}; "
                    "lower per_bin or bins, or use a larger pool"
                )


def _per_task(name: str, part: TaskData, data: TaskData) -> str:
    """A cell's file or folder ``name`` for ``part``: as it is for one task, ``<stem>-<task>.<ext>`` in a mixture."""
    if data.mix is None:
        return name
    stem, dot, ext = name.partition(".")
    return f"{stem}-{safe_name(part.name)}{dot}{ext}"


def _one_target(pool: ExampleSet, ranking: Ranking, provenance: dict[str, Any]) -> dict[str, Any]:
    """``selection.json`` content of a mixture's picks as one selection (no targets, no per-pick query)."""
    from targetsel.export import selection_metadata

    n = len(ranking)
    plain = Ranking(
        ranking.indices, np.full(n, -1), ranking.scores, ranking.method, ranking.params, ranking.n_candidates
    )
    return selection_metadata(pool, plain, provenance=provenance)


def _prefix_budgets(n: int) -> list[int]:
    """Prefix lengths for a cell's distance curve: n/8, n/4, n/2 and n (the subset itself)."""
    return sorted({max(1, n // d) for d in (8, 4, 2, 1)})
