"""The subset in each export format: one writer per ``--format``, and the LLaMA-Factory reader.

What each trainer reads is in :mod:`targetsel.trainer_formats`; the file names are those of
:mod:`targetsel.export.layout`, and :class:`targetsel.export.SelectionArtifact` decides where the
subset goes (a trainer format's file goes beside it).

* ``jsonl``: every column, ``messages`` as OpenAI-style turns: TRL's ``SFTTrainer`` input
  (``load_dataset("json", data_files=...)``).
* ``parquet``: free-form columns as JSON text (listed in ``selection.json``).
* ``hf``: a ``datasets.Dataset.save_to_disk`` folder (``datasets.load_from_disk``); free-form
  columns as JSON text, as in Parquet.
* ``llamafactory``: sharegpt formatting with ``role``/``content`` turns and the system prompt in a
  ``system`` column, plus LLaMA-Factory's dataset registry registering it as
  :data:`LLAMAFACTORY_DATASET`, for ``dataset_dir: <folder>``.
* ``axolotl``: JSONL plus a ``datasets:`` block with ``type: chat_template`` naming it.

Every format keeps every column of the pool rows (``id``, ``source``, a ``target``...) unchanged.

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

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_dir, atomic_path, atomic_write_text
from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.export.layout import AXOLOTL_DATASETS_FILE, LLAMAFACTORY_INFO_FILE, SUBSET_FILES, TRAINER_FILES
from targetsel.select.base import Ranking
from targetsel.trainer_formats import (
    axolotl_dataset_entry,
    from_sharegpt_row,
    llamafactory_dataset_info,
    to_sharegpt_row,
)

logger = logging.getLogger(__name__)

__all__ = [
    "EXPORT_FORMATS",
    "LLAMAFACTORY_DATASET",
    "WRITERS",
    "check_exportable",
    "checked_format",
    "is_saved_dataset",
    "load_subset",
    "remove_other_formats",
]

#: The dataset name LLaMA-Factory's registry gets (``dataset: targetsel_subset`` in its YAML).
LLAMAFACTORY_DATASET = "targetsel_subset"

#: ``writer(pool, pool rows in ranking order, subset path)``.
Writer = Callable[[ExampleSet, list[int], Path], None]


def checked_format(fmt: str) -> str:
    """``fmt`` when it is one of :data:`EXPORT_FORMATS`.

    Raises:
        ConfigurationError: an unknown format.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigurationError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    return fmt


def check_exportable(pool: ExampleSet, ranking: Ranking, format: str) -> None:
    """Fail before anything is written when ``format`` is unknown or cannot hold one of the picks.

    Only ``llamafactory`` refuses rows: see :func:`targetsel.trainer_formats.to_sharegpt_row`.

    Raises:
        ConfigurationError: an unknown format.
        InvalidDataError: names the first pick the format cannot hold, and the formats that can.
    """
    if checked_format(format) == "llamafactory":
        _sharegpt_rows(pool, [int(i) for i in ranking.indices])


def is_saved_dataset(path: Path) -> bool:
    """A ``datasets.Dataset.save_to_disk`` folder (it always holds ``state.json``)."""
    return path.is_dir() and (path / "state.json").is_file()


def _read_sharegpt(path: Path) -> ExampleSet:
    """A LLaMA-Factory subset's rows, the ``system`` column back in the conversation as its leading
    turn, so the rows (and their content ids) are the pool's again."""
    from targetsel.data.example_set import build_example_set
    from targetsel.data.read import iter_json_lines

    rows = ((n, from_sharegpt_row(r) if isinstance(r, dict) else r) for n, r in iter_json_lines(path))
    return build_example_set(rows, source=str(path), skip_invalid=False)


def load_subset(path: str | os.PathLike[str]) -> ExampleSet:
    """The picked rows of a subset written in any format, with their canonical ``messages``.

    The LLaMA-Factory file's ``system`` column goes back into the conversation as its leading
    turn, so the rows (and their content ids) are the pool's again.

    Example:
        >>> import numpy as np, tempfile
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"messages": [{"role": "system", "content": "s"},
        ...     {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}])
        >>> from targetsel.export import export
        >>> ranking = select(np.ones((1, 1)), "random", budget=1)
        >>> path, _ = export(pool, ranking, tempfile.mkdtemp(), format="llamafactory")
        >>> load_subset(path).ids == pool.ids
        True
    """
    from targetsel.data import load_examples

    p = Path(path)
    if p.name == SUBSET_FILES["llamafactory"] and p.is_file():
        return _read_sharegpt(p)
    return load_examples(p)


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
    """The entries of an existing LLaMA-Factory registry (a LLaMA-Factory data folder keeps its others)."""
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


def _drop_dataset_info_entry(path: Path) -> None:
    """Remove our entry from a LLaMA-Factory registry (the file too when nothing else is left in it);
    a file that is not such a registry is not ours and stays as it is."""
    try:
        info = _read_dataset_info(path)
    except ConfigurationError:
        return
    if LLAMAFACTORY_DATASET not in info:
        return
    del info[LLAMAFACTORY_DATASET]
    if info:
        atomic_write_text(path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    else:
        path.unlink()


def _write_axolotl(pool: ExampleSet, indices: list[int], path: Path) -> None:
    import yaml

    _write_jsonl(pool, indices, path)
    # an absolute path: axolotl resolves a relative one against the folder it is started from
    block = yaml.safe_dump({"datasets": [axolotl_dataset_entry(str(path.resolve()))]}, sort_keys=False)
    head = "# axolotl: put this `datasets:` block in your config (type chat_template; see targetsel.trainer_formats)\n"
    atomic_write_text(path.with_name(AXOLOTL_DATASETS_FILE), head + block)


#: The writer of each ``--format``, in the order the formats are listed to users.
WRITERS: dict[str, Writer] = {
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
    "hf": _write_hf,
    "llamafactory": _write_llamafactory,
    "axolotl": _write_axolotl,
}
#: Every ``--format``.
EXPORT_FORMATS: tuple[str, ...] = tuple(WRITERS)


def remove_other_formats(folder: Path, fmt: str) -> None:
    """Remove the subset and trainer files another format left in ``folder`` (ours only), so the
    folder holds one selection."""
    keep = {SUBSET_FILES[fmt], TRAINER_FILES.get(fmt)}
    for name in dict.fromkeys([*SUBSET_FILES.values(), *TRAINER_FILES.values()]):
        p = folder / name
        if name in keep or not p.exists():
            continue
        if name == LLAMAFACTORY_INFO_FILE:
            _drop_dataset_info_entry(p)
        elif is_saved_dataset(p):
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()
        else:
            continue
        logger.info("removed %s, left by an export in another format", p)
