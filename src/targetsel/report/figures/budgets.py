"""Metric vs budget, mean ± standard error over seeds (the paper's Figures 4–5), for the budget sweep and
for the mixture sweep (one subset for several tasks, each task's panel its own evaluation)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

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
from targetsel.report.tables import SHARE_METRIC, budget_table
from targetsel.report.tidy import COLS, RANDOM_METHOD, ZERO_SHOT_METHOD

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

__all__ = ["plot_budgets"]


def plot_budgets(
    df: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    *,
    metrics: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
    experiment: str = "budget",
) -> list[Path]:
    """Metric vs budget (log x) with mean ± standard-error bands: one PNG per metric.

    One panel per dataset; the zero-shot value is a horizontal dashed line and ``Random`` is drawn
    thick in black. Files are named ``{experiment}_{metric}.png``.

    Args:
        df: Tidy results.
        output_dir: Folder for the PNGs (created if needed).
        metrics: Metrics to plot; default every metric with rows of ``experiment`` but a mixture's
            composition (``subset_share``, tabulated in the summary instead).
        reference: Optional tidy frame whose means are drawn dashed and faded.
        experiment: ``budget`` or ``mixture`` (one subset trained for every task; a panel per task).

    Returns:
        The written paths (empty if ``df`` has no rows of ``experiment``).

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> [p.name for p in plot_budgets(df, "out", metrics=["true_metric"])]  # doctest: +SKIP
        ['budget_true_metric.png']
    """
    _check(df)
    out_dir = Path(output_dir)
    mask = (df[COLS.experiment] == experiment) & df[COLS.budget].notna() & (df[COLS.metric] != SHARE_METRIC)
    colors = _method_colors(
        list(df[COLS.method].dropna()) + ([] if reference is None else list(reference[COLS.method].dropna()))
    )
    written: list[Path] = []
    for metric in _metrics_for(df, mask, metrics):
        table = budget_table(df, metric, experiment)
        ref_table = None
        if reference is not None:
            _check(reference)
            ref_table = budget_table(reference, metric, experiment)
        sweep = table[table[COLS.budget].notna()]
        datasets = _ordered(sweep[COLS.dataset])
        fig, axes = _new_figure(len(datasets))
        handles: dict[str, Artist] = {}
        for ax, dataset in zip(axes, datasets, strict=True):
            _budget_panel(ax, dataset, metric, table, sweep, ref_table, colors, handles)
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles.keys()),
                loc="outside lower center",
                ncol=min(len(handles), 6),
                fontsize=8,
            )
        together = ", one subset for all tasks" if experiment == "mixture" else ""
        fig.suptitle(f"{metric_label(metric)} vs budget{together} (mean ± s.e. over seeds)")
        written.append(_save(fig, out_dir / f"{experiment}_{metric}.png"))
    return written


def _budget_panel(
    ax: Axes,
    dataset: str,
    metric: str,
    table: pd.DataFrame,
    sweep: pd.DataFrame,
    ref_table: pd.DataFrame | None,
    colors: dict[str, str],
    handles: dict[str, Artist],
) -> None:
    """One dataset's panel: a line and s.e. band per method (Random on top), the reference's
    dashed, the zero-shot line; legend handles are added to ``handles``."""
    sub = sweep[sweep[COLS.dataset] == dataset]
    methods = _ordered(sub[COLS.method])
    # Random last so it is drawn on top of the others.
    methods = [m for m in methods if m != RANDOM_METHOD] + [m for m in methods if m == RANDOM_METHOD]
    for method in methods:
        cur = sub[sub[COLS.method] == method].sort_values(COLS.budget)
        x = cur[COLS.budget].to_numpy(dtype=float)
        y = cur["mean"].to_numpy(dtype=float)
        err = np.nan_to_num(cur["sem"].to_numpy(dtype=float))
        is_random = method == RANDOM_METHOD
        (line,) = ax.plot(
            x,
            y,
            marker="o",
            markersize=3.5,
            color=colors[method],
            linewidth=2.6 if is_random else 1.4,
            zorder=4 if is_random else 2,
            label=method,
        )
        ax.fill_between(x, y - err, y + err, color=colors[method], alpha=0.15, linewidth=0)
        handles.setdefault(method, line)
        if ref_table is not None:
            ref = ref_table[(ref_table[COLS.dataset] == dataset) & (ref_table[COLS.method] == method)]
            ref = ref[ref[COLS.budget].notna()].sort_values(COLS.budget)
            if not ref.empty:
                ax.plot(
                    ref[COLS.budget].to_numpy(dtype=float),
                    ref["mean"].to_numpy(dtype=float),
                    linestyle="--",
                    alpha=_REF_ALPHA,
                    color=colors[method],
                )
                handles.setdefault(
                    "reference (dashed)",
                    Line2D([], [], color="gray", linestyle="--", alpha=_REF_ALPHA),
                )
    zero = table[(table[COLS.dataset] == dataset) & (table[COLS.method] == ZERO_SHOT_METHOD)]
    if not zero.empty:
        zline = ax.axhline(float(zero["mean"].iloc[0]), color=colors[ZERO_SHOT_METHOD], linestyle="--", linewidth=1.2)
        zline.set_label(ZERO_SHOT_METHOD)
        handles.setdefault(ZERO_SHOT_METHOD, zline)
    budgets = sorted({int(b) for b in sub[COLS.budget]})
    ax.set_xscale("log")
    ax.set_xticks(budgets)
    ax.set_xticklabels([f"{b:,}" for b in budgets], rotation=30, fontsize=7)
    ax.minorticks_off()
    ax.set_title(dataset)
    ax.set_xlabel("budget (examples)")
    ax.set_ylabel(metric_label(metric))
    ax.grid(alpha=0.3)
