"""Export a selection: the chosen pool rows, in the form a trainer reads, plus ``selection.json``.

The file names of a selection folder are the constants below, the one place they are written
down: :data:`SELECTION_FILE`, :data:`SUBSET_FILES` (one per format) and the trainer files beside
them (:data:`LLAMAFACTORY_INFO_FILE`, :data:`AXOLOTL_DATASETS_FILE`). Readers find the subset
with :func:`find_subset` and read it with :func:`load_subset`, whatever the format.

Formats (what each trainer reads is in :mod:`targetsel.trainer_formats`):

* ``jsonl``: ``subset.jsonl``, every column, ``messages`` as OpenAI-style turns: TRL's
  ``SFTTrainer`` input (``load_dataset("json", data_files=...)``).
* ``parquet``: ``subset.parquet`` (free-form columns as JSON text, listed in ``selection.json``).
* ``hf``: ``subset/``, a ``datasets.Dataset.save_to_disk`` folder (``datasets.load_from_disk``);
  free-form columns as JSON text, as in Parquet.
* ``llamafactory``: ``subset.json`` (sharegpt formatting with ``role``/``content`` turns and the
  system prompt in a ``system`` column) and ``dataset_info.json`` registering it as
  :data:`LLAMAFACTORY_DATASET`, for ``dataset_dir: <folder>``.
* ``axolotl``: ``subset.jsonl`` and ``axolotl_datasets.yml``, a ``datasets:`` block with
  ``type: chat_template`` naming it.

Every format keeps every column of the pool rows (``id``, ``source``, a ``target``...) unchanged.

Example:
    >>> import numpy as np, tempfile, os
    >>> from targetsel.data import ExampleSet
    >>> from targetsel.select import select
    >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
    >>> ranking = select(np.array([[0.1, 0.9, 0.5]]), "round_robin", budget=2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = export(pool, ranking, d)
    ...     sorted(os.listdir(d))
    ['selection.json', 'subset.jsonl']
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from targetsel.atomic import atomic_dir, atomic_path, atomic_write_text
from targetsel.data import ExampleSet
from targetsel.decontaminate.result import DecontaminationRecord
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.params import FieldError
from targetsel.params.artifacts import check_artifact, check_nested
from targetsel.select.base import Ranking
from targetsel.select.dedup import DedupRecord
from targetsel.trainer_formats import (
    axolotl_dataset_entry,
    from_sharegpt_row,
    llamafactory_dataset_info,
    to_sharegpt_row,
)

logger = logging.getLogger(__name__)

__all__ = [
    "AXOLOTL_DATASETS_FILE",
    "EXPORT_FORMATS",
    "FILE_FORMATS",
    "LLAMAFACTORY_DATASET",
    "LLAMAFACTORY_INFO_FILE",
    "SELECTION_FILE",
    "SUBSET_FILES",
    "DataRecord",
    "Pick",
    "SelectionFile",
    "TargetRecord",
    "TargetsRecord",
    "check_exportable",
    "check_output_dir",
    "export",
    "find_subset",
    "load_subset",
    "selection_metadata",
]

#: Method, parameters, inputs and every pick (:class:`SelectionFile`).
SELECTION_FILE = "selection.json"
#: The picked rows, by export format (``hf``: a ``save_to_disk`` folder; the others: a file).
SUBSET_FILES: dict[str, str] = {
    "jsonl": "subset.jsonl",
    "parquet": "subset.parquet",
    "hf": "subset",
    "llamafactory": "subset.json",
    "axolotl": "subset.jsonl",
}
#: LLaMA-Factory's dataset registry, beside ``subset.json``: the folder is its ``dataset_dir``.
LLAMAFACTORY_INFO_FILE = "dataset_info.json"
#: The dataset name ``dataset_info.json`` registers (``dataset: targetsel_subset`` in its YAML).
LLAMAFACTORY_DATASET = "targetsel_subset"
#: axolotl's ``datasets:`` block naming ``subset.jsonl``, to paste into an axolotl config.
AXOLOTL_DATASETS_FILE = "axolotl_datasets.yml"
#: Every ``--format``.
EXPORT_FORMATS: tuple[str, ...] = tuple(SUBSET_FILES)
#: The formats that can also be written to a file path (``out/sub.jsonl``) instead of a folder.
FILE_FORMATS = ("jsonl", "parquet")
#: What each format writes beside its subset file.
_TRAINER_FILES: dict[str, tuple[str, ...]] = {
    "llamafactory": (LLAMAFACTORY_INFO_FILE,),
    "axolotl": (AXOLOTL_DATASETS_FILE,),
}

#: What to do about a ``selection.json`` that fails :class:`SelectionFile`.
SELECTION_FIX = "re-run `targetsel select` to write it again"

_Count = Annotated[int, Field(ge=0)]


class DataRecord(BaseModel):
    """The pool or query set a selection was made from, as ``selection.json`` records it.

    Unknown keys are tolerated and ignored (a newer targetsel may record more).
    """

    model_config = ConfigDict(strict=True, extra="allow")

    source: str
    rows: _Count
    fingerprint: str


class TargetRecord(DataRecord):
    """One target of a several-target selection: its query set, its share of the picks and its picks."""

    name: str
    share: float | None
    picks: _Count


class TargetsRecord(BaseModel):
    """``selection.json``'s ``targets`` block (several targets only): the mix and each target.

    Every pick then names its ``target``, and ``query_index`` is a query of that target's set.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    mix: str
    targets: list[TargetRecord]


