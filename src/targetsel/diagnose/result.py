"""The result of a diagnosis: one :class:`DiagnosisPoint` per budget, gathered in a :class:`Diagnosis`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from targetsel.errors import ConfigurationError
from targetsel.store import atomic_write_text

__all__ = ["Diagnosis", "DiagnosisPoint"]


@dataclass
class DiagnosisPoint:
    """Distances and coverage of one budget (prefix of the ranking).

    Attributes:
        budget: Number of picks.
        w1: 1-Wasserstein distance between subset and query set (cost ``(1 - S) / 2``).
        w1_solver: ``emd`` (exact) or ``sinkhorn``.
        mmd: Gaussian-kernel MMD (square root of the biased MMD² estimate).
        mean_nn_query: Mean over queries of the cost to the nearest pick.
        mean_nn_subset: Mean over picks of the cost to the nearest query.
        coverage: ``(n_queries,)`` picks per query point.
        covered_fraction: Share of query points with at least one pick.
        composition: Picks per pool ``source`` (empty when the pool has no ``source`` column).
        random_mean, random_std: ``w1`` of seeded random subsets of the same size (mean, std).
        random_percentile: Share (%) of those random subsets with ``w1`` at most the selection's.
        random_z: ``(w1 - random_mean) / random_std`` (negative: closer than chance).
    """

    budget: int
    w1: float
    w1_solver: str
    mmd: float
    mean_nn_query: float
    mean_nn_subset: float
    coverage: list[int]
    covered_fraction: float
    composition: dict[str, int] = field(default_factory=dict)
    random_mean: float | None = None
    random_std: float | None = None
    random_percentile: float | None = None
    random_z: float | None = None


@dataclass
class Diagnosis:
    """The diagnosis of a ranking across budgets.

    Attributes:
        points: One :class:`DiagnosisPoint` per budget, in increasing budget order.
        coverage_from: ``query_index`` (recorded by the algorithm) or ``nearest`` (each pick's
            nearest query point).
        n_queries: Size of the query set.
        info: Provenance (method, representation, settings).

    Example:
        >>> import numpy as np
        >>> from targetsel.diagnose import diagnose
        >>> d = diagnose(np.eye(2, 4), np.eye(4), budgets=[2])
        >>> d.to_dict()["points"][0]["coverage"]
        [1, 1]
    """

    points: list[DiagnosisPoint]
    coverage_from: str
    n_queries: int
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "n_queries": self.n_queries,
            "coverage_from": self.coverage_from,
            "info": self.info,
            "points": [asdict(p) for p in self.points],
        }

    def save(self, output: str | os.PathLike[str], *, figure: bool = True) -> list[Path]:
        """Write ``diagnosis.json`` (and ``diagnosis.png``) into the folder ``output``, atomically.

        Returns:
            The written paths.
        """
        out = Path(output)
        if out.exists() and not out.is_dir():
            raise ConfigurationError(f"{out} exists and is not a folder; choose another output")
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "diagnosis.json"]
        atomic_write_text(paths[0], json.dumps(self.to_dict(), indent=1) + "\n")
        if figure:
            # drawing lives with the other figures; called from here so ``save`` writes what it always did
            from targetsel.report.figures import plot_diagnosis

            paths.append(plot_diagnosis(self, out / "diagnosis.png"))
        return paths
