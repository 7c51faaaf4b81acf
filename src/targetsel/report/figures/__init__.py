"""The paper's figures from a tidy results frame (matplotlib, Agg canvas, no display).

* :func:`plot_quantiles` — metric vs distance quantile, one panel per dataset, one line per method
  with its Spearman ρ in the legend (the paper's Figures 2–3).
* :func:`plot_budgets` — metric vs budget (log x), mean ± standard error over seeds, dashed
  zero-shot line, Random drawn thick in black (Figures 4–5); for a mixture run (several tasks
  trained together on one subset) the same figures, ``mixture_<metric>.png``, a panel per task.
* :func:`plot_diagnosis` — the figure of one selection's diagnosis (``diagnosis.png``);
  :func:`save_diagnosis` writes a diagnosis's data and this figure into one folder.

Both accept ``reference=``, a second tidy frame (e.g. the paper's published tables) drawn dashed
and faded on the same axes. Every PNG is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# One former module split by figure: ``style`` (labels, colours, panel grid, PNG save),
# ``quantiles``, ``budgets`` and ``diagnosis``. Every name stays importable from here.
from targetsel.report.figures.budgets import plot_budgets
from targetsel.report.figures.diagnosis import DIAGNOSIS_FIGURE, plot_diagnosis, save_diagnosis
from targetsel.report.figures.quantiles import plot_quantiles
from targetsel.report.figures.style import metric_label

__all__ = [
    "DIAGNOSIS_FIGURE",
    "make_figures",
    "metric_label",
    "plot_budgets",
    "plot_diagnosis",
    "plot_quantiles",
    "save_diagnosis",
]


def make_figures(
    df: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    *,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Every figure the frame supports: quantile, quantile-focus, budget and mixture plots per metric.

    Args:
        df: Tidy results.
        output_dir: Folder for the PNGs (created if needed).
        reference: Optional tidy frame drawn dashed and faded.

    Returns:
        All written paths.

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> len(make_figures(df, "out"))  # doctest: +SKIP
        9
    """
    paths = plot_quantiles(df, output_dir, experiment="quantile", reference=reference)
    paths += plot_quantiles(df, output_dir, experiment="quantile_focus", reference=reference)
    paths += plot_budgets(df, output_dir, reference=reference)
    paths += plot_budgets(df, output_dir, reference=reference, experiment="mixture")
    return paths