class Pick(BaseModel):
    """One pick of ``selection.json``: its rank, pool row, id, the query that chose it and its score.

    Keys beyond these are the ranking's per-pick extras (``quantile``, ``quantile_rank``...), kept
    as written.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    rank: _Count
    index: _Count
    id: str
    query_index: _Count | None
    score: float | None


class _View(BaseModel):
    """The keys of one feature view's provenance that readers use (a store manifest, see
    :class:`targetsel.store.manifest.StoreManifest`); the others are kept as written."""

    model_config = ConfigDict(strict=True, extra="allow")

    representation: str | None = None
    model: str | None = None
    dim: int | None = None
    dtype: str | None = None
    params: dict[str, Any] | None = None


class _Provenance(BaseModel):
    """The keys of ``selection.json``'s ``representation`` that readers use; others kept as written."""

    model_config = ConfigDict(strict=True, extra="allow")

    queries: list[_View] | None = None
    candidates: list[_View] | None = None
    weights: list[float] | None = None
    similarity: str | None = None
    top_k: int | None = None


class SelectionFile(BaseModel):
    """``selection.json``: method, parameters, inputs and every pick; written by :func:`export`,
    read back through :func:`targetsel.diagnose.load_selection`.

    Types are strict (a score written as text, a pick that is a number, ``params`` that is not a
    mapping are errors). Unknown keys are tolerated and ignored, at the top level and in
    ``pool``/``queries`` (a newer targetsel may record more); in a pick they are the ranking's
    per-pick extras. ``json_text_columns`` may be absent (files of older versions).
    ``decontamination`` (:class:`~targetsel.decontaminate.DecontaminationRecord`) is present only
    when decontamination ran: a selection made with it off is written exactly as before it existed.
    ``dedup`` (:class:`~targetsel.select.dedup.DedupRecord`) likewise, only when near-duplicate
    control ran; its ``walked`` is ``budget + skipped``. ``targets`` (:class:`TargetsRecord`) only
    for a selection of several targets: every pick then names its ``target``, ``queries`` is ``null``.
    Pick indices are rows of the whole pool (removed rows included), so readers map picks to rows
    as they always did.
    The checks across fields: at least one pick, ``budget`` equal to the number of picks, every
    pick's ``index`` within the pool's recorded rows.

    Example:
        >>> meta = {"method": "random", "params": {}, "budget": 1, "representation": {},
        ...         "pool": {"source": "p.jsonl", "rows": 3, "fingerprint": "f"}, "queries": None,
        ...         "library_version": "0.1.0",
        ...         "picks": [{"rank": 0, "index": 2, "id": "r2", "query_index": None, "score": None}]}
        >>> SelectionFile.model_validate(meta).picks[0].id
        'r2'
    """

    model_config = ConfigDict(strict=True, extra="allow")

    method: str
    params: dict[str, Any]
    budget: int
    pool: DataRecord
    queries: DataRecord | None
    representation: dict[str, Any]
    json_text_columns: list[str] = Field(default_factory=list)
    library_version: str
    decontamination: DecontaminationRecord | None = None
    dedup: DedupRecord | None = None
    targets: TargetsRecord | None = None
    picks: list[Pick]

    @field_validator("picks")
    @classmethod
    def _some_picks(cls, picks: list[Pick]) -> list[Pick]:
        if not picks:
            raise ValueError("must hold at least one pick")
        return picks

    @field_validator("representation")
    @classmethod
    def _known_provenance(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_nested(_Provenance, value)

    @model_validator(mode="after")
    def _consistent(self) -> SelectionFile:
        if self.budget != len(self.picks):
            raise FieldError("budget", f"must equal the number of picks ({len(self.picks)}), got {self.budget}")
        d = self.decontamination
        if d is not None and (d.pool_rows != self.pool.rows or d.removed > d.pool_rows):
            raise FieldError(
                "decontamination", f"must count the pool's {self.pool.rows} rows and remove no more of them"
            )
        if self.dedup is not None and self.dedup.walked != self.budget + self.dedup.skipped:
            raise FieldError("dedup.walked", f"must equal budget + skipped ({self.budget + self.dedup.skipped})")
        for i, p in enumerate(self.picks):
            if p.index >= self.pool.rows:
                raise FieldError(f"picks[{i}].index", f"must be below the pool's {self.pool.rows} rows, got {p.index}")
        if self.targets is not None:
            self._check_targets(self.targets)
        return self

    def _check_targets(self, targets: TargetsRecord) -> None:
        rows = {t.name: t.rows for t in targets.targets}
        if len(rows) != len(targets.targets):
            raise FieldError("targets.targets", "must name each target once")
        if sum(t.picks for t in targets.targets) != self.budget:
            raise FieldError("targets.targets", f"picks must add up to the budget ({self.budget})")
        for i, p in enumerate(self.picks):
            name = getattr(p, "target", None)
            if name not in rows:
                raise FieldError(f"picks[{i}].target", f"must be one of the targets {', '.join(rows)}, got {name!r}")
            if p.query_index is not None and p.query_index >= rows[name]:
                raise FieldError(f"picks[{i}].query_index", f"must be below target {name!r}'s {rows[name]} queries")


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


def selection_metadata(
    pool: ExampleSet,
    ranking: Ranking,
    *,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
    decontamination: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
    targets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``selection.json`` content: method, parameters, inputs and every pick.

    ``decontamination`` (:meth:`targetsel.decontaminate.Contamination.block`) is recorded when
    given; without it the key is left out.

    Example:
        >>> import numpy as np
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": "q", "completion": "a"}])
        >>> selection_metadata(pool, select(np.ones((1, 1)), "random", budget=1))["budget"]
        1
    """
    from targetsel._version import __version__

    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 7)

    picks = [
        {
            "rank": r,
            "index": int(i),
            "id": pool.ids[int(i)],
            "query_index": int(q) if q >= 0 else None,
            "score": num(s),
        }
        for r, (i, q, s) in enumerate(zip(ranking.indices, ranking.query_index, ranking.scores, strict=True))
    ]
    for name, values in ranking.extra.items():
        for p, v in zip(picks, values.tolist(), strict=True):
            p[name] = v
    meta: dict[str, Any] = {
        "method": ranking.method,
        "params": ranking.params,
        "budget": len(ranking),
        "pool": {"source": pool.source, "rows": len(pool), "fingerprint": pool.fingerprint},
        "queries": None
        if queries is None
        else {"source": queries.source, "rows": len(queries), "fingerprint": queries.fingerprint},
        "representation": provenance or {},
        "json_text_columns": pool.json_columns,
        "library_version": __version__,
        "decontamination": decontamination,
        "dedup": dedup,
        "targets": targets,
        "picks": picks,
    }
    # through the model that reads it back: what is written is what a reader accepts
    checked = check_artifact(SelectionFile, meta, source="selection.json", fix="this is a bug in targetsel")
    out = checked.model_dump()
    if out["decontamination"] is None:
        del out["decontamination"]  # off: the file is what it was before decontamination existed
    if out["dedup"] is None:
        del out["dedup"]  # likewise for near-duplicate control
    if out["targets"] is None:
        del out["targets"]  # one target: as before several targets existed
    return out


def export(
    pool: ExampleSet,
    ranking: Ranking,
    output: str | os.PathLike[str],
    *,
    format: str | None = None,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
    decontamination: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
    targets: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write the selected rows (in ranking order, every original column) and their provenance.

    Args:
        pool: The pool the ranking indexes.
        ranking: The selection (slice it to the budget first: ``ranking[:B]``).
        output: A directory (writes ``SUBSET_FILES[format]``, the format's trainer files and
            ``selection.json`` in it; another format's subset and trainer files left there by an
            earlier export are removed, so the folder holds one selection) or a file path ending in
            ``.jsonl``/``.parquet`` (metadata goes to ``<stem>.selection.json``).
        format: One of :data:`EXPORT_FORMATS`; inferred from a file path, default ``jsonl``.
        queries: The query set, recorded by source and fingerprint.
        provenance: Representation/scoring provenance (``Scores.provenance``).
        decontamination: The ``decontamination`` block (``Contamination.block()``), when it ran.
        dedup: The ``dedup`` block (``DedupResult.block(budget)``), when near-duplicate control ran.
        targets: The ``targets`` block (:class:`TargetsRecord`), for a selection of several targets.

    Returns:
        ``(subset_path, selection_json_path)``. Every file is written atomically.

    Raises:
        ConfigurationError: an unknown format, a folder format given a file path, a mismatched ranking.
        InvalidDataError: a pick the format cannot hold (see :func:`check_exportable`); nothing is written.
    """
    if ranking.n_candidates != len(pool):
        raise ConfigurationError(
            f"the ranking is over {ranking.n_candidates} candidates but the pool has {len(pool)} rows"
        )
    out = Path(output)
    suffix = out.suffix.lower().lstrip(".")
    folder = suffix not in FILE_FORMATS
    if folder:
        fmt = _checked_format(format or "jsonl")
        data_path, meta_path = out / SUBSET_FILES[fmt], out / SELECTION_FILE
    else:
        fmt = _checked_format(format or suffix)
        if fmt not in FILE_FORMATS:
            raise ConfigurationError(f"the {fmt} format writes a folder: give an output folder, not the file {out}")
        data_path, meta_path = out, out.with_name(out.stem + ".selection.json")
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
    )
    meta = json.dumps(meta, indent=1) + "\n"
    _WRITERS[fmt](pool, [int(i) for i in ranking.indices], data_path)
    if folder:
        _remove_stale(out, fmt)
    atomic_write_text(meta_path, meta)
    logger.info("wrote %d rows to %s", len(ranking), data_path)
    return data_path, meta_path


def check_exportable(pool: ExampleSet, ranking: Ranking, format: str) -> None:
    """Fail before anything is written when ``format`` is unknown or cannot hold one of the picks.

    Only ``llamafactory`` refuses rows: see :func:`targetsel.trainer_formats.to_sharegpt_row`.

    Raises:
        ConfigurationError: an unknown format.
        InvalidDataError: names the first pick the format cannot hold, and the formats that can.

    Example:
        >>> import numpy as np
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"messages": [{"role": "user", "content": "a"},
        ...     {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}])
        >>> check_exportable(pool, select(np.ones((1, 1)), "random", budget=1), "jsonl")
        >>> check_exportable(pool, select(np.ones((1, 1)), "random", budget=1), "llamafactory")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        targetsel.errors.InvalidDataError: pick 0 (id ...) cannot be exported for LLaMA-Factory: ...
    """
    if _checked_format(format) == "llamafactory":
        _sharegpt_rows(pool, [int(i) for i in ranking.indices])


def find_subset(meta_path: str | os.PathLike[str]) -> Path:
    """The subset beside a ``selection.json`` (or a ``<stem>.selection.json``), whatever its format.

    Raises:
        MissingArtifactError: none of the subset names is there.

    Example:
        >>> find_subset("no-such-folder/selection.json")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        targetsel.errors.MissingArtifactError: ...
    """
    meta_path = Path(meta_path)
    if meta_path.name == SELECTION_FILE:
        candidates = [meta_path.with_name(n) for n in dict.fromkeys(SUBSET_FILES.values())]
    else:
        stem = meta_path.name.removesuffix(".selection.json").removesuffix(".json")
        candidates = [meta_path.with_name(f"{stem}.{f}") for f in FILE_FORMATS]
    for c in candidates:
        if c.is_file() or _is_saved_dataset(c):
            return c
    raise MissingArtifactError(
        f"{meta_path.parent}: no {' or '.join(c.name for c in candidates)} beside {meta_path.name}; "
        "the selection is incomplete, re-run `targetsel select`"
    )


def load_subset(path: str | os.PathLike[str]) -> ExampleSet:
    """The picked rows of a subset written in any format, with their canonical ``messages``.

    The LLaMA-Factory file's ``system`` column goes back into the conversation as its leading
    turn, so the rows (and their content ids) are the pool's again.

    Example:
        >>> import numpy as np, tempfile
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"messages": [{"role": "system", "content": "s"},
        ...     {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}])
        >>> d = tempfile.mkdtemp()
        >>> path, _ = export(pool, select(np.ones((1, 1)), "random", budget=1), d, format="llamafactory")
        >>> load_subset(path).ids == pool.ids
        True
    """
    from targetsel.data import load_examples
    from targetsel.data.example_set import build_example_set
    from targetsel.data.read import iter_json_lines

    p = Path(path)
    if p.name == SUBSET_FILES["llamafactory"] and p.is_file():
        rows = ((n, from_sharegpt_row(r) if isinstance(r, dict) else r) for n, r in iter_json_lines(p))
        return build_example_set(rows, source=str(p), skip_invalid=False)
    return load_examples(p)


# Over 400 lines with what follows: the folder's names, its writers and its readers are kept in one
# module until one selection-artifact class owns the layout (the names are its constants above).


def _checked_format(fmt: str) -> str:
    if fmt not in EXPORT_FORMATS:
        raise ConfigurationError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    return fmt


def _is_saved_dataset(path: Path) -> bool:
    """A ``datasets.Dataset.save_to_disk`` folder (it always holds ``state.json``)."""
    return path.is_dir() and (path / "state.json").is_file()


def _write_jsonl(pool: ExampleSet, indices: list[int], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in pool.rows(indices):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_parquet(pool: ExampleSet, indices: list[int], path: Path) -> None:
    # Parquet needs one type per column: free-form columns stay JSON text (listed in selection.json).
    with atomic_path(path) as tmp:
        pool.dataset.select(indices).to_parquet(str(tmp))


def _write_hf(pool: ExampleSet, indices: list[int], path: Path) -> None:
    # Arrow, like Parquet: free-form columns stay JSON text (listed in selection.json).
    with atomic_dir(path) as tmp:
        pool.dataset.select(indices).save_to_disk(str(tmp))


def _sharegpt_rows(pool: ExampleSet, indices: list[int]) -> list[dict[str, Any]]:
    rows = []
    for rank, (i, row) in enumerate(zip(indices, pool.rows(indices), strict=True)):
        try:
            rows.append(to_sharegpt_row(row))
        except ValueError as exc:
            others = ", ".join(f for f in EXPORT_FORMATS if f != "llamafactory")
            raise InvalidDataError(
                f"pick {rank} (id {pool.ids[i]!r}) cannot be exported for LLaMA-Factory: {exc}; "
                f"export this selection with another --format ({others})"
            ) from None
    return rows


def _write_llamafactory(pool: ExampleSet, indices: list[int], path: Path) -> None:
    rows = _sharegpt_rows(pool, indices)  # every row checked before anything is written
    info_path = path.with_name(LLAMAFACTORY_INFO_FILE)
    info = _read_dataset_info(info_path)
    info.update(llamafactory_dataset_info(LLAMAFACTORY_DATASET, path.name))
    # one row a line: a JSON array (the layout of LLaMA-Factory's data/README.md) that diffs like JSONL
    atomic_write_text(path, "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")
    atomic_write_text(info_path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")


def _read_dataset_info(path: Path) -> dict[str, Any]:
    """The entries of an existing ``dataset_info.json`` (a LLaMA-Factory data folder keeps its others)."""
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        info = None
    if not isinstance(info, dict):
        raise ConfigurationError(
            f"{path} is not a LLaMA-Factory dataset registry (a JSON object); move it or export to another folder"
        )
    return info


def _write_axolotl(pool: ExampleSet, indices: list[int], path: Path) -> None:
    import yaml

    _write_jsonl(pool, indices, path)
    # an absolute path: axolotl resolves a relative one against the folder it is started from
    block = yaml.safe_dump({"datasets": [axolotl_dataset_entry(str(path.resolve()))]}, sort_keys=False)
    head = "# axolotl: put this `datasets:` block in your config (type chat_template; see targetsel.trainer_formats)\n"
    atomic_write_text(path.with_name(AXOLOTL_DATASETS_FILE), head + block)


_WRITERS: dict[str, Callable[[ExampleSet, list[int], Path], None]] = {
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
    "hf": _write_hf,
    "llamafactory": _write_llamafactory,
    "axolotl": _write_axolotl,
}


def _remove_stale(folder: Path, fmt: str) -> None:
    """Remove the subset and trainer files another format left in ``folder`` (ours only)."""
    keep = {SUBSET_FILES[fmt], *_TRAINER_FILES.get(fmt, ())}
    for name in dict.fromkeys([*SUBSET_FILES.values(), *(n for ns in _TRAINER_FILES.values() for n in ns)]):
        p = folder / name
        if name in keep or not p.exists():
            continue
        if name == LLAMAFACTORY_INFO_FILE:
            _drop_dataset_info_entry(p)
        elif _is_saved_dataset(p):
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()
        else:
            continue
        logger.info("removed %s, left by an export in another format", p)


def _drop_dataset_info_entry(path: Path) -> None:
    try:
        info = _read_dataset_info(path)
    except ConfigurationError:
        return  # not ours
    if LLAMAFACTORY_DATASET not in info:
        return
    del info[LLAMAFACTORY_DATASET]
    if info:
        atomic_write_text(path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    else:
        path.unlink()
