"""The paper's figures from a tidy results frame (matplotlib, Agg canvas, no display).

* :func:`plot_quantiles` — metric vs distance quantile, one panel per dataset, one line per method
  with its Spearman ρ in the legend (the paper's Figures 2–3).
* :func:`plot_budgets` — metric vs budget (log x), mean ± standard error over seeds, dashed
  zero-shot line, Random drawn thick in black (Figures 4–5).
* :func:`plot_diagnosis` — the figure of one selection's diagnosis (``diagnosis.png``).

Both accept ``reference=``, a second tidy frame (e.g. the paper's published tables) drawn dashed
and faded on the same axes. Every PNG is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from targetsel.atomic import atomic_path, atomic_write_bytes
from targetsel.errors import InvalidDataError
from targetsel.report.results import (
    COLS,
    RANDOM_METHOD,
    ZERO_SHOT_METHOD,
    budget_table,
    is_lower_better,
    spearman_table,
)

if TYPE_CHECKING:
    from targetsel.diagnose import Diagnosis

__all__ = ["make_figures", "metric_label", "plot_budgets", "plot_diagnosis", "plot_quantiles"]

logger = logging.getLogger(__name__)

_LABELS = {
    "dev_loss": "Query-set loss (dev)",
    "test_loss": "Test loss",
    "true_metric": "Downstream metric",
    "subset_distance": "Subset–query distance",
}
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
_REF_ALPHA = 0.45


def metric_label(metric: str) -> str:
    """Human-readable axis label for a metric name, with its direction.

    Args:
        metric: Tidy metric name.

    Returns:
        A label such as ``"Query-set loss (dev) ↓"``.

    Example:
        >>> metric_label("true_metric")
        'Downstream metric ↑'
    """
    base = _LABELS.get(metric, metric.replace("_", " "))
    return f"{base} {'↓' if is_lower_better(metric) else '↑'}"


def _method_colors(methods: Iterable[str]) -> dict[str, str]:
    colors: dict[str, str] = {}
    others = [m for m in dict.fromkeys(methods) if m not in (RANDOM_METHOD, ZERO_SHOT_METHOD)]
    for i, method in enumerate(others):
        colors[method] = _PALETTE[i % len(_PALETTE)]
    colors[RANDOM_METHOD] = "black"
    colors[ZERO_SHOT_METHOD] = "dimgray"
    return colors


def _grid(n: int, max_cols: int = 5) -> tuple[int, int]:
    ncols = max(1, min(n, max_cols))
    return math.ceil(n / ncols), ncols


def _new_figure(n_panels: int) -> tuple[Figure, list]:
    nrows, ncols = _grid(n_panels)
    fig = Figure(figsize=(3.7 * ncols, 3.3 * nrows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    logger.info("wrote figure %s", path)
    return path


def _ordered(values: pd.Series) -> list[str]:
    return [str(v) for v in dict.fromkeys(values.dropna().tolist())]


def _metrics_for(df: pd.DataFrame, mask: pd.Series, metrics: Sequence[str] | None) -> list[str]:
    present = _ordered(df.loc[mask, COLS.metric])
    return present if metrics is None else [m for m in metrics if m in present]


def _check(df: pd.DataFrame) -> None:
    needed = (COLS.experiment, COLS.dataset, COLS.method, COLS.budget, COLS.bin, COLS.metric, COLS.value)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InvalidDataError(
            f"results frame: missing column(s) {', '.join(missing)}; load results with read_results()."
        )


def _bin_means(df: pd.DataFrame, experiment: str, metric: str) -> pd.DataFrame:
    rows = df[(df[COLS.experiment] == experiment) & (df[COLS.metric] == metric) & df[COLS.bin].notna()]
    return rows.groupby([COLS.dataset, COLS.method, COLS.bin], sort=False, observed=True)[COLS.value].mean()


def plot_quantiles(
    df: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    *,
    experiment: str = "quantile",
    metrics: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Metric vs distance quantile: one PNG per metric, one panel per dataset, one line per method.

    Each legend entry carries the method's Spearman ρ between bin and metric (seeds averaged).
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
        means = _bin_means(df, experiment, metric)
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
            sub = means.xs(dataset, level=0)
            for method in _ordered(sub.index.get_level_values(0).to_series()):
                series = sub.xs(method, level=0).sort_index()
                r = rho_of.get((dataset, method), math.nan)
                ax.plot(
                    series.index.to_numpy(dtype=float),
                    series.to_numpy(dtype=float),
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
        title = "sub-quantiles of quantile 0" if experiment == "quantile_focus" else "distance quantile"
        fig.suptitle(f"{metric_label(metric)} vs {title}")
        written.append(_save(fig, out_dir / f"{experiment}_{metric}.png"))
    return written


def plot_budgets(
    df: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    *,
    metrics: Sequence[str] | None = None,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Metric vs budget (log x) with mean ± standard-error bands: one PNG per metric.

    One panel per dataset; the zero-shot value is a horizontal dashed line and ``Random`` is drawn
    thick in black. Files are named ``budget_{metric}.png``.

    Args:
        df: Tidy results.
        output_dir: Folder for the PNGs (created if needed).
        metrics: Metrics to plot; default every metric with budget rows.
        reference: Optional tidy frame whose means are drawn dashed and faded.

    Returns:
        The written paths (empty if ``df`` has no budget rows).

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> [p.name for p in plot_budgets(df, "out", metrics=["true_metric"])]  # doctest: +SKIP
        ['budget_true_metric.png']
    """
    _check(df)
    out_dir = Path(output_dir)
    mask = (df[COLS.experiment] == "budget") & df[COLS.budget].notna()
    colors = _method_colors(
        list(df[COLS.method].dropna()) + ([] if reference is None else list(reference[COLS.method].dropna()))
    )
    written: list[Path] = []
    for metric in _metrics_for(df, mask, metrics):
        table = budget_table(df, metric)
        ref_table = None
        if reference is not None:
            _check(reference)
            ref_table = budget_table(reference, metric)
        sweep = table[table[COLS.budget].notna()]
        datasets = _ordered(sweep[COLS.dataset])
        fig, axes = _new_figure(len(datasets))
        handles: dict[str, object] = {}
        for ax, dataset in zip(axes, datasets, strict=True):
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
                zline = ax.axhline(
                    float(zero["mean"].iloc[0]), color=colors[ZERO_SHOT_METHOD], linestyle="--", linewidth=1.2
                )
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
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles.keys()),
                loc="outside lower center",
                ncol=min(len(handles), 6),
                fontsize=8,
            )
        fig.suptitle(f"{metric_label(metric)} vs budget (mean ± s.e. over seeds)")
        written.append(_save(fig, out_dir / f"budget_{metric}.png"))
    return written


