"""Tables from tidy results: Spearman ρ of distance quantile against a metric, ρ beside a reference's,
distance against loss over trained cells, and the budget sweep's mean ± standard error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from targetsel.report.tidy import COLS, ZERO_SHOT_METHOD, _check_columns

__all__ = [
    "DISTANCE_METRIC",
    "LOSS_METRICS",
    "PAPER_TASKS",
    "SHARE_METRIC",
    "budget_table",
    "distance_loss_table",
    "reference_table",
    "spearman_table",
    "spearman_tables",
]


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy.stats import spearmanr

    if len(x) < 2 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return math.nan, math.nan
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def spearman_table(df: pd.DataFrame, metric: str = "dev_loss", experiment: str = "quantile") -> pd.DataFrame:
    """Spearman ρ between distance quantile (``bin``) and a metric, per (dataset, method).

    Values are first averaged over seeds (and any other repeats) per bin. A positive ρ for a loss
    means: the farther the subset from the query set, the higher the loss after training, i.e.
    the representation's distance predicts the outcome.

    On the paper's Tulu v2 / Llama 2 7B tables, ``metric="dev_loss"`` (the query-set loss, the
    ``dev`` column) reproduces the paper's claim: LESS (RR) ρ = +0.92 (bbh), +0.99 (codex), +0.94
    (gsm8k), +0.95 (mmlu_pro), +1.00 (tydiqa); RDS+ (RR) and EMBED (RR) range from −0.66 to +0.68.
    ``test_loss`` does not (LESS gives −0.83 on bbh and −0.94 on gsm8k).

    Args:
        df: Tidy results (see :func:`read_results`).
        metric: Metric to correlate with the bin.
        experiment: ``quantile`` or ``quantile_focus``.

    Returns:
        Columns ``experiment, metric, dataset, method, rho, p_value, n_bins``; ρ and p are NaN
        when fewer than two distinct bins or a constant metric make it undefined. Empty if the
        frame has no such rows.

    Example:
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> t = spearman_table(df, "dev_loss")  # doctest: +SKIP
        >>> round(t.query("dataset == 'tydiqa' and method == 'LESS (RR)'").rho.item(), 2)  # doctest: +SKIP
        1.0
    """
    _check_columns(df, (COLS.experiment, COLS.dataset, COLS.method, COLS.bin, COLS.metric, COLS.value))
    out_cols = ["experiment", "metric", "dataset", "method", "rho", "p_value", "n_bins"]
    rows = df[(df[COLS.experiment] == experiment) & (df[COLS.metric] == metric) & df[COLS.bin].notna()]
    if rows.empty:
        return pd.DataFrame(columns=out_cols)
    means = rows.groupby([COLS.dataset, COLS.method, COLS.bin], sort=False, observed=True)[COLS.value].mean()
    records = []
    for (dataset, method), series in means.groupby(level=[0, 1], sort=False):
        bins = series.index.get_level_values(2).to_numpy(dtype=float)
        rho, p = _spearman(bins, series.to_numpy(dtype=float))
        records.append((experiment, metric, dataset, method, rho, p, int(bins.size)))
    return pd.DataFrame.from_records(records, columns=out_cols)


def spearman_tables(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`spearman_table` for every (quantile-type experiment, metric) present in ``df``.

    Args:
        df: Tidy results.

    Returns:
        The concatenated tables (same columns as :func:`spearman_table`).

    Example:
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> sorted(spearman_tables(df).metric.unique())  # doctest: +SKIP
        ['dev_loss', 'test_loss', 'true_metric']
    """
    _check_columns(df, (COLS.experiment, COLS.bin, COLS.metric))
    rows = df[df[COLS.bin].notna()]
    pairs = rows[[COLS.experiment, COLS.metric]].drop_duplicates()
    tables = [spearman_table(df, metric=m, experiment=e) for e, m in pairs.itertuples(index=False)]
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=["experiment", "metric", "dataset", "method", "rho", "p_value", "n_bins"])
    return pd.concat(tables, ignore_index=True)


#: How a user's demo tasks correspond to the paper's target tasks (for :func:`reference_table`).
PAPER_TASKS = {"math": "gsm8k", "dates": "bbh", "humaneval": "codex"}


