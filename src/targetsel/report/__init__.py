"""Results and reporting: the tidy results table, Spearman/budget tables, figures and summary.

Example:
    >>> from targetsel.report import read_results, spearman_table
    >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
    >>> spearman_table(df, "dev_loss").shape  # doctest: +SKIP
    (15, 7)
"""

from __future__ import annotations

from targetsel.report.figures import make_figures, metric_label, plot_budgets, plot_quantiles
from targetsel.report.summary import best_methods, markdown_table, render_summary, rho_matrix, write_summary
from targetsel.report.tables import budget_table, distance_loss_table, reference_table, spearman_table, spearman_tables
from targetsel.report.tidy import (
    EXPERIMENTS,
    RANDOM_METHOD,
    REQUIRED_COLUMNS,
    TIDY_COLUMNS,
    ZERO_SHOT_METHOD,
    TidyColumns,
    is_lower_better,
    read_results,
    write_results,
)
from targetsel.report.write import write_report

__all__ = [
    "EXPERIMENTS",
    "RANDOM_METHOD",
    "REQUIRED_COLUMNS",
    "TIDY_COLUMNS",
    "ZERO_SHOT_METHOD",
    "TidyColumns",
    "best_methods",
    "budget_table",
    "distance_loss_table",
    "is_lower_better",
    "make_figures",
    "markdown_table",
    "metric_label",
    "plot_budgets",
    "plot_quantiles",
    "read_results",
    "reference_table",
    "render_summary",
    "rho_matrix",
    "spearman_table",
    "spearman_tables",
    "write_report",
    "write_results",
    "write_summary",
]
