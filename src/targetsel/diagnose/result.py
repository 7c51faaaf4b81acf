"""The result of a diagnosis: one :class:`DiagnosisPoint` per budget, gathered in a :class:`Diagnosis`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from targetsel.atomic import atomic_write_text
from targetsel.errors import ConfigurationError
from targetsel.params.artifacts import check_artifact, check_nested, read_artifact

__all__ = ["DIAGNOSIS_FILE", "DIAGNOSIS_FIX", "Diagnosis", "DiagnosisFile", "DiagnosisPoint", "read_diagnosis"]

#: The file :meth:`Diagnosis.save` writes into its folder.
DIAGNOSIS_FILE = "diagnosis.json"
#: What to do about a ``diagnosis.json`` that fails :class:`DiagnosisFile`.
DIAGNOSIS_FIX = "run `targetsel diagnose` again to rewrite it"


class _PointRecord(BaseModel):
    """One budget of ``diagnosis.json`` (:class:`DiagnosisPoint`'s fields, JSON types checked)."""

    model_config = ConfigDict(strict=True, extra="allow")

    budget: Annotated[int, Field(ge=1)]
    w1: float
    w1_solver: str
    mmd: float
    mean_nn_query: float
    mean_nn_subset: float
    coverage: list[Annotated[int, Field(ge=0)]]
    covered_fraction: float
    composition: dict[str, int] = Field(default_factory=dict)
    random_mean: float | None = None
    random_std: float | None = None
    random_percentile: float | None = None
    random_z: float | None = None
    targets: dict[str, dict[str, Any]] | None = None


class _Settings(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    random_baseline: dict[str, Any] | None = None


class _Info(BaseModel):
    """The provenance keys readers use; declared in the order :func:`diagnose_selection` writes them."""

    model_config = ConfigDict(strict=True, extra="allow")

    method: str | None = None
    params: dict[str, Any] | None = None
    selection_representation: Any = None
    representation: str | None = None
    n_picks: Annotated[int, Field(ge=0)] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_nested(_Settings, value)


class DiagnosisFile(BaseModel):
    """``diagnosis.json``: what :meth:`Diagnosis.save` writes and :func:`read_diagnosis` reads back.

    Types are strict (a distance written as text, a point that is not a mapping are errors);
    ``random_*`` may be ``null``. Unknown keys are tolerated and ignored at every level (a newer
    targetsel may record more); ``info`` keys other than ``method``, ``params``,
    ``representation``, ``n_picks`` and ``settings`` are free-form provenance.

    Example:
        >>> DiagnosisFile.model_validate({"n_queries": 2, "coverage_from": "nearest", "points": []}).n_queries
        2
    """

    model_config = ConfigDict(strict=True, extra="allow")

    n_queries: Annotated[int, Field(ge=0)]
    coverage_from: str
    info: _Info = Field(default_factory=_Info)
    points: list[_PointRecord]


def read_diagnosis(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``diagnosis.json`` at ``path``, validated by :class:`DiagnosisFile`, as a plain dict.

    Raises:
        MissingArtifactError: no file at ``path``.
        InvalidDataError: the file is cut, not JSON, or a field is missing or of the wrong type.

    Example:
        >>> read_diagnosis("no-such/diagnosis.json")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.MissingArtifactError: ...
    """
    return read_artifact(path, DiagnosisFile, fix=DIAGNOSIS_FIX).model_dump(exclude_unset=True)


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
        targets: Several query sets (a selection of several targets, or named query sets given):
            per target, the distances of the whole prefix to its queries (``w1_all``, ``mmd_all``,
            ``mean_nn_query_all``) and, when the picks name their target, its picks in the prefix,
            their distances (``w1``, ``mmd``, ``mean_nn_query``) and ``composition`` by ``source``
            (:func:`targetsel.diagnose.targets.target_distances`); empty (and not written) for one.
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
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)


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
        >>> from targetsel.store.viewset import ViewSet
        >>> d = diagnose(ViewSet.of(np.eye(2, 4)), ViewSet.of(np.eye(4)), budgets=[2])
        >>> d.to_dict()["points"][0]["coverage"]
        [1, 1]
    """

    points: list[DiagnosisPoint]
    coverage_from: str
    n_queries: int
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: :class:`DiagnosisFile`'s dump (what a reader accepts)."""
        data = {
            "n_queries": self.n_queries,
            "coverage_from": self.coverage_from,
            "info": self.info,
            # one target: no ``targets`` key in its points
            "points": [{k: v for k, v in asdict(p).items() if k != "targets" or v} for p in self.points],
        }
        checked = check_artifact(DiagnosisFile, data, source="diagnosis", fix="this is a bug in targetsel")
        return checked.model_dump(exclude_unset=True)

    def save(self, output: str | os.PathLike[str]) -> Path:
        """Write :data:`DIAGNOSIS_FILE` (the data, :meth:`to_dict`) into the folder ``output``, atomically.

        The figure is the report's: :func:`targetsel.report.figures.save_diagnosis_figure` draws it
        beside the file.

        Returns:
            The written path.

        Example:
            >>> import numpy as np, tempfile
            >>> from targetsel.diagnose import diagnose
            >>> from targetsel.store.viewset import ViewSet
            >>> d = diagnose(ViewSet.of(np.eye(2, 4)), ViewSet.of(np.eye(4)), budgets=[2])
            >>> d.save(tempfile.mkdtemp()).name
            'diagnosis.json'
        """
        out = Path(output)
        if out.exists() and not out.is_dir():
            raise ConfigurationError(f"{out} exists and is not a folder; choose another output")
        out.mkdir(parents=True, exist_ok=True)
        path = out / DIAGNOSIS_FILE
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path
