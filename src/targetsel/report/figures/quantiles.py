"""Metric vs distance quantile (the paper's Figures 2–3)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from targetsel.report.figures.style import (
    _REF_ALPHA,
    _check,
    _method_colors,
    _metrics_for,
    _new_figure,
    _ordered,
    _save,
    metric_label,
)
from targetsel.report.tables import spearman_table
from targetsel.report.tidy import COLS, RANDOM_METHOD

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_quantiles"]


def plot_quantiles(
    df: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    *,
    experiment: str = "quantile",
    metrics: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Metric vs distance quantile: one PNG per metric, one panel per dataset, one line per method.

    Each legend entry carries the method's Spearman ρ between bin and metric (seeds averaged); with
    several seeds a bar shows the standard error of each bin's mean over them.
    Files are named ``{experiment}_{metric}.png``.

    Args:
        df: Tidy results (see :func:`targetsel.report.read_results`).
        output_dir: Folder for the PNGs (created if needed).
        experiment: ``quantile`` or ``quantile_focus``.
        metrics: Metrics to plot; default every metric with rows of this experiment.
        reference: Optional tidy frame drawn dashed and faded (same datasets/methods only).

    Returns:
        The written paths (empty if ``df`` has no rows of this experiment).

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> [p.name for p in plot_quantiles(df, "out", metrics=["dev_loss"])]  # doctest: +SKIP
        ['quantile_dev_loss.png']
    """
    _check(df)
    out_dir = Path(output_dir)
    mask = (df[COLS.experiment] == experiment) & df[COLS.bin].notna()
    colors = _method_colors(
        list(df[COLS.method].dropna()) + ([] if reference is None else list(reference[COLS.method].dropna()))
    )
    written: list[Path] = []
    for metric in _metrics_for(df, mask, metrics):
        groups = _bin_groups(df, experiment, metric)
        # several seeds: the standard error of each bin's mean (NaN for one seed: no bar is drawn)
        means, errors = groups.mean(), groups.sem()
        rho = spearman_table(df, metric=metric, experiment=experiment)
        rho_of = {(d, m): r for d, m, r in zip(rho.dataset, rho.method, rho.rho, strict=True)}
        ref_means = ref_rho_of = None
        if reference is not None:
            _check(reference)
            ref_means = _bin_means(reference, experiment, metric)
            ref_rho = spearman_table(reference, metric=metric, experiment=experiment)
            ref_rho_of = {(d, m): r for d, m, r in zip(ref_rho.dataset, ref_rho.method, ref_rho.rho, strict=True)}
        datasets = _ordered(means.index.get_level_values(0).to_series())
        fig, axes = _new_figure(len(datasets))
        for ax, dataset in zip(axes, datasets, strict=True):
            _quantile_panel(ax, dataset, metric, means, errors, rho_of, ref_means, ref_rho_of, colors)
        title = "sub-quantiles of quantile 0" if experiment == "quantile_focus" else "distance quantile"
        fig.suptitle(f"{metric_label(metric)} vs {title}")
        written.append(_save(fig, out_dir / f"{experiment}_{metric}.png"))
    return written


def _bin_groups(df: pd.DataFrame, experiment: str, metric: str) -> Any:
    """The experiment's rows of ``metric`` grouped by dataset, method and bin (the seeds of a bin together)."""
    rows = df[(df[COLS.experiment] == experiment) & (df[COLS.metric] == metric) & df[COLS.bin].notna()]
    return rows.groupby([COLS.dataset, COLS.method, COLS.bin], sort=False, observed=True)[COLS.value]


def _bin_means(df: pd.DataFrame, experiment: str, metric: str) -> pd.Series:
    return _bin_groups(df, experiment, metric).mean()


def _quantile_panel(
    ax: Axes,
    dataset: str,
    metric: str,
    means: pd.Series,
    errors: pd.Series,
    rho_of: dict[tuple[str, str], float],
    ref_means: pd.Series | None,
    ref_rho_of: dict[tuple[str, str], float] | None,
    colors: dict[str, str],
) -> None:
    """One dataset's panel: a line per method (its ρ in the legend), the reference's dashed."""
    sub = means.xs(dataset, level=0)
    for method in _ordered(sub.index.get_level_values(0).to_series()):
        series = sub.xs(method, level=0).sort_index()
        r = rho_of.get((dataset, method), math.nan)
        sem = errors.xs((dataset, method), level=(0, 1)).reindex(series.index).to_numpy(dtype=float)
        ax.errorbar(
            series.index.to_numpy(dtype=float),
            series.to_numpy(dtype=float),
            yerr=None if not (sem > 0).any() else sem,
            capsize=2.5,
            marker="o",
            markersize=3.5,
            color=colors[method],
            linewidth=2.2 if method == RANDOM_METHOD else 1.5,
            label=f"{method} (ρ={r:+.2f})",
        )
        if ref_means is not None and ref_rho_of is not None and (dataset, method) in ref_means.index:
            ref = ref_means.xs((dataset, method), level=(0, 1)).sort_index()
            rr = ref_rho_of.get((dataset, method), math.nan)
            ax.plot(
                ref.index.to_numpy(dtype=float),
                ref.to_numpy(dtype=float),
                linestyle="--",
                alpha=_REF_ALPHA,
                color=colors[method],
                label=f"{method} ref (ρ={rr:+.2f})",
            )
    ax.set_title(dataset)
    ax.set_xlabel("distance quantile (0 = closest)")
    ax.set_ylabel(metric_label(metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
