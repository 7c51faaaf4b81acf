"""A markdown summary of a tidy results frame.

Sections: the Spearman ρ tables (rows dataset, columns method) for every quantile-type experiment
and metric, then per metric the best method at each (dataset, budget) next to the Random and
Zero-shot baselines, which are always shown (``n/a`` where the results lack them); the same for a
mixture run (several tasks trained together on one subset), with each subset's share per task.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from targetsel.atomic import atomic_write_text
from targetsel.report.tables import SHARE_METRIC, budget_table, distance_loss_table, spearman_tables
from targetsel.report.tidy import COLS, RANDOM_METHOD, ZERO_SHOT_METHOD, is_lower_better

__all__ = ["best_methods", "markdown_table", "render_summary", "rho_matrix", "write_summary"]

logger = logging.getLogger(__name__)

_METRIC_ORDER = ("dev_loss", "test_loss", "true_metric", "subset_distance")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render a GitHub-flavoured markdown table (no extra dependency).

    Args:
        header: Column titles.
        rows: Cells, converted with ``str``.

    Returns:
        The table as text, without a trailing newline.

    Example:
        >>> print(markdown_table(["a", "b"], [[1, 2]]))
        | a | b |
        | --- | --- |
        | 1 | 2 |
    """
    lines = ["| " + " | ".join(map(str, header)) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _fmt_rho(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.2f}"


def _fmt_mean(mean: float, sem: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return _fmt(mean) if math.isnan(sem) else f"{mean:.3f} ± {sem:.3f}"


def _metric_sort(metrics: Sequence[str]) -> list[str]:
    known = [m for m in _METRIC_ORDER if m in metrics]
    return known + sorted(m for m in metrics if m not in _METRIC_ORDER)


def rho_matrix(rho: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Pivot a Spearman table to rows = dataset, columns = method (ρ values).

    Args:
        rho: Output of :func:`targetsel.report.spearman_table` for one experiment and metric.
        methods: Column order; methods missing from it are appended in first-appearance order.

    Returns:
        The pivoted frame, datasets and methods in first-appearance order.

    Example:
        >>> t = pd.DataFrame({"dataset": ["gsm8k"], "method": ["LESS (RR)"], "rho": [0.94]})
        >>> float(rho_matrix(t).loc["gsm8k", "LESS (RR)"])
        0.94
    """
    datasets = list(dict.fromkeys(rho["dataset"]))
    present = list(dict.fromkeys(rho["method"]))
    order = [m for m in (methods or []) if m in present]
    methods = order + [m for m in present if m not in order]
    return rho.pivot(index="dataset", columns="method", values="rho").reindex(index=datasets, columns=methods)


def best_methods(df: pd.DataFrame, metric: str, experiment: str = "budget") -> pd.DataFrame:
    """Best method per (dataset, budget), with the Random and Zero-shot baselines beside it.

    Lower is better for losses and distances, higher otherwise (see
    :func:`targetsel.report.is_lower_better`). Random and Zero-shot are not candidates for "best".

    Args:
        df: Tidy results.
        metric: Metric to compare.
        experiment: ``budget``, or ``mixture`` (several tasks trained together).

    Returns:
        Columns ``dataset, budget, best_method, best_mean, best_sem, random_mean, random_sem,
        zero_shot`` (NaN where a baseline is missing).

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> best_methods(df, "dev_loss").columns[:3].tolist()  # doctest: +SKIP
        ['dataset', 'budget', 'best_method']
    """
    cols = [
        "dataset",
        "budget",
        "best_method",
        "best_mean",
        "best_sem",
        "random_mean",
        "random_sem",
        "zero_shot",
    ]
    table = budget_table(df, metric, experiment)
    sweep = table[table[COLS.budget].notna()]
    zero = table[table[COLS.method] == ZERO_SHOT_METHOD].set_index(COLS.dataset)["mean"]
    lower = is_lower_better(metric)
    records = []
    for (dataset, budget), group in sweep.groupby([COLS.dataset, COLS.budget], sort=False):
        cands = group[~group[COLS.method].isin([RANDOM_METHOD, ZERO_SHOT_METHOD])].dropna(subset=["mean"])
        rand = group[group[COLS.method] == RANDOM_METHOD]
        best: tuple[str | None, float, float]
        if cands.empty:
            best = (None, math.nan, math.nan)
        else:
            row = cands.loc[cands["mean"].idxmin() if lower else cands["mean"].idxmax()]
            best = (str(row[COLS.method]), float(row["mean"]), float(row["sem"]))
        records.append(
            (
                dataset,
                int(budget),
                *best,
                float(rand["mean"].iloc[0]) if len(rand) else math.nan,
                float(rand["sem"].iloc[0]) if len(rand) else math.nan,
                float(zero.get(dataset, math.nan)),
            )
        )
    return pd.DataFrame.from_records(records, columns=cols)


def render_summary(df: pd.DataFrame, *, title: str = "targetsel report", versus: pd.DataFrame | None = None) -> str:
    """Render the markdown summary of a tidy results frame.

    Args:
        df: Tidy results.
        title: Top-level heading.
        versus: Optional :func:`targetsel.report.reference_table` (our ρ beside a reference's).

    Returns:
        Markdown text.

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> "Spearman" in render_summary(df)  # doctest: +SKIP
        True
    """
    out = [f"# {title}", ""]
    out.append(
        f"{len(df)} result rows; datasets: {', '.join(dict.fromkeys(df[COLS.dataset].dropna())) or 'none'}; "
        f"methods: {', '.join(dict.fromkeys(df[COLS.method].dropna())) or 'none'}."
    )
    out.append("")
    out += _rho_section(df)
    if versus is not None and not versus.empty:
        out += _versus_section(versus)
    out += _distance_section(df)
    out += _budget_section(df)
    return "\n".join(out).rstrip() + "\n"


def _rho_section(df: pd.DataFrame) -> list[str]:
    """The Spearman ρ tables (bin vs metric), per experiment and metric."""
    out: list[str] = []
    rho = spearman_tables(df)
    method_order = sorted(dict.fromkeys(rho["method"])) if not rho.empty else []
    if not rho.empty:
        out += ["## Spearman ρ between distance quantile and metric", ""]
        out.append(
            "ρ > 0 for a loss (ρ < 0 for a downstream metric) means subsets farther from the query set "
            "train worse models, i.e. the representation's distance predicts the outcome. "
            "Seeds are averaged per bin first."
        )
        out.append("")
        for experiment in dict.fromkeys(rho["experiment"]):
            sub = rho[rho["experiment"] == experiment]
            for metric in _metric_sort(list(dict.fromkeys(sub["metric"]))):
                mat = rho_matrix(sub[sub["metric"] == metric], methods=method_order)
                out += [f"### {experiment}: {metric}", ""]
                rows = [[ds, *(_fmt_rho(float(v)) for v in mat.loc[ds])] for ds in mat.index]
                out += [markdown_table(["dataset", *mat.columns], rows), ""]
    return out


def _versus_section(versus: pd.DataFrame) -> list[str]:
    """Our ρ beside the reference's, per experiment and metric."""
    out: list[str] = []
    out += ["## Spearman ρ beside the reference", ""]
    out.append("Ours vs the reference's ρ between distance quantile and metric, on paired tasks.")
    out.append("")
    for (experiment, metric), sub in versus.groupby(["experiment", "metric"], sort=False):
        out += [f"### {experiment}: {metric}", ""]
        rows = [
            [r.dataset, r.reference_dataset, r.method, _fmt_rho(float(r.rho)), _fmt_rho(float(r.reference_rho))]
            for r in sub.itertuples(index=False)
        ]
        out += [markdown_table(["dataset", "reference dataset", "method", "ρ (ours)", "ρ (reference)"], rows), ""]
    return out


def _distance_section(df: pd.DataFrame) -> list[str]:
    """Distance vs loss over trained cells, per loss."""
    out: list[str] = []
    dl = distance_loss_table(df)
    if not dl.empty:
        out += ["## Does distance predict loss?", ""]
        out.append(
            "Spearman ρ between each trained subset's distance to the query set (W1 from `diagnose`, in "
            "the representation it was selected with) and its loss after training, across all cells "
            "of a method and task. ρ > 0: the closer subsets train better models (the paper finds this "
            "for LESS gradient features only). `n` = cells."
        )
        out.append("")
        for metric in dict.fromkeys(dl["metric"]):
            sub = dl[dl["metric"] == metric]
            text = [f"{_fmt_rho(float(r))} (n={int(n)})" for r, n in zip(sub["spearman"], sub["n_cells"], strict=True)]
            mat = sub.assign(text=text).pivot(index="dataset", columns="method", values="text")
            mat = mat.reindex(index=list(dict.fromkeys(sub["dataset"])), columns=list(dict.fromkeys(sub["method"])))
            rows = [[ds, *("" if pd.isna(v) else v for v in mat.loc[ds])] for ds in mat.index]
            out += [f"### subset distance vs {metric}", ""]
            out += [markdown_table(["dataset", *mat.columns], rows), ""]
    return out


_SWEEPS = {
    "budget": ("Best method per budget", ""),
    "mixture": (
        "Several tasks trained together: best method per budget",
        "One subset selected for every task's query set, one model trained on it, evaluated on each task. ",
    ),
}


def _budget_section(df: pd.DataFrame) -> list[str]:
    """The best method per budget, of the budget and of the mixture sweep (or, with neither, the zero-shot baseline)."""
    out: list[str] = []
    any_sweep = False
    for experiment, (heading, intro) in _SWEEPS.items():
        rows = (df[COLS.experiment] == experiment) & df[COLS.budget].notna() & (df[COLS.metric] != SHARE_METRIC)
        metrics = _metric_sort(list(dict.fromkeys(df.loc[rows, COLS.metric].dropna())))
        any_sweep = any_sweep or bool(metrics)
        if metrics:
            out += [f"## {heading}", ""]
            out.append(
                f"{intro}Mean ± standard error over seeds. Random and Zero-shot (the base model without "
                "fine-tuning) are always listed; `n/a` means the results do not include them."
            )
            out.append("")
        for metric in metrics:
            out += _best_table(df, metric, experiment)
        if experiment == "mixture":
            out += _share_section(df)
    zero_only = df[(df[COLS.experiment] == "zero_shot") | (df[COLS.method] == ZERO_SHOT_METHOD)]
    if not zero_only.empty and not any_sweep:
        out += ["## Zero-shot baseline", ""]
        means = zero_only.groupby([COLS.dataset, COLS.metric], sort=False)[COLS.value].mean()
        rows = [[d, m, _fmt(float(v))] for (d, m), v in means.items()]
        out += [markdown_table(["dataset", "metric", "Zero-shot"], rows), ""]
    return out


def _best_table(df: pd.DataFrame, metric: str, experiment: str) -> list[str]:
    """One metric's best-method table of a sweep."""
    best = best_methods(df, metric, experiment)
    direction = "lower" if is_lower_better(metric) else "higher"
    rows = [
        [
            r.dataset,
            f"{r.budget:,}",
            r.best_method or "n/a",
            _fmt_mean(r.best_mean, r.best_sem),
            _fmt_mean(r.random_mean, r.random_sem),
            _fmt(r.zero_shot),
        ]
        for r in best.itertuples(index=False)
    ]
    header = ["dataset", "budget", "best method", "best", "Random", "Zero-shot"]
    return [f"### {metric} ({direction} is better)", "", markdown_table(header, rows), ""]


def _share_section(df: pd.DataFrame) -> list[str]:
    """A mixture's composition: per method and budget, each task's share of the subset (mean over seeds)."""
    share = df[(df[COLS.experiment] == "mixture") & (df[COLS.metric] == SHARE_METRIC)]
    if share.empty:
        return []
    means = share.groupby([COLS.method, COLS.budget, COLS.dataset], sort=False)[COLS.value].mean()
    table = means.unstack(COLS.dataset)
    tasks = list(dict.fromkeys(share[COLS.dataset]))
    rows = [[m, f"{int(b):,}", *(_fmt(float(table.loc[(m, b), t]), 2) for t in tasks)] for m, b in table.index]
    header = ["method", "budget", *tasks]
    return ["### Share of each subset picked for each task", "", markdown_table(header, rows), ""]


def write_summary(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str = "targetsel report",
    versus: pd.DataFrame | None = None,
) -> Path:
    """Write :func:`render_summary` to ``path`` atomically.

    Args:
        df: Tidy results.
        path: Destination markdown file; its parent folder is created if needed.
        title: Top-level heading.
        versus: Optional reference comparison table (see :func:`render_summary`).

    Returns:
        The written path.

    Example:
        >>> from targetsel.report import read_results
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> write_summary(df, "out/summary.md").name  # doctest: +SKIP
        'summary.md'
    """
    dest = atomic_write_text(path, render_summary(df, title=title, versus=versus))
    logger.info("wrote summary %s", dest)
    return dest
