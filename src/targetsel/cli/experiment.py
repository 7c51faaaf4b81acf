"""``targetsel experiment``: run (or resume) an experiment grid from a YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet, check_model

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
With `grid: mixture` (several tasks trained together) each trained cell is one subset selected for
every task's query set by the config's `mixture: {mix: ...}` (as `select --mix`), cached in
`OUTPUT/cells/mixture/<method>/<budget-seed>/`, and evaluated on every task.

**Examples**

* `targetsel experiment run examples/experiment_demo.yaml -o runs/demo`
* `targetsel experiment run examples/mixture_demo.yaml -o runs/mixture_demo` (several tasks, one model)
* `targetsel experiment run my_grid.yaml` (output folder from the config's `output:`)
* `targetsel experiment run my_grid.yaml -o runs/x --redo --quiet`
* `targetsel experiment run my_grid.yaml -o runs/x --dry-run` (list the cells and their state)

**Dry run.** `--dry-run` runs nothing and writes nothing: it lists every cell as `done` (reused),
`todo`, `redo` (finished with other settings, recomputed with `--redo`) or `refused` with the
reason, after the checks the real run makes before any work (pool size against the budgets and
quantile bins, finished cells computed with other settings, the model, each task's query and test
files). When a cell is refused it ends like the real run would: one error line, exit status 2.
"""


def _dry_run(cfg: Any, out: Path, redo: bool) -> None:
    """List every cell and its state; a cell the real run would refuse ends in its one-line error."""
    from targetsel.errors import ConfigurationError
    from targetsel.experiment.preview import preview_experiment

    previews = preview_experiment(cfg, out, redo=redo)
    for p in previews:
        typer.echo(p.line())
    counts = {s: sum(p.state == s for p in previews) for s in ("done", "todo", "redo", "refused")}
    typer.echo(f"{len(previews)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    refused = [p for p in previews if p.state == "refused"]
    if refused:
        raise ConfigurationError(
            f"the real run would refuse {len(refused)} of {len(previews)} cells, first {refused[0].key}: "
            f"{refused[0].reason}"
        )


@experiment_app.command("run", help=_RUN_HELP)
def run_cmd(
    config: Path = typer.Argument(..., help="Experiment YAML file.", show_default=False),
    output: Path | None = typer.Option(None, "--output", "-o", help="Experiment folder (default: config `output:`)."),
    redo: bool = typer.Option(False, "--redo", help="Recompute cells finished with other settings."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the figures and summary at the end."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the cells, their state and the cells the real run would refuse; run nothing."
    ),
    quiet: bool = QUIET,
) -> None:
    from targetsel.errors import ConfigurationError
    from targetsel.experiment import load_config, run_experiment

    apply_quiet(quiet)
    cfg = load_config(config)
    out = output if output is not None else (Path(cfg.output) if cfg.output else None)
    if out is None:
        raise ConfigurationError("no output folder: pass --output or set `output:` in the config")
    check_model(cfg.model)
    if dry_run:
        _dry_run(cfg, out, redo)
        return
    summary = run_experiment(cfg, out, redo=redo, report=not no_report, quiet=quiet)
    if not quiet:
        typer.echo(
            f"{len(summary.ran)} cells ran, {len(summary.skipped)} reused; results: {summary.results}"
            + (f"; report: {out / 'report'}" if summary.report else "")
        )