def reference_table(df: pd.DataFrame, reference: pd.DataFrame, datasets: dict[str, str] | None = None) -> pd.DataFrame:
    """Our Spearman ρ (bin vs metric) beside a reference's (e.g. the paper's), per task and method.

    Rows are paired on ``(experiment, metric, method)`` and on the dataset, where ``datasets``
    maps our dataset names to the reference's (``{"math": "gsm8k"}``); a dataset not in the map is
    paired with the reference dataset of the same name. By default the demo tasks are paired with
    the paper's (:data:`PAPER_TASKS`: math → gsm8k, dates → bbh, humaneval → codex). Pairs missing
    on either side are dropped.

    Args:
        df: Our tidy results.
        reference: The reference's tidy results.
        datasets: Our dataset name → the reference's (default :data:`PAPER_TASKS`).

    Returns:
        Columns ``experiment, metric, dataset, reference_dataset, method, rho, reference_rho,
        n_bins, reference_n_bins``, in our row order.

    Example:
        >>> import pandas as pd
        >>> def rows(ds, losses):
        ...     return pd.DataFrame([("quantile", ds, "LESS (RR)", None, b, 0, "dev_loss", v)
        ...         for b, v in enumerate(losses)], columns=["experiment", "dataset", "method", "budget",
        ...         "bin", "seed", "metric", "value"])
        >>> t = reference_table(rows("math", [1.0, 0.9, 1.2]), rows("gsm8k", [0.5, 0.6, 0.7]), {"math": "gsm8k"})
        >>> t[["dataset", "reference_dataset", "rho", "reference_rho"]].values.tolist()
        [['math', 'gsm8k', 0.5, 1.0]]
    """
    cols = ["experiment", "metric", "dataset", "reference_dataset", "method", "rho", "reference_rho", "n_bins",
            "reference_n_bins"]  # fmt: skip
    ours, theirs = spearman_tables(df), spearman_tables(reference)
    if ours.empty or theirs.empty:
        return pd.DataFrame(columns=cols)
    mapping = dict(PAPER_TASKS if datasets is None else datasets)
    ours = ours.assign(reference_dataset=[mapping.get(d, d) for d in ours["dataset"]])
    theirs = theirs.rename(
        columns={"dataset": "reference_dataset", "rho": "reference_rho", "n_bins": "reference_n_bins"}
    ).drop(columns="p_value")
    both = ours.merge(theirs, on=["experiment", "metric", "reference_dataset", "method"], how="inner", sort=False)
    return both[cols].reset_index(drop=True)


#: The distance ``diagnose`` records per trained cell (W1 between subset and query set).
DISTANCE_METRIC = "subset_distance"
#: Losses correlated with it, when present.
LOSS_METRICS = ("dev_loss", "test_loss")
#: A mixture cell's composition: the fraction of its subset picked for the row's task (not a score).
SHARE_METRIC = "subset_share"


