"""Run an experiment grid cell by cell, each cached in its own folder so a killed run resumes.

Every cell is one (task, method, budget or quantile bin, seed) and runs
select → train → evaluate → diagnose. Its folder (``cells/<task>/<method>/<b40-s0>``) holds the
exported subset, the trained adapter, ``eval.json``, ``diagnosis/`` and ``results.json`` (its
tidy rows); ``done.json`` is written atomically last, with a digest of every setting that shaped
the cell. A rerun skips cells whose ``done.json`` digest matches, redoes partial cells (keeping a
killed cell's ``train/``, whose training resumes from its last step checkpoint),
and refuses (or with ``redo=True`` recomputes) cells done with other settings. After every cell
the tidy ``results.csv`` is rewritten (atomically) from all finished cells of the grid, so it is
always complete up to the last finished cell; at the end ``report/`` gets the figures.

Example:
    >>> from targetsel.experiment import load_config, run_experiment
    >>> summary = run_experiment(load_config("examples/experiment_demo.yaml"), "runs/demo")  # doctest: +SKIP
    >>> summary.results  # doctest: +SKIP
    PosixPath('runs/demo/results.csv')
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.data import ExampleSet, load_examples
from targetsel.errors import ArtifactMismatchError, ConfigurationError
from targetsel.experiment.config import AlgorithmSpec, ExperimentConfig, RepresentationSpec, TaskSpec
from targetsel.progress import progress
from targetsel.report.results import RANDOM_METHOD, ZERO_SHOT_METHOD
from targetsel.select.base import Ranking
from targetsel.store import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["DONE_FILE", "STAGES", "Cell", "RunSummary", "build_grid", "run_experiment"]

DONE_FILE = "done.json"
RESULTS_FILE = "results.json"
STAGES = ("select", "train", "evaluate", "diagnose")

#: Called as ``hook(cell, stage)`` before each stage; tests use it to simulate a crash.
CellHook = Callable[["Cell", str], None]


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


@dataclass
class RunSummary:
    """What :func:`run_experiment` did.

    Attributes:
        output: The experiment folder.
        results: The tidy results CSV.
        ran: Keys of the cells computed in this run.
        skipped: Keys of the cells found done and reused.
        report: Files written by the report step.
    """

    output: Path
    results: Path | None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    report: list[Path] = field(default_factory=list)


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


class _TaskData:
    """Pool, query and test sets of one task, loaded once, and the rankings computed on them."""

    def __init__(self, config: ExperimentConfig, task: TaskSpec, pool: ExampleSet) -> None:
        self.task = task
        self.pool = pool
        self.dev = load_examples(task.query)
        self.test = load_examples(task.test) if task.test else None
        self.rankings: dict[Any, tuple[Ranking, dict[str, Any]]] = {}


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
        if done.is_file() and json.loads(done.read_text(encoding="utf-8")).get("digest") == digest:
            return find_checkpoints(folder)
        if done.is_file():  # other settings: train again
            shutil.rmtree(folder)
        ckpts = warmup(model, self.pool, folder, fraction=fraction, seed=seed, config=tcfg, quiet=self.quiet)
        atomic_write_text(done, json.dumps({"digest": digest, "settings": settings}, indent=1, default=str) + "\n")
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
                dummy = Scores.from_matrix(np.zeros((1, len(pool)), dtype=np.float32))
                data.rankings[key] = (get_selector("random", seed=int(cell.seed or 0)).rank(dummy, budget), {})
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
                budgets=[len(pool)],
                store_dir=self.store_dir,
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
                json.loads(meta_path.read_text(encoding="utf-8")),
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


def _read_rows(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))["rows"]


def run_experiment(
    config: ExperimentConfig,
    output: str | os.PathLike[str] | None = None,
    *,
    redo: bool = False,
    report: bool = True,
    hook: CellHook | None = None,
    quiet: bool = False,
) -> RunSummary:
    """Run (or resume) every cell of ``config`` and write ``results.csv`` and ``report/``.

    Args:
        config: A validated :class:`ExperimentConfig`.
        output: Experiment folder (default: ``config.output``).
        redo: Recompute cells that were finished with other settings instead of refusing.
        report: Write the figures and summary into ``<output>/report`` at the end.
        hook: ``hook(cell, stage)`` called before each stage (testing, progress reporting).
        quiet: Hide training progress bars.

    Returns:
        A :class:`RunSummary`.

    Raises:
        ArtifactMismatchError: A finished cell was computed with other settings (and not ``redo``).

    Example:
        >>> # run_experiment(load_config("examples/experiment_demo.yaml"), "runs/demo").ran
    """
    from targetsel.report.results import write_results

    if output is None:
        if config.output is None:
            raise ConfigurationError("no output folder: set `output:` in the config or pass --output")
        output = config.output
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"{out} exists and is not a folder; choose another output")
    runner = _Runner(config, out, redo=redo, hook=hook, quiet=quiet)
    cells = build_grid(config)
    runner.check_sizes(cells)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=1) + "\n")

    summary = RunSummary(out, None)
    digests = {c.key: runner.digest(c) for c in cells}
    # Refuse before any work when finished cells disagree with the config (unless redo).
    if not redo:
        for c in cells:
            done = out / "cells" / c.key / DONE_FILE
            if done.is_file() and json.loads(done.read_text(encoding="utf-8")).get("digest") != digests[c.key]:
                raise ArtifactMismatchError(
                    f"cell {c.key} in {out} was computed with other settings than this config; "
                    "use a new --output folder, or --redo to recompute such cells"
                )
    all_rows: dict[str, list[dict[str, Any]]] = {}

    def flush() -> None:
        import pandas as pd

        rows = [r for c in cells if c.key in all_rows for r in all_rows[c.key]]
        if rows:
            summary.results = write_results(pd.DataFrame(rows), out / "results.csv")

    with progress(total=len(cells), desc=f"experiment {config.name}", unit="cell") as bar:
        for cell in cells:
            folder = out / "cells" / cell.key
            done = folder / DONE_FILE
            if done.is_file() and json.loads(done.read_text(encoding="utf-8")).get("digest") == digests[cell.key]:
                all_rows[cell.key] = _read_rows(folder)
                summary.skipped.append(cell.key)
                bar.update(1)
                continue
            if folder.exists():
                if done.is_file():  # outdated (redo): start the cell afresh
                    shutil.rmtree(folder)
                else:  # partial (killed): redo it, but keep its training so that resumes from its last step
                    for child in folder.iterdir():
                        if child.name != "train":
                            shutil.rmtree(child) if child.is_dir() else child.unlink()
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            rows = runner.run_cell(cell, folder)
            atomic_write_text(folder / RESULTS_FILE, json.dumps({"cell": cell.identity(), "rows": rows}, indent=1))
            atomic_write_text(
                done,
                json.dumps({"digest": digests[cell.key], "key": cell.key, "seconds": time.perf_counter() - t0}) + "\n",
            )
            all_rows[cell.key] = rows
            summary.ran.append(cell.key)
            flush()
            bar.update(1)
    flush()
    if report and summary.results is not None:
        summary.report = write_report(summary.results, out / "report", title=config.name)
    logger.info("experiment %s: %d cells ran, %d reused", config.name, len(summary.ran), len(summary.skipped))
    return summary


def write_report(results: str | os.PathLike[str], folder: str | os.PathLike[str], *, title: str) -> list[Path]:
    """The report of a results CSV: what ``targetsel report`` writes (:func:`targetsel.report.write_report`)."""
    from targetsel.report import read_results
    from targetsel.report import write_report as write

    return write(read_results(results), folder, title=title)