def make_figures(
    df: pd.DataFrame,
    output_dir: str | os.PathLike[str],
    *,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Every figure the frame supports: quantile, quantile-focus and budget plots per metric.

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
    return paths


def plot_diagnosis(diagnosis: Diagnosis, path: str | os.PathLike[str]) -> Path:
    """The figure of a :class:`~targetsel.diagnose.Diagnosis`: three panels — distances vs budget
    (the random baseline as a grey band), per-query coverage (largest budget), composition.

    Written atomically as PNG with the Agg backend (``Diagnosis.save`` calls it for ``diagnosis.png``).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from targetsel.diagnose import diagnose
        >>> d = diagnose(np.eye(2, 3), np.eye(3), budgets=[2, 3])
        >>> plot_diagnosis(d, pathlib.Path(tempfile.mkdtemp()) / "d.png").stat().st_size > 0
        True
    """
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    pts = diagnosis.points
    fig = Figure(figsize=(15, 4.8), constrained_layout=True)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    budgets = [p.budget for p in pts]
    for key, label in (
        ("w1", "W1 (subset, query)"),
        ("mmd", "MMD"),
        ("mean_nn_query", "mean NN cost: query → subset"),
        ("mean_nn_subset", "mean NN cost: subset → query"),
    ):
        ax1.plot(budgets, [getattr(p, key) for p in pts], marker="o", label=label)
    if all(p.random_mean is not None for p in pts):
        mean = np.array([p.random_mean for p in pts])
        std = np.array([p.random_std or 0.0 for p in pts])
        ax1.fill_between(
            budgets, mean - std, mean + std, color="grey", alpha=0.25, label="W1 of random subsets (±1 sd)"
        )
        ax1.plot(budgets, mean, color="grey", linestyle="--", linewidth=1)
    if len(budgets) > 1 and budgets[-1] / max(budgets[0], 1) >= 10:
        ax1.set_xscale("log")
    ax1.set_xlabel("budget")
    ax1.set_ylabel("distance (W1, NN: cost (1 − cos)/2; MMD: RBF kernel)")
    ax1.set_title("subset–query distance")
    ax1.legend(fontsize=7, loc="best", framealpha=0.6)
    last = pts[-1]
    cov = np.asarray(last.coverage)
    ax2.bar(np.arange(cov.size), cov, width=1.0)
    ax2.set_xlabel(f"query point (coverage from {diagnosis.coverage_from})")
    ax2.set_ylabel("picks")
    ax2.set_title(f"coverage at budget {last.budget}: {last.covered_fraction:.0%} of queries covered")
    if last.composition:
        items = list(last.composition.items())[:15]
        ax3.barh([k for k, _ in items][::-1], [v for _, v in items][::-1])
        ax3.set_xlabel("picks")
        ax3.set_title(f"composition by source (budget {last.budget})")
    else:
        ax3.text(0.5, 0.5, "pool has no `source` column", ha="center", va="center")
        ax3.set_axis_off()
    title = diagnosis.info.get("method") or ""
    if diagnosis.info.get("representation"):
        title = f"{title} — distances in {diagnosis.info['representation']}"
    fig.suptitle(title.strip(" —"))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    dest = Path(path)
    atomic_write_bytes(dest, buf.getvalue())
    return dest
