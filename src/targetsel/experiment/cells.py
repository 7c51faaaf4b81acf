"""The work of one grid cell: its data, representation (and LESS warmup), settings digest, subset,
and the stages select → train → evaluate → diagnose."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from targetsel.data import ExampleSet, load_examples
from targetsel.decontaminate import Contamination
from targetsel.errors import ArtifactMismatchError, ConfigurationError, InvalidDataError
from targetsel.experiment.config import AlgorithmSpec, ExperimentConfig, RepresentationSpec, TaskSpec
from targetsel.experiment.grid import Cell
from targetsel.params.artifacts import read_artifact
from targetsel.report.results import RANDOM_METHOD
from targetsel.select.base import Ranking
from targetsel.store import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["CellHook", "WarmupDone"]


class WarmupDone(BaseModel):
    """``warmup_done.json``, written after a LESS warmup: the digest and the settings it ran with.

    Types are strict; unknown keys are tolerated and ignored. A marker that fails this model is
    treated as outdated: the warmup runs again (it is a cache, nothing is lost).
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


#: Called as ``hook(cell, stage)`` before each stage; tests use it to simulate a crash.
CellHook = Callable[["Cell", str], None]


#: Decontamination of every cell's pool (the default n-gram test); part of each cell's digest.
DECONTAMINATION = {"ngram": 13, "min_words": 8, "template_items": 5, "answers": True}


