"""The tidy results table: its columns, reading (the paper's wide tables too) and writing.

Every experiment result in targetsel lives in one long ("tidy") CSV with one measurement per row:

========== =================================================================================
column     meaning
========== =================================================================================
experiment ``budget`` (budget sweep), ``quantile`` (distance-quantile experiment),
           ``quantile_focus`` (quantile 0 split again into sub-quantiles), ``mixture`` (budget
           sweep of one subset selected for several tasks together, one model, each row one
           task's measurement) or ``zero_shot``
dataset    target task (``gsm8k``, ``tydiqa``...)
method     ``REPR (ALGO)`` like the paper (``LESS (RR)``, ``RDS+ (RR)``), ``Random`` or ``Zero-shot``
budget     number of selected examples; set for budget rows, empty otherwise
bin        distance quantile (0 = closest to the query set); set for quantile rows, empty otherwise
seed       training/selection seed; may be empty
metric     ``dev_loss`` (query-set cross-entropy), ``test_loss``, ``true_metric`` (downstream
           score, higher is better), ``subset_distance`` (W1 subset-query distance),
           ``subset_share`` (mixture: the fraction of the subset picked for the row's task)...
value      the measurement (float)
========== =================================================================================

:func:`read_results` also reads the paper's own wide tables (the folders under
``shared/paper_results``) and converts them to the same tidy rows, so a user's runs and the
published numbers go through the same code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from targetsel.atomic import atomic_write_text
from targetsel.errors import InvalidDataError, MissingArtifactError

__all__ = [
    "COLS",
    "EXPERIMENTS",
    "RANDOM_METHOD",
    "REQUIRED_COLUMNS",
    "TIDY_COLUMNS",
    "ZERO_SHOT_METHOD",
    "TidyColumns",
    "TidyRow",
    "is_lower_better",
    "read_results",
    "write_results",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TidyColumns:
    """Column names of the tidy results table, in file order."""

    experiment: str = "experiment"
    dataset: str = "dataset"
    method: str = "method"
    budget: str = "budget"
    bin: str = "bin"
    seed: str = "seed"
    metric: str = "metric"
    value: str = "value"

    def as_tuple(self) -> tuple[str, ...]:
        """Return the column names in file order.

        Example:
            >>> TidyColumns().as_tuple()[:3]
            ('experiment', 'dataset', 'method')
        """
        return (
            self.experiment,
            self.dataset,
            self.method,
            self.budget,
            self.bin,
            self.seed,
            self.metric,
            self.value,
        )


class TidyRow(BaseModel):
    """One measurement of the tidy table as JSON holds it (an experiment cell's ``results.json``).

    Types are strict: ``budget``/``bin``/``seed`` integers or ``null``, ``value`` a number (``NaN``
    allowed: a metric that could not be computed). Unknown keys are refused (the columns are fixed).

    Example:
        >>> TidyRow.model_validate({"experiment": "budget", "dataset": "math", "method": "Random",
        ...     "budget": 20, "bin": None, "seed": 0, "metric": "dev_loss", "value": 1.5}).value
        1.5
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    experiment: str
    dataset: str
    method: str
    budget: int | None
    bin: int | None
    seed: int | None
    metric: str
    value: float


COLS = TidyColumns()
TIDY_COLUMNS: tuple[str, ...] = COLS.as_tuple()
REQUIRED_COLUMNS: tuple[str, ...] = (COLS.dataset, COLS.method, COLS.metric, COLS.value)
EXPERIMENTS: tuple[str, ...] = ("budget", "quantile", "quantile_focus", "mixture", "zero_shot")
#: The baseline rows' ``method`` (as in the paper's tables). Not selector labels: a baseline row has no
#: representation (no ``REPR (ALGO)``), and ``Random`` is the row's name in published results, where
#: the random selector's own ``label`` ("RANDOM") would name a selection method.
ZERO_SHOT_METHOD = "Zero-shot"
RANDOM_METHOD = "Random"

_INT_COLUMNS = (COLS.budget, COLS.bin, COLS.seed)
_STR_COLUMNS = (COLS.experiment, COLS.dataset, COLS.method, COLS.metric)
# Wide value columns of the paper's tables and the tidy metric each becomes.
_WIDE_METRICS = {"dev": "dev_loss", "test": "test_loss", "true_metric": "true_metric"}
_FOCUS_PREFIX = "sub_bin0_focus"


def is_lower_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (losses, distances) or a larger one.

    Args:
        metric: A metric name from the tidy table.

    Returns:
        True for losses and distances, False otherwise (downstream metrics such as accuracy).

    Example:
        >>> is_lower_better("dev_loss"), is_lower_better("true_metric")
        (True, False)
    """
    name = metric.lower()
    return any(key in name for key in ("loss", "distance", "perplexity", "error"))


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in TIDY_COLUMNS})
    return _coerce(frame, "<empty>")


def _coerce(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Give a tidy frame its canonical column order and dtypes, validating values."""
    frame = frame.copy()
    for col in _STR_COLUMNS:
        frame[col] = frame[col].astype("string").str.strip()
    for col in (COLS.dataset, COLS.method, COLS.metric, COLS.experiment):
        bad = frame[col].isna() | (frame[col] == "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InvalidDataError(f"{source}: empty '{col}' in data row {row + 1}; every row needs a {col}.")
    unknown = ~frame[COLS.experiment].isin(EXPERIMENTS)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InvalidDataError(
            f"{source}: 'experiment' must be one of {', '.join(EXPERIMENTS)} (or empty), "
            f"got {frame[COLS.experiment].iloc[row]!r} in data row {row + 1}."
        )
    for col in _INT_COLUMNS:
        numeric = pd.to_numeric(frame[col], errors="coerce")
        given = frame[col].notna() & (frame[col].astype("string").str.strip() != "")
        broken = given & (numeric.isna() | (numeric.notna() & (numeric % 1 != 0)))
        if broken.any():
            row = int(np.flatnonzero(broken.to_numpy())[0])
            raise InvalidDataError(
                f"{source}: '{col}' must be an integer or empty, got {frame[col].iloc[row]!r} in data row {row + 1}."
            )
        frame[col] = numeric.astype("Int64")
    value = pd.to_numeric(frame[COLS.value], errors="coerce")
    text = frame[COLS.value].astype("string").str.strip().str.lower()
    broken = value.isna() & frame[COLS.value].notna() & ~text.isin(["nan", ""])
    if broken.any():
        row = int(np.flatnonzero(broken.to_numpy())[0])
        raise InvalidDataError(
            f"{source}: 'value' must be a number, got {frame[COLS.value].iloc[row]!r} in data row {row + 1}."
        )
    frame[COLS.value] = value.astype("float64")
    extra = [c for c in frame.columns if c not in TIDY_COLUMNS]
    return frame[list(TIDY_COLUMNS) + extra].reset_index(drop=True)


def _infer_experiment(frame: pd.DataFrame) -> pd.Series:
    """Experiment tag for tidy rows written without one: bin → quantile, budget → budget."""
    has_bin = frame[COLS.bin].notna() & (frame[COLS.bin].astype("string").str.strip() != "")
    has_budget = frame[COLS.budget].notna() & (frame[COLS.budget].astype("string").str.strip() != "")
    return pd.Series(np.where(has_bin, "quantile", np.where(has_budget, "budget", "zero_shot")), index=frame.index)


def _from_tidy(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidDataError(
            f"{source}: missing column(s) {', '.join(missing)}; a tidy results CSV needs "
            f"{', '.join(TIDY_COLUMNS)} (budget, bin, seed and experiment may be empty)."
        )
    frame = raw.copy()
    for col in _INT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NA
    if COLS.experiment not in frame.columns:
        frame[COLS.experiment] = _infer_experiment(frame)
    else:
        blank = frame[COLS.experiment].isna() | (frame[COLS.experiment].astype("string").str.strip() == "")
        frame.loc[blank, COLS.experiment] = _infer_experiment(frame)[blank]
    return _coerce(frame, source)


def _from_paper(raw: pd.DataFrame, source: str, name: str) -> pd.DataFrame:
    """Convert one of the paper's wide tables (dev/test/true_metric columns) to tidy rows."""
    value_cols = [c for c in _WIDE_METRICS if c in raw.columns]
    if not value_cols:
        raise InvalidDataError(
            f"{source}: not a results table: missing column(s) metric, value (tidy format) and none of "
            f"{', '.join(_WIDE_METRICS)} (the paper's wide format) is present; columns are "
            f"{', '.join(map(str, raw.columns))}."
        )
    if COLS.bin in raw.columns:
        experiment = "quantile_focus" if name.startswith(_FOCUS_PREFIX) else "quantile"
        needed = [COLS.dataset, COLS.method]
    elif "num_samples" in raw.columns:
        experiment = "budget"
        needed = [COLS.dataset, COLS.method]
    else:
        experiment = "zero_shot"
        needed = [COLS.dataset]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise InvalidDataError(f"{source}: missing column(s) {', '.join(missing)} for a {experiment} table.")
    frame = raw.rename(columns={"num_samples": COLS.budget})
    if COLS.method not in frame.columns:
        frame[COLS.method] = ZERO_SHOT_METHOD
    for col in _INT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NA
    frame[COLS.experiment] = experiment
    id_cols = [COLS.experiment, COLS.dataset, COLS.method, COLS.budget, COLS.bin, COLS.seed]
    long = frame.melt(id_vars=id_cols, value_vars=value_cols, var_name=COLS.metric, value_name=COLS.value)
    long[COLS.metric] = long[COLS.metric].map(_WIDE_METRICS)
    return _coerce(long, source)


def _check_row_lengths(path: Path, n_columns: int) -> None:
    """Refuse a data row with fewer fields than the header (pandas would fill them in silently):
    a row cut short, as by an interrupted copy, must not read as a row with empty values."""
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        rows = (r for r in csv.reader(fh) if r)  # blank lines are skipped, as pandas does
        next(rows, None)
        for number, row in enumerate(rows, start=1):
            if len(row) < n_columns:
                raise InvalidDataError(
                    f"{path}: data row {number} has {len(row)} of the header's {n_columns} columns "
                    "(a row cut short?); repair the row or write the file again."
                )


def _read_one_file(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise InvalidDataError(f"{path}: the file is empty; expected a results CSV with a header.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidDataError(f"{path}: cannot parse as CSV ({exc}).") from exc
    except OSError as exc:
        raise InvalidDataError(f"{path}: cannot read the file ({exc}).") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    _check_row_lengths(path, len(raw.columns))
    if COLS.metric in raw.columns or COLS.value in raw.columns:
        frame = _from_tidy(raw, str(path))
    else:
        frame = _from_paper(raw, str(path), path.name)
    logger.debug("read %d tidy rows from %s", len(frame), path)
    return frame


def _expand(path: Path) -> list[Path]:
    if not path.exists():
        raise MissingArtifactError(f"{path}: no such results file or directory.")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.glob("*.csv") if p.is_file())
    if not files:
        hint = ""
        subdirs = sorted(p.name for p in path.iterdir() if p.is_dir())
        if subdirs:
            hint = f" Point at one of its sub-folders instead ({', '.join(subdirs[:5])})."
        raise MissingArtifactError(f"{path}: the directory holds no *.csv results files.{hint}")
    return files


def read_results(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Read results into one tidy frame.

    Each path may be a tidy CSV (columns :data:`TIDY_COLUMNS`; ``budget``, ``bin``, ``seed`` and
    ``experiment`` may be missing or empty — a missing experiment is inferred: rows with a bin are
    ``quantile``, rows with a budget ``budget``, the rest ``zero_shot``), one of the paper's wide
    tables (``binning_*``, ``budget_*``, ``*_zero_shot``, ``sub_bin0_focus_*``), or a directory
    whose ``*.csv`` files are any of those. The paper's ``dev``/``test`` columns become the
    metrics ``dev_loss``/``test_loss``, ``num_samples`` becomes ``budget`` and zero-shot rows get
    the method ``Zero-shot``.

    Args:
        paths: One path or a sequence of paths.

    Returns:
        A frame with columns :data:`TIDY_COLUMNS` (string columns as pandas ``string``,
        ``budget``/``bin``/``seed`` as nullable ``Int64``, ``value`` as float) plus any extra
        columns a tidy file carried.

    Raises:
        MissingArtifactError: A path does not exist or a directory holds no CSV.
        InvalidDataError: A file cannot be parsed or lacks the needed columns (the message names
            the file and the columns).

    Example:
        >>> df = read_results("../shared/paper_results/tulu_v2/llama2-7b")  # doctest: +SKIP
        >>> sorted(df["experiment"].unique())  # doctest: +SKIP
        ['budget', 'quantile', 'quantile_focus', 'zero_shot']
    """
    items: Iterable[str | os.PathLike[str]]
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in items:
        files.extend(_expand(Path(item)))
    if not files:
        raise MissingArtifactError("no results paths were given.")
    frames = [_read_one_file(f) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_frame()
    out = pd.concat(frames, ignore_index=True)
    # Re-apply dtypes: concatenation of frames with and without extra columns can widen them.
    return _coerce(out, ", ".join(map(str, files)))


def write_results(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a tidy results frame to CSV atomically (temporary file in the same folder + rename).

    Args:
        df: A tidy frame (as from :func:`read_results`); ``experiment``, ``budget``, ``bin`` and
            ``seed`` may be absent.
        path: Destination CSV; its parent folder is created if needed.

    Returns:
        The written path.

    Raises:
        InvalidDataError: ``df`` lacks a required column or holds invalid values.

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> rows = pd.DataFrame({"dataset": ["gsm8k"], "method": ["Random"], "budget": [500],
        ...                      "metric": ["dev_loss"], "value": [0.91]})
        >>> out = write_results(rows, pathlib.Path(tempfile.mkdtemp()) / "results.csv")
        >>> read_results(out)["experiment"].tolist()
        ['budget']
    """
    frame = _from_tidy(df, "results frame")
    dest = atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    logger.info("wrote %d result rows to %s", len(frame), dest)
    return dest


def _check_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidDataError(f"results frame: missing column(s) {', '.join(missing)}.")
