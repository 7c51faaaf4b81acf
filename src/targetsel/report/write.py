"""Everything a report folder holds, written in one place (``targetsel report`` and the harness)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from targetsel.atomic import atomic_write_text
from targetsel.report.figures import make_figures
from targetsel.report.summary import write_summary
from targetsel.report.tables import distance_loss_table, reference_table, spearman_tables

__all__ = ["write_report"]


def write_report(
    df: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    title: str = "targetsel report",
    reference: pd.DataFrame | None = None,
    reference_datasets: dict[str, str] | None = None,
) -> list[Path]:
    """Figures, ``summary.md``, ``spearman.csv`` and (with distance rows) ``distance_vs_loss.csv``.

    With a ``reference``, also ``spearman_vs_reference.csv`` (see
    :func:`targetsel.report.reference_table`) and its table in ``summary.md``.

    Args:
        df: Tidy results.
        folder: Output folder (created).
        title: Heading of ``summary.md``.
        reference: Results drawn dashed and faded in the figures (e.g. the paper's), and whose
            Spearman ρ are tabulated beside ours.
        reference_datasets: Our dataset name → the reference's, for that table (default: the
            demo tasks → the paper's).

    Returns:
        The written paths.

    Example:
        >>> from targetsel.report import read_results
        >>> paths = write_report(read_results("runs/exp/results.csv"), "report/")  # doctest: +SKIP
    """
    out = Path(folder)
    paths = make_figures(df, out, reference=reference)
    versus = None if reference is None else reference_table(df, reference, reference_datasets)
    paths.append(write_summary(df, out / "summary.md", title=title, versus=versus))
    paths.append(atomic_write_text(out / "spearman.csv", spearman_tables(df).to_csv(index=False, lineterminator="\n")))
    dist = distance_loss_table(df)
    if not dist.empty:
        paths.append(atomic_write_text(out / "distance_vs_loss.csv", dist.to_csv(index=False, lineterminator="\n")))
    if versus is not None:
        text = versus.to_csv(index=False, lineterminator="\n")
        paths.append(atomic_write_text(out / "spearman_vs_reference.csv", text))
    return paths
