"""``targetsel experiment``: run (or resume) an experiment grid from a YAML config."""

from __future__ import annotations

from pathlib import Path

import typer

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet

__all__ = ["experiment_app"]

experiment_app = typer.Typer(
    help="Run the paper's protocol on your model: a grid of representations × algorithms × budgets × seeds.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(experiment_app, name="experiment")

_RUN_HELP = """Run every cell of an experiment config (select → train → evaluate → diagnose).

Random and zero-shot baselines are always included. Each cell is cached in
`OUTPUT/cells/<task>/<method>/<budget-seed>/` with a `done.json` marker written last, so rerunning
the same command after an interruption skips finished cells and redoes only the unfinished one.
Results go to `OUTPUT/results.csv` (tidy: experiment, dataset, method, budget, bin, seed, metric,
value; methods named like the paper, e.g. `EMBED (RR)`), figures and `summary.md` to `OUTPUT/report/`.
A finished cell computed with other settings stops the run (use a new `--output`, or `--redo`).

**Examples**

* `targetsel experiment run examples/experiment_demo.yaml -o runs/demo`
* `targetsel experiment run my_grid.yaml` (output folder from the config's `output:`)
* `targetsel experiment run my_grid.yaml -o runs/x --redo --quiet`
* `targetsel experiment run my_grid.yaml -o runs/x --dry-run` (list the cells and their state)
"""


@experiment_app.command("run", help=_RUN_HELP)
def run_cmd(
    config: Path = typer.Argument(..., help="Experiment YAML file.", show_default=False),
    output: Path | None = typer.Option(None, "--output", "-o", help="Experiment folder (default: config `output:`)."),
    redo: bool = typer.Option(False, "--redo", help="Recompute cells finished with other settings."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the figures and summary at the end."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and whether they are done; run nothing."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.errors import ConfigurationError
    from targetsel.experiment import DONE_FILE, build_grid, load_config, run_experiment

    apply_quiet(quiet)
    cfg = load_config(config)
    out = output if output is not None else (Path(cfg.output) if cfg.output else None)
    if out is None:
        raise ConfigurationError("no output folder: pass --output or set `output:` in the config")
    if dry_run:
        cells = build_grid(cfg)
        for c in cells:
            state = "done" if (out / "cells" / c.key / DONE_FILE).is_file() else "todo"
            typer.echo(f"{state}  {c.key}")
        typer.echo(f"{len(cells)} cells")
        return
    summary = run_experiment(cfg, out, redo=redo, report=not no_report, quiet=quiet)
    if not quiet:
        typer.echo(
            f"{len(summary.ran)} cells ran, {len(summary.skipped)} reused; results: {summary.results}"
            + (f"; report: {out / 'report'}" if summary.report else "")
        )