class _TaskData:
    """Pool, query and test sets of one task, loaded once, and the rankings computed on them.

    The pool rows that overlap the task's query or test items are found once
    (:mod:`targetsel.decontaminate`) and left out of every selection of the task, random included.
    """

    def __init__(self, config: ExperimentConfig, task: TaskSpec, pool: ExampleSet) -> None:
        self.task = task
        self.pool = pool
        self.dev = load_examples(task.query)
        self.test = load_examples(task.test) if task.test else None
        self.rankings: dict[Any, tuple[Ranking, dict[str, Any]]] = {}
        self._contamination: Contamination | None = None

    def contamination(self, output: Path) -> Contamination:
        """The task's contamination, found on first use and written to ``output/contamination-<task>.jsonl``."""
        from targetsel.decontaminate import DecontaminationSettings
        from targetsel.decontaminate.ngram import find_ngram_contamination

        if self._contamination is None:
            sets = [("query", self.dev)] + ([(str(self.task.test), self.test)] if self.test is not None else [])
            found = find_ngram_contamination(
                self.pool, sets, DecontaminationSettings(**DECONTAMINATION), desc=f"decontaminate {self.task.name}"
            )
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.task.name)
            output.mkdir(parents=True, exist_ok=True)
            found.write(output / f"contamination-{safe}.jsonl")
            logger.info("task %s: %s", self.task.name, found.summary())
            self._contamination = found
        return self._contamination


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
        self._tasks: dict[str, _TaskData] = {}
        self._reps: dict[int, Any] = {}

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

    def task_data(self, name: str) -> _TaskData:
        if name not in self._tasks:
            task = next(t for t in self.config.tasks if t.name == name)
            self._tasks[name] = _TaskData(self.config, task, self.pool)
        return self._tasks[name]

    def rep(self, index: int):
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
        """LESS warmup checkpoints of gradient representation ``index``, run once and cached.

        ``OUT/warmup/<label>/`` holds the epoch checkpoints and ``warmup_done.json`` (the settings'
        digest, written last): a finished warmup with the same settings is reused; an interrupted one
        resumes from its last step checkpoint (:mod:`targetsel.train.resume`).
        """
        from targetsel.train import warmup
        from targetsel.train.checkpoints import find_checkpoints

        spec = self.config.representations[index]
        fraction, seed, tcfg = spec.warmup_config()
        model = spec.params.get("model", self.config.model)
        settings = {
            "model": model,
            "pool": [self.config.pool, self.config.pool_limit, self.config.pool_seed],
            "fraction": fraction,
            "seed": seed,
            "train": tcfg.to_dict(),
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
        folder = self.output / "warmup" / re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.display)
        done = folder / "warmup_done.json"
        if done.is_file() and _warmup_digest(done) == digest:
            return find_checkpoints(folder)
        if done.is_file():  # other settings (or a corrupt marker): train again
            shutil.rmtree(folder)
        ckpts = warmup(model, self.pool, folder, fraction=fraction, seed=seed, config=tcfg, quiet=self.quiet)
        marker = json.loads(json.dumps({"digest": digest, "settings": settings}, default=str))
        atomic_write_text(done, json.dumps(WarmupDone.model_validate(marker).model_dump(), indent=1) + "\n")
        return ckpts

    # -- digests ----------------------------------------------------------------------------
    def digest(self, cell: Cell) -> str:
        cfg = self.config
        task = next(t for t in cfg.tasks if t.name == cell.task)
        rep: RepresentationSpec | None = (
            None if cell.representation is None else cfg.representations[cell.representation]
        )
        alg: AlgorithmSpec | None = None if cell.algorithm is None else cfg.algorithms[cell.algorithm]
        parts: dict[str, Any] = {
            "cell": cell.identity(),
            "model": cfg.model,
            "task": [task.query, task.test, task.answer_format],
            "evaluate": cfg.eval_config(task).__dict__,
            "decontaminate": DECONTAMINATION,
        }
        if cell.experiment != "zero_shot":
            parts.update(
                pool=[cfg.pool, cfg.pool_limit, cfg.pool_seed],
                representation=None if rep is None else [rep.name, rep.params, *([rep.warmup] if rep.warmup else [])],
                algorithm=None if alg is None else [alg.name, alg.params],
                quantile=cfg.quantile.__dict__ if cell.bin is not None else None,
                train=cfg.train_config(cell.seed or 0).to_dict(),
                diagnose=[cfg.diagnose.__dict__, self._distance_rep_index(cell)],
            )
        return cfg.digest(parts)

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

        data = self.task_data(cell.task)
        pool = data.pool
        if cell.method == RANDOM_METHOD:
            key: Any = ("random", cell.seed)
            if key not in data.rankings:
                budget = max(self.config.budgets) if self.config.grid == "budget" else self.config.quantile.per_bin
                clean = data.contamination(self.output).clean_indices
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
                res = run_selection(
                    pool,
                    data.dev,
                    rep,
                    method=alg.name,
                    method_params=alg.params,
                    budgets=[max(self.config.budgets)],
                    store_dir=self.store_dir,
                    decontaminate=data.contamination(self.output),
                )
                data.rankings[key] = (res.ranking, dict(res.scores.provenance))
            ranking, prov = data.rankings[key]
            return ranking[: cell.budget], prov
        q = self.config.quantile
        key = ("quantile", cell.representation)
        if key not in data.rankings:
            res = run_selection(
                pool,
                data.dev,
                rep,
                method="quantiles",
                method_params={"q": q.bins, "n": q.per_bin, "focus": q.focus},
                budgets=[len(data.contamination(self.output).clean_indices)],
                store_dir=self.store_dir,
                decontaminate=data.contamination(self.output),
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
        from targetsel.diagnose import diagnose_selection
        from targetsel.evaluate import evaluate_model
        from targetsel.export import export
        from targetsel.train import train_model

        data = self.task_data(cell.task)
        ecfg = self.config.eval_config(data.task)
        rows: list[dict[str, Any]] = []

        def add(metric: str, value: float) -> None:
            rows.append(
                {
                    "experiment": cell.experiment,
                    "dataset": cell.task,
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
            result = evaluate_model(self.config.model, dev=data.dev, test=data.test, task=cell.task, config=ecfg)
            result.save(folder / "eval.json")
            for k, v in result.metrics.items():
                add(k, v)
            return rows

        self._stage(cell, "select")
        ranking, prov = self.subset(cell)
        _, meta_path = export(data.pool, ranking, folder / "selection", queries=data.dev, provenance=prov)

        self._stage(cell, "train")
        tcfg = self.config.train_config(int(cell.seed or 0))
        subset = data.pool.select(ranking.indices)
        try:  # a killed cell's training resumes from its last step checkpoint (targetsel.train.resume)
            final = train_model(self.config.model, subset, folder / "train", tcfg, quiet=self.quiet)
        except ArtifactMismatchError:  # it was interrupted with other settings: start it over
            final = train_model(self.config.model, subset, folder / "train", tcfg, quiet=self.quiet, resume=False)

        self._stage(cell, "evaluate")
        result = evaluate_model(
            self.config.model, trained=final, dev=data.dev, test=data.test, task=cell.task, config=ecfg
        )
        result.save(folder / "eval.json")
        for k, v in result.metrics.items():
            add(k, v)

        rep_index = self._distance_rep_index(cell)
        if rep_index is not None:
            self._stage(cell, "diagnose")
            diag = diagnose_selection(
                meta_path,
                data.pool,
                data.dev,
                self.rep(rep_index),
                budgets=_prefix_budgets(len(ranking)),
                store_dir=self.store_dir,
                exact_limit=self.config.diagnose.exact_limit,
            )
            diag.info["distance_representation"] = self.config.representations[rep_index].display
            diag.save(folder / "diagnosis")
            point = diag.points[-1]
            add("subset_distance", point.w1)
            add("subset_mmd_distance", point.mmd)
            add("subset_nn_distance", point.mean_nn_query)
        if not self.config.keep_models:
            shutil.rmtree(folder / "train", ignore_errors=True)
        return rows

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


def _prefix_budgets(n: int) -> list[int]:
    """Prefix lengths for a cell's distance curve: n/8, n/4, n/2 and n (the subset itself)."""
    return sorted({max(1, n // d) for d in (8, 4, 2, 1)})