def distance_loss_table(df: pd.DataFrame, distance: str = DISTANCE_METRIC) -> pd.DataFrame:
    """Does distance predict loss? Spearman ρ between subset–query distance and loss, over cells.

    A cell is one trained subset: a row key ``(experiment, dataset, method, budget, bin, seed)``
    holding both a ``distance`` row (W1 from ``diagnose``, in the representation the cell's method
    selected with) and a loss row. Per ``(dataset, method)`` and loss, ρ is taken across all its
    cells, whatever grid they come from (quantile bins, budgets, seeds): the paper's claim is that
    for gradient (LESS) features ρ > 0 (farther subsets train worse), and not for the others.

    Args:
        df: Tidy results with ``subset_distance`` and ``dev_loss`` (or ``test_loss``) rows.
        distance: The distance metric's name.

    Returns:
        Columns ``dataset, method, metric, spearman, p_value, n_cells`` (``metric``: the loss);
        ρ and p are NaN with fewer than 3 cells or a constant column. Empty when no cell has both.

    Example:
        >>> import pandas as pd
        >>> rows = [("q", "d", "LESS (RR)", None, b, 0, m, v) for b, (dist, loss) in enumerate([(.1, 1.), (.2, 1.5),
        ...         (.3, 1.7)]) for m, v in (("subset_distance", dist), ("dev_loss", loss))]
        >>> df = pd.DataFrame(rows, columns=["experiment", "dataset", "method", "budget", "bin", "seed", "metric",
        ...                   "value"])
        >>> distance_loss_table(df)[["method", "metric", "spearman", "n_cells"]].values.tolist()
        [['LESS (RR)', 'dev_loss', 1.0, 3]]
    """
    _check_columns(df, (COLS.dataset, COLS.method, COLS.metric, COLS.value))
    out_cols = ["dataset", "method", "metric", "spearman", "p_value", "n_cells"]
    keys = [c for c in (COLS.experiment, COLS.dataset, COLS.method, COLS.budget, COLS.bin, COLS.seed) if c in df]
    wanted = df[df[COLS.metric].isin([distance, *LOSS_METRICS])]
    if wanted.empty or not (wanted[COLS.metric] == distance).any():
        return pd.DataFrame(columns=out_cols)
    # (empty budget or bin keys are part of a cell's identity: keep them as keys)
    wide = wanted.groupby([*keys, COLS.metric], dropna=False, sort=False)[COLS.value].mean().unstack(COLS.metric)
    wide = wide.reset_index()
    records = []
    for loss in (m for m in LOSS_METRICS if m in wide.columns):
        both = wide.dropna(subset=[distance, loss])
        for (dataset, method), grp in both.groupby([COLS.dataset, COLS.method], sort=False):
            if len(grp) >= 3:
                rho, p = _spearman(grp[distance].to_numpy(float), grp[loss].to_numpy(float))
            else:
                rho, p = float("nan"), float("nan")
            records.append((dataset, method, loss, rho, p, len(grp)))
    return pd.DataFrame.from_records(records, columns=out_cols)


def budget_table(df: pd.DataFrame, metric: str = "dev_loss", experiment: str = "budget") -> pd.DataFrame:
    """Mean ± standard error over seeds per (dataset, method, budget), plus zero-shot rows.

    Args:
        df: Tidy results.
        metric: Metric to summarise.
        experiment: The sweep's rows: ``budget``, or ``mixture`` (several tasks trained together).

    Returns:
        Columns ``dataset, method, budget, mean, sem, n_seeds``. Budget-sweep rows come first;
        then one row per dataset with ``method == "Zero-shot"`` and an empty budget (the base
        model without fine-tuning) where the frame has it. ``sem`` is the sample standard
        deviation / √n (NaN with a single seed).

    Example:
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> budget_table(df, "true_metric").query("method == 'Zero-shot'").shape[0]  # doctest: +SKIP
        5
    """
    _check_columns(df, (COLS.experiment, COLS.dataset, COLS.method, COLS.budget, COLS.metric, COLS.value))
    out_cols = ["dataset", "method", "budget", "mean", "sem", "n_seeds"]
    sel = df[df[COLS.metric] == metric]
    sweep = sel[(sel[COLS.experiment] == experiment) & sel[COLS.budget].notna()]
    zero = sel[(sel[COLS.experiment] == "zero_shot") | (sel[COLS.method] == ZERO_SHOT_METHOD)]
    zero = zero[zero[COLS.budget].isna()]
    parts = []
    if not sweep.empty:
        g = sweep.groupby([COLS.dataset, COLS.method, COLS.budget], sort=False, observed=True)[COLS.value]
        stats = g.agg(["mean", "std", "count"]).reset_index()
        parts.append(stats)
    if not zero.empty:
        g = zero.groupby([COLS.dataset], sort=False, observed=True)[COLS.value]
        stats = g.agg(["mean", "std", "count"]).reset_index()
        stats[COLS.method] = ZERO_SHOT_METHOD
        stats[COLS.budget] = pd.NA
        parts.append(stats)
    if not parts:
        return pd.DataFrame(columns=out_cols)
    out = pd.concat(parts, ignore_index=True)
    out["sem"] = out["std"] / np.sqrt(out["count"].astype(float))
    out = out.rename(columns={"count": "n_seeds"})
    out[COLS.budget] = out[COLS.budget].astype("Int64")
    out["n_seeds"] = out["n_seeds"].astype(int)
    return out[out_cols].reset_index(drop=True)
