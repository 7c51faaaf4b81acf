"""The figure of one selection's diagnosis (``diagnosis.png``), drawn beside its ``diagnosis.json``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from targetsel.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from targetsel.diagnose import Diagnosis

__all__ = ["DIAGNOSIS_FIGURE", "plot_diagnosis", "save_diagnosis"]

#: The figure :func:`save_diagnosis` draws beside :data:`targetsel.diagnose.result.DIAGNOSIS_FILE`.
DIAGNOSIS_FIGURE = "diagnosis.png"


def save_diagnosis(diagnosis: Diagnosis, output: str | os.PathLike[str]) -> list[Path]:
    """What ``targetsel diagnose`` writes into the folder ``output``: the data
    (:meth:`Diagnosis.save <targetsel.diagnose.Diagnosis.save>`) and its figure, :data:`DIAGNOSIS_FIGURE`.

    Returns:
        The written paths, the data file first.

    Example:
        >>> import numpy as np, tempfile
        >>> from targetsel.diagnose import diagnose
        >>> from targetsel.store.viewset import ViewSet
        >>> d = diagnose(ViewSet.of(np.eye(2, 3)), ViewSet.of(np.eye(3)), budgets=[2, 3])
        >>> [p.name for p in save_diagnosis(d, tempfile.mkdtemp())]
        ['diagnosis.json', 'diagnosis.png']
    """
    data = diagnosis.save(output)
    return [data, plot_diagnosis(diagnosis, data.parent / DIAGNOSIS_FIGURE)]


def plot_diagnosis(diagnosis: Diagnosis, path: str | os.PathLike[str]) -> Path:
    """The figure of a :class:`~targetsel.diagnose.Diagnosis`: three panels — distances vs budget
    (the random baseline as a grey band), per-query coverage (largest budget), composition.

    Written atomically as PNG with the Agg backend (:func:`save_diagnosis` draws it beside the data).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from targetsel.diagnose import diagnose
        >>> from targetsel.store.viewset import ViewSet
        >>> d = diagnose(ViewSet.of(np.eye(2, 3)), ViewSet.of(np.eye(3)), budgets=[2, 3])
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
