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

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from targetsel.atomic import atomic_write_text
from targetsel.errors import ArtifactMismatchError, ConfigurationError, InvalidDataError
from targetsel.experiment.cells import CellHook, _Runner
from targetsel.experiment.config import ExperimentConfig
from targetsel.experiment.grid import Cell, build_grid
from targetsel.params.artifacts import read_artifact
from targetsel.progress import progress
from targetsel.report.tidy import TidyRow

logger = logging.getLogger(__name__)

__all__ = ["DONE_FILE", "STAGES", "Cell", "CellDone", "CellResults", "RunSummary", "build_grid", "run_experiment"]

DONE_FILE = "done.json"
RESULTS_FILE = "results.json"
STAGES = ("select", "train", "evaluate", "diagnose")


class CellDone(BaseModel):
    """A cell's ``done.json``, written last: the digest of the settings it was computed with.

    Types are strict; unknown keys are tolerated and ignored (a newer targetsel may record more).

    Example:
        >>> CellDone(digest="ab12", key="math/Random/b20-s0", seconds=1.5).model_dump_json()
        '{"digest":"ab12","key":"math/Random/b20-s0","seconds":1.5}'
    """

    model_config = ConfigDict(strict=True, extra="allow")

    digest: str
    key: str
    seconds: float


class CellResults(BaseModel):
    """A cell's ``results.json``: its identity and its tidy rows (:class:`targetsel.report.tidy.TidyRow`).

    Types are strict; unknown top-level keys are tolerated and ignored, a row's are refused.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    cell: dict[str, Any]
    rows: list[TidyRow]


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


def _cell_fix(folder: Path) -> str:
    return f"delete {folder} (or rerun with --redo) to compute the cell again"


def _done_digest(folder: Path, *, redo: bool) -> str | None:
    """The settings digest in ``folder``'s ``done.json``, or ``None`` when the cell is not done.

    With ``redo`` a corrupt ``done.json`` counts as outdated (the cell is computed again); without
    it, it is an error naming the file and the field.
    """
    done = folder / DONE_FILE
    if not done.is_file():
        return None
    try:
        return read_artifact(done, CellDone, fix=_cell_fix(folder)).digest
    except InvalidDataError:
        if redo:
            return None
        raise


def _read_rows(folder: Path) -> list[dict[str, Any]]:
    """The tidy rows of a finished cell, validated by :class:`CellResults`."""
    results = read_artifact(folder / RESULTS_FILE, CellResults, fix=_cell_fix(folder))
    return [row.model_dump() for row in results.rows]


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
    from targetsel.report.tidy import write_results

    out = _output_folder(config, output)
    runner = _Runner(config, out, redo=redo, hook=hook, quiet=quiet)
    cells = build_grid(config)
    runner.check_sizes(cells)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=1) + "\n")

    summary = RunSummary(out, None)
    digests = {c.key: runner.digest(c) for c in cells}
    if not redo:
        _refuse_other_settings(cells, out, digests)
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
            if _done_digest(folder, redo=redo) == digests[cell.key]:
                try:
                    all_rows[cell.key] = _read_rows(folder)
                except InvalidDataError:
                    if not redo:
                        raise
                else:
                    summary.skipped.append(cell.key)
                    bar.update(1)
                    continue
            _clear_unfinished(folder, done)
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            rows = runner.run_cell(cell, folder)
            results = CellResults.model_validate({"cell": cell.identity(), "rows": rows})
            atomic_write_text(folder / RESULTS_FILE, json.dumps(results.model_dump(), indent=1))
            marker = CellDone(digest=digests[cell.key], key=cell.key, seconds=time.perf_counter() - t0)
            atomic_write_text(done, json.dumps(marker.model_dump()) + "\n")
            all_rows[cell.key] = rows
            summary.ran.append(cell.key)
            flush()
            bar.update(1)
    flush()
    if report and summary.results is not None:
        summary.report = write_report(summary.results, out / "report", title=config.name)
    logger.info("experiment %s: %d cells ran, %d reused", config.name, len(summary.ran), len(summary.skipped))
    return summary


def _output_folder(config: ExperimentConfig, output: str | os.PathLike[str] | None) -> Path:
    """The experiment folder: ``output``, else the config's; it must be a folder if it exists."""
    if output is None:
        if config.output is None:
            raise ConfigurationError("no output folder: set `output:` in the config or pass --output")
        output = config.output
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"{out} exists and is not a folder; choose another output")
    return out


def _refuse_other_settings(cells: list[Cell], out: Path, digests: dict[str, str]) -> None:
    """Refuse before any work when finished cells disagree with the config (unless redo)."""
    for c in cells:
        digest = _done_digest(out / "cells" / c.key, redo=False)
        if digest is not None and digest != digests[c.key]:
            raise ArtifactMismatchError(
                f"cell {c.key} in {out} was computed with other settings than this config; "
                "use a new --output folder, or --redo to recompute such cells"
            )


def _clear_unfinished(folder: Path, done: Path) -> None:
    """Empty a cell folder that is not done with the current settings before it runs again."""
    if folder.exists():
        if done.is_file():  # outdated (redo): start the cell afresh
            shutil.rmtree(folder)
        else:  # partial (killed): redo it, but keep its training so that resumes from its last step
            for child in folder.iterdir():
                if child.name != "train":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()


def write_report(results: str | os.PathLike[str], folder: str | os.PathLike[str], *, title: str) -> list[Path]:
    """The report of a results CSV: what ``targetsel report`` writes (:func:`targetsel.report.write_report`)."""
    from targetsel.report import read_results
    from targetsel.report import write_report as write

    return write(read_results(results), folder, title=title)
