"""``targetsel report``: figures, Spearman tables and a markdown summary from results CSVs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from targetsel.cli._app import app
from targetsel.cli._common import english_list
from targetsel.errors import ConfigurationError, InvalidDataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["report_cmd"]

logger = logging.getLogger(__name__)

_HELP = """Turn results into the paper's figures, Spearman ρ tables and a markdown summary.

RESULTS are tidy CSVs (columns experiment, dataset, method, budget, bin, seed, metric, value),
single tables of the paper, or folders of them such as `../shared/paper_results/tulu_v2/llama2-7b`.
The output folder receives one PNG per (experiment, metric), `summary.md` and `spearman.csv`; when
the results hold `subset_distance` rows (from the experiment harness's `diagnose` step) and losses,
also `distance_vs_loss.csv`: Spearman between each trained subset's distance to the query set and its
loss after training, per task and method ("does distance predict loss?", also in `summary.md`).
With `--reference`, also `spearman_vs_reference.csv`: our ρ beside the reference's per paired task
and method (the demo's math, dates and humaneval pair with the paper's gsm8k, bbh and codex unless
`--reference-dataset OURS=THEIRS` says otherwise).

**Examples**

* `targetsel report ../shared/paper_results/tulu_v2/llama2-7b -o out/`
* `targetsel report runs/results.csv -o report/ --reference ../shared/paper_results/tulu_v2/llama2-7b`
* `targetsel report runs/q/results.csv -o r/ --reference paper/llama2-7b --reference-dataset mytask=gsm8k`
* `targetsel report a.csv b.csv -o report/ --quiet`
"""


def _dataset_pairs(values: list[str]) -> dict[str, str] | None:
    """``["math=gsm8k", ...]`` → ``{"math": "gsm8k"}``; ``None`` (the default pairing) when empty."""
    if not values:
        return None
    pairs: dict[str, str] = {}
    for value in values:
        ours, sep, theirs = value.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ConfigurationError(f"--reference-dataset {value!r}: expected OURS=THEIRS, e.g. math=gsm8k")
        pairs[ours.strip()] = theirs.strip()
    return pairs


def _print_rho(spearman: pd.DataFrame, quiet: bool) -> None:
    if quiet or spearman.empty:
        return
    from rich.console import Console
    from rich.table import Table

    from targetsel.report.summary import rho_matrix

    console = Console()
    quantile = spearman[spearman["experiment"] == "quantile"]
    if quantile.empty:
        quantile = spearman
    metrics = list(dict.fromkeys(quantile["metric"]))
    metric = "dev_loss" if "dev_loss" in metrics else metrics[0]
    sub = quantile[quantile["metric"] == metric]
    mat = rho_matrix(sub, methods=sorted(dict.fromkeys(sub["method"])))
    table = Table(title=f"Spearman ρ: {metric} vs distance quantile ({sub['experiment'].iloc[0]})")
    table.add_column("dataset")
    for method in mat.columns:
        table.add_column(str(method), justify="right")
    for dataset in mat.index:
        table.add_row(str(dataset), *("n/a" if v != v else f"{v:+.2f}" for v in mat.loc[dataset]))
    console.print(table)


@app.command("report", help=_HELP)
def report_cmd(
    results: list[Path] = typer.Argument(
        ..., help="Tidy results CSVs, paper tables, or folders of them.", show_default=False
    ),
    output: Path = typer.Option(Path("report"), "--output", "-o", help="Folder for PNGs and summary.md."),
    reference: Path | None = typer.Option(
        None, "--reference", help="Results (e.g. the paper's folder) drawn dashed and faded for comparison."
    ),
    reference_dataset: list[str] = typer.Option(
        [],
        "--reference-dataset",
        help="OURS=THEIRS: pair our task with the reference's in spearman_vs_reference.csv (repeatable; "
        "default math=gsm8k, dates=bbh, humaneval=codex).",
        show_default=False,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Write figures, ``summary.md`` and ``spearman.csv`` for RESULTS into OUTPUT."""
    # Imported here so that `targetsel --help` does not pay for pandas/matplotlib/scipy.
    from targetsel.report import read_results, spearman_tables, write_report

    # Read and validate everything before anything is written.
    pairs = _dataset_pairs(reference_dataset)
    df = read_results(results)
    if df.empty:
        raise InvalidDataError(f"{', '.join(map(str, results))}: no result rows to report.")
    ref = read_results(reference) if reference is not None else None
    if output.exists() and not output.is_dir():
        raise ConfigurationError(f"{output}: exists and is not a folder; pass another --output.")
    spearman = spearman_tables(df)

    paths = write_report(df, output, reference=ref, reference_datasets=pairs)
    figures = [p for p in paths if p.suffix == ".png"]
    tables = [p.name for p in paths if p.suffix != ".png"]
    logger.info("report: %d figures, %s", len(figures), ", ".join(tables))

    _print_rho(spearman, quiet)
    if not quiet:
        typer.echo(f"Wrote {len(figures)} figures, {english_list(tables)} to {output}")
