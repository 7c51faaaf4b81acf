"""The tidy results table: reading, writing, Spearman and budget tables.

The table's columns, reading and writing live in :mod:`targetsel.report.tidy`; the tables computed
from it in :mod:`targetsel.report.tables`. This module keeps every name importable from one place.
"""

from __future__ import annotations

from targetsel.atomic import atomic_write_text
from targetsel.report.tables import DISTANCE_METRIC as DISTANCE_METRIC
from targetsel.report.tables import LOSS_METRICS as LOSS_METRICS
from targetsel.report.tables import PAPER_TASKS as PAPER_TASKS
from targetsel.report.tables import SHARE_METRIC as SHARE_METRIC
from targetsel.report.tables import (
    budget_table,
    distance_loss_table,
    reference_table,
    spearman_table,
    spearman_tables,
)
from targetsel.report.tidy import COLS as COLS
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

__all__ = [
    "EXPERIMENTS",
    "RANDOM_METHOD",
    "REQUIRED_COLUMNS",
    "TIDY_COLUMNS",
    "ZERO_SHOT_METHOD",
    "TidyColumns",
    "atomic_write_text",
    "budget_table",
    "distance_loss_table",
    "is_lower_better",
    "read_results",
    "reference_table",
    "spearman_table",
    "spearman_tables",
    "write_results",
]
