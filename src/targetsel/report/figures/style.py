"""What every figure shares: metric labels, method colours, the panel grid, the atomic PNG save, the
frame checks."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from targetsel.atomic import atomic_path
from targetsel.errors import InvalidDataError
from targetsel.report.tidy import COLS, RANDOM_METHOD, ZERO_SHOT_METHOD, is_lower_better

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["metric_label"]

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


def _new_figure(n_panels: int) -> tuple[Figure, list[Axes]]:
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
