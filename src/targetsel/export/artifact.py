"""A selection on disk, owned by one class: :class:`SelectionArtifact` writes it, finds it again and
checks what it reads; the names of its files are the constants of :mod:`targetsel.export.layout`.

Example:
    >>> import numpy as np, tempfile
    >>> from targetsel.select import select
    >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
    >>> out = SelectionArtifact(tempfile.mkdtemp())
    >>> written = out.write_budgets(pool, select(np.array([[0.1, 0.9, 0.5]]), budget=2), [1, 2])
    >>> sel = SelectionArtifact.open(out.path)
    >>> sel.budgets(), sel.read_selection().picks[0].index, sel.load_subset().ids == [pool.ids[1], pool.ids[2]]
    ([1, 2], 1, True)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_write_text
from targetsel.data import ExampleSet
from targetsel.decontaminate.result import Contamination
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.export.formats import (
    WRITERS,
    check_exportable,
    checked_format,
    is_saved_dataset,
    load_subset,
    remove_other_formats,
)
from targetsel.export.layout import (
    BUDGET_PREFIX,
    CONTAMINATION_FILE,
    DUPLICATES_FILE,
    EXPLORE_PAGE,
    FILE_FORMATS,
    REPORT_FILES,
    SELECTION_FILE,
    SUBSET_FILES,
    budget_dir,
    budget_of,
)
from targetsel.export.metadata import SELECTION_FIX, SelectionFile, selection_metadata
from targetsel.params.artifacts import read_artifact
from targetsel.select.base import Ranking
from targetsel.select.dedup import DedupResult
from targetsel.select.mixture import MixSettings, targets_record

logger = logging.getLogger(__name__)

__all__ = ["SelectionArtifact", "check_output_dir"]

_NOT_A_SELECTION = "pass the output folder of `targetsel select`"


class SelectionArtifact:
    """The files of one ``targetsel select`` output: written here, read back only through here.

    ``path`` is where the selection goes: a folder, or a subset file path ending in ``.jsonl`` or
    ``.parquet`` (the other files then go beside it as ``<stem>.<name>``). Constructing one touches
    nothing; :meth:`open` finds an existing selection and checks it.

    Args:
        path: The output folder or subset file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._selection: SelectionFile | None = None

    def __repr__(self) -> str:
        return f"SelectionArtifact({str(self.path)!r})"

    # -- where each file goes ---------------------------------------------------------------
    @property
    def is_file(self) -> bool:
        """Written to a subset file path rather than a folder."""
        return self.path.suffix.lower().lstrip(".") in FILE_FORMATS

    def file(self, name: str) -> Path:
        """The path of the selection's file ``name``: in the folder, or ``<stem>.<name>`` beside the subset file."""
        return self.path.with_name(f"{self.path.stem}.{name}") if self.is_file else self.path / name

    @property
    def selection_path(self) -> Path:
        return self.file(SELECTION_FILE)

    @property
    def contamination_path(self) -> Path:
        return self.file(CONTAMINATION_FILE)

    @property
    def duplicates_path(self) -> Path:
        return self.file(DUPLICATES_FILE)

    @property
    def page_path(self) -> Path:
        """Where the explorer page goes by default."""
        return self.path.with_name(f"{self.path.stem}.html") if self.is_file else self.path / EXPLORE_PAGE

    def subset_path(self, format: str) -> Path:
        """Where the subset in ``format`` goes."""
        return self.path if self.is_file else self.path / SUBSET_FILES[checked_format(format)]

    def budget(self, budget: int) -> SelectionArtifact:
        """Budget ``budget``'s selection, in its ``budget-<B>/`` folder.

        Raises:
            ConfigurationError: this selection is a subset file, which holds one budget.
        """
        if self.is_file:
            raise ConfigurationError(
                f"several budgets are written one folder each: give an output folder, not the file {self.path}"
            )
        return SelectionArtifact(self.path / budget_dir(budget))

    # -- writing ----------------------------------------------------------------------------
    def format_for(self, format: str | None = None) -> str:
        """The subset's format: ``format``, else the output file's (``sub.parquet``), else ``jsonl``.

        Raises:
            ConfigurationError: an unknown format, a folder format for a file path, or a file
                whose suffix names another format than ``format``.

        Example:
            >>> SelectionArtifact("sub.parquet").format_for(), SelectionArtifact("out").format_for()
            ('parquet', 'jsonl')
            >>> SelectionArtifact("sub.parquet").format_for("jsonl")
            Traceback (most recent call last):
            ...
            targetsel.errors.ConfigurationError: sub.parquet names a parquet file but the format is jsonl: ...
        """
        suffix = self.path.suffix.lower().lstrip(".") if self.is_file else None
        fmt = checked_format(format or suffix or "jsonl")
        if suffix is not None and fmt != suffix:
            if fmt not in FILE_FORMATS:
                raise ConfigurationError(
                    f"the {fmt} format writes a folder: give an output folder, not the file {self.path}"
                )
            raise ConfigurationError(
                f"{self.path} names a {suffix} file but the format is {fmt}: "
                f"leave out the format, or name a .{fmt} file"
            )
        return fmt

    def check_writable(self, budgets: Sequence[int] = (1,)) -> None:
        """Fail early, before any work, when ``budgets`` cannot be written here.

        Raises:
            ConfigurationError: see :func:`check_output_dir` and :meth:`budget`.
        """
        check_output_dir(self.path.parent if self.is_file else self.path)
        if len(budgets) > 1:
            self.budget(budgets[-1])

    def write(
        self,
        pool: ExampleSet,
        ranking: Ranking,
        *,
        format: str | None = None,
        queries: ExampleSet | None = None,
        provenance: dict[str, Any] | None = None,
        decontamination: dict[str, Any] | None = None,
        dedup: dict[str, Any] | None = None,
        targets: dict[str, Any] | None = None,
        distributed: dict[str, Any] | None = None,
    ) -> tuple[Path, Path]:
        """Write one selection: the subset, its trainer file, ``selection.json``. See :func:`targetsel.export.export`.

        Another format's subset and trainer files left in the folder by an earlier write are
        removed, so the folder holds one selection.
        """
        if ranking.n_candidates != len(pool):
            raise ConfigurationError(
                f"the ranking is over {ranking.n_candidates} candidates but the pool has {len(pool)} rows"
            )
        fmt = self.format_for(format)
        data_path, meta_path = self.subset_path(fmt), self.selection_path
        check_output_dir(data_path.parent)
        try:
            data_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot create output directory {data_path.parent}: {exc.strerror}") from exc
        meta = selection_metadata(
            pool,
            ranking,
            queries=queries,
            provenance=provenance,
            decontamination=decontamination,
            dedup=dedup,
            targets=targets,
            distributed=distributed,
        )
        text = json.dumps(meta, indent=1) + "\n"
        WRITERS[fmt](pool, [int(i) for i in ranking.indices], data_path)
        if not self.is_file:
            remove_other_formats(self.path, fmt)
        atomic_write_text(meta_path, text)
        self._selection = None
        logger.info("wrote %d rows to %s", len(ranking), data_path)
        return data_path, meta_path

    def write_budgets(
        self,
        pool: ExampleSet,
        ranking: Ranking,
        budgets: Sequence[int],
        *,
        format: str | None = None,
        queries: ExampleSet | None = None,
        provenance: dict[str, Any] | None = None,
        contamination: Contamination | None = None,
        dedup: DedupResult | None = None,
        mix: MixSettings | None = None,
        targets: Sequence[tuple[str, ExampleSet]] | None = None,
        distributed: dict[str, Any] | None = None,
    ) -> dict[int, tuple[Path, Path]]:
        """Every budget's selection (a prefix of ``ranking``) and, when they ran, the decontamination
        and near-duplicate reports; nothing is written when a pick cannot be exported.

        Args:
            pool: The pool the ranking indexes.
            ranking: At least ``max(budgets)`` picks.
            budgets: Ascending; one budget is written here, several one ``budget-<B>/`` folder each.
            format: One of :data:`targetsel.export.EXPORT_FORMATS`; ``None``: :meth:`format_for`.
            queries: The query set of a selection of one target.
            provenance: Representation/scoring provenance (``Scores.provenance``).
            contamination: What decontamination removed (written to :data:`CONTAMINATION_FILE`).
            dedup: What near-duplicate control skipped (written to :data:`DUPLICATES_FILE`).
            mix: With several ``targets``, how they shared the picks.
            targets: ``(name, query set)`` of each target of a selection of several; the ranking
                then has a ``target`` extra.
            distributed: Under torchrun, the world size and the pool rows each rank scored
                (:class:`~targetsel.export.metadata.DistributedRecord`).

        Returns:
            ``budget -> (subset path, selection.json path)``.
        """
        format = self.format_for(format)
        check_exportable(pool, ranking[: budgets[-1]], format)
        self.check_writable(budgets)
        single = len(budgets) == 1
        dedup_file = block = None
        if dedup is not None:
            dedup_file = self._write_report(self.duplicates_path, dedup.jsonl(pool.ids), single)
        if contamination is not None:
            block = contamination.block(self._write_report(self.contamination_path, contamination.jsonl(), single))
        out: dict[int, tuple[Path, Path]] = {}
        for b in budgets:
            extra: dict[str, Any] = {} if distributed is None else {"distributed": distributed}
            if dedup is not None:
                extra["dedup"] = dedup.block(b, dedup_file)
            if targets is not None:
                extra["targets"] = targets_record(mix or MixSettings(), targets, ranking.extra["target"], b)
            out[b] = (self if single else self.budget(b)).write(
                pool, ranking[:b], format=format, queries=queries, provenance=provenance, decontamination=block, **extra
            )
        return out

    def _write_report(self, path: Path, text: str, single: bool) -> str:
        """Write a report atomically; its name as the budgets' ``selection.json`` records it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
        return path.name if single else f"../{path.name}"

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SelectionArtifact:
        """The selection at ``path``, its ``selection.json`` read and checked.

        Args:
            path: A selection folder (one budget, or ``budget-<B>/`` folders), a ``selection.json``,
                a subset file or the ``<stem>.selection.json`` beside it.

        Raises:
            MissingArtifactError: nothing is at ``path``, or it is not a selection.
            InvalidDataError: its ``selection.json`` is cut short or not one targetsel writes.
        """
        p = Path(path)
        if not p.exists():
            raise MissingArtifactError(f"{p}: no such file or directory; {_NOT_A_SELECTION}")
        sidecar = f".{SELECTION_FILE}"
        if p.is_dir():
            art = cls(p)
            if not art.selection_path.is_file() and not art._budget_folders():
                raise MissingArtifactError(
                    f"{p}: not a selection folder (no {SELECTION_FILE}, no {BUDGET_PREFIX}<B>/{SELECTION_FILE}); "
                    + _NOT_A_SELECTION
                )
        elif p.name == SELECTION_FILE:
            art = cls(p.parent)
        elif p.name.endswith(sidecar):
            subsets = [p.with_name(p.name.removesuffix(sidecar) + f".{f}") for f in FILE_FORMATS]
            art = cls(next((s for s in subsets if s.exists()), subsets[0]))
        elif cls(p).is_file and cls(p).selection_path.is_file():
            art = cls(p)
        else:
            raise MissingArtifactError(
                f"{p}: not a selection (a folder, its {SELECTION_FILE}, or a subset file with its "
                f"<stem>{sidecar} beside it); {_NOT_A_SELECTION}"
            )
        art.read_selection()
        return art

    def _budget_folders(self) -> list[int]:
        if self.is_file or not self.path.is_dir():
            return []
        found = ((budget_of(p.name), p) for p in self.path.iterdir())
        return sorted(b for b, p in found if b is not None and (p / SELECTION_FILE).is_file())

    def largest(self) -> SelectionArtifact:
        """The selection holding every pick: this one, or the largest ``budget-<B>/`` folder's."""
        if self.is_file or self.selection_path.is_file():
            return self
        found = self._budget_folders()
        return self.budget(found[-1]) if found else self

    def budgets(self) -> list[int]:
        """The budgets written, ascending: one per ``budget-<B>/`` folder, or this selection's one."""
        top = self.largest()
        return self._budget_folders() if top is not self else [self.read_selection().budget]

    def read_selection(self) -> SelectionFile:
        """``selection.json`` of :meth:`largest`, validated (read once).

        Raises:
            MissingArtifactError: there is none.
            InvalidDataError: one line naming the file and the field that is wrong.
        """
        if self._selection is None:
            p = self.largest().selection_path
            if not p.is_file():
                raise MissingArtifactError(f"{p}: no {SELECTION_FILE}; {_NOT_A_SELECTION} (or its {SELECTION_FILE})")
            self._selection = read_artifact(p, SelectionFile, fix=SELECTION_FIX)
        return self._selection

    def find_subset(self) -> Path:
        """The subset of :meth:`largest`, whatever its format.

        Raises:
            MissingArtifactError: none of the subset names is there.
        """
        top = self.largest()
        meta = top.selection_path
        if top.is_file:  # the subset beside a <stem>.selection.json may be in either file format
            names = [f"{top.path.stem}.{f}" for f in FILE_FORMATS]
        else:
            names = list(dict.fromkeys(SUBSET_FILES.values()))
        for c in (meta.with_name(n) for n in names):
            if c.is_file() or is_saved_dataset(c):
                return c
        raise MissingArtifactError(
            f"{meta.parent}: no {' or '.join(names)} beside {meta.name}; "
            "the selection is incomplete, re-run `targetsel select`"
        )

    def load_subset(self) -> ExampleSet:
        """The picked rows of :meth:`largest` (see :func:`~targetsel.export.formats.load_subset`)."""
        return load_subset(self.find_subset())

    def report_path(self, step: str) -> Path | None:
        """The report the ``step`` block (``decontamination`` or ``dedup``) of ``selection.json`` names;
        ``None`` when that step did not run."""
        if step not in REPORT_FILES:
            raise ConfigurationError(f"step must be one of {', '.join(REPORT_FILES)}, got {step!r}")
        block = getattr(self.read_selection(), step)
        if block is None or block.file is None:
            return None
        path: Path = self.largest().selection_path.parent / block.file
        return path

    def read_report(self, step: str, limit: int | None = None) -> list[dict[str, Any]] | None:
        """The first ``limit`` records of :meth:`report_path` (``None``: when the step did not run or
        its file is not there).

        Raises:
            InvalidDataError: a line is not a JSON object.
        """
        path = self.report_path(step)
        if path is None or not path.is_file():
            return None
        rows: list[dict[str, Any]] = []
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if limit is not None and number > limit:
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    row = None
                if not isinstance(row, dict):
                    raise InvalidDataError(f"{path}: line {number} is not a record targetsel writes; {SELECTION_FIX}")
                rows.append(row)
        return rows


def check_output_dir(path: str | os.PathLike[str]) -> None:
    """Fail early, before any work, when ``path`` cannot become a writable directory.

    Raises:
        ConfigurationError: ``path`` or one of its ancestors is a file, or the nearest existing
            ancestor is not writable.
    """
    p = Path(path).absolute()
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigurationError(f"cannot write output to {p}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot write output to {p}: {probe} is not writable")
