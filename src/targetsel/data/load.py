"""Loading a pool or query set from a local file or directory, or a ``datasets`` name.

Accepted inputs: a local ``.jsonl`` / ``.json`` (optionally ``.gz``) file, a ``.parquet`` file, an
``.arrow`` file, or a directory written by ``datasets.Dataset.save_to_disk``; a registered data
name fetched into the cache (``evals-mix``, ``gsm8k`` = its dev split, ``gsm8k:test``; see
:mod:`targetsel.data.real`); a name the ``datasets`` library resolves (needs network),
``name:config`` selecting a config.

Precedence: an existing local path always wins; then a registered data name (never downloaded
here: one that is not cached is an error saying how to fetch it); then a ``datasets`` hub name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from targetsel.data.example_set import ExampleSet, build_example_set
from targetsel.data.read import iter_dataset, iter_json_lines, pick_split
from targetsel.data.real import is_data_name, resolve_data
from targetsel.errors import InvalidDataError, MissingArtifactError

__all__ = ["load_examples", "load_pool", "load_queries"]


def load_examples(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    skip_invalid: bool = False,
) -> ExampleSet:
    """Load, validate and normalise a pool or query set.

    Args:
        source: Local file/directory, a registered data name (``gsm8k``, ``gsm8k:test``,
            ``evals-mix``), or a ``datasets`` name (``org/name`` or ``org/name:config``).
        split: Split to take from a ``datasets`` name or ``DatasetDict`` directory (default: the
            only split, or ``train``), or from a registered data name that names none.
        skip_invalid: Skip invalid rows (counted and logged) instead of stopping at the first one.

    Raises:
        MissingArtifactError: a local path that does not exist; a data name not in the cache.
        InvalidDataError: an invalid row (names the file and 1-based row), or no valid row.

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> pool = load_examples(demo_pool_path())
        >>> len(pool) > 2000
        True
    """
    text = os.fspath(source)
    path = Path(text)
    if path.exists():
        rows = _local_rows(path, text, split)
    elif is_data_name(text):  # recorded as its cached file, so that later commands can reopen it
        resolved = resolve_data(text, split)
        text = str(resolved)
        rows = iter_json_lines(resolved)
    else:
        rows = _named_rows(text, split)
    return build_example_set(rows, source=text, skip_invalid=skip_invalid)


def _local_rows(path: Path, text: str, split: str | None) -> Iterator[tuple[int, Any]]:
    """The numbered rows of an existing file or ``datasets`` directory, by its kind."""
    import datasets

    name = path.name.lower()
    if path.is_dir():
        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise InvalidDataError(f"{path}: not a saved `datasets` directory ({_one_line(exc)})") from exc
        return iter_dataset(pick_split(ds, split, text))
    if name.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")):
        return iter_json_lines(path)
    if name.endswith((".parquet", ".arrow")):
        kind = "Parquet" if name.endswith(".parquet") else "Arrow"
        _check_table_file(path, kind)
        try:
            if kind == "Parquet":
                ds = datasets.Dataset.from_parquet(str(path))
            else:
                ds = datasets.Dataset.from_file(str(path))
        except Exception as exc:
            raise InvalidDataError(f"{path}: not a readable {kind} file ({_one_line(exc)})") from exc
        return iter_dataset(ds)
    raise InvalidDataError(f"{path}: unknown file type; use .jsonl, .json, .parquet, .arrow or a datasets directory")


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _check_table_file(path: Path, kind: str) -> None:
    """Read the schema of a Parquet or Arrow file with pyarrow, so that an empty, truncated or
    foreign file is one :class:`InvalidDataError` line (``datasets`` would log its own error first).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if kind == "Parquet":
            pq.read_schema(path)
        else:  # datasets writes the Arrow IPC stream format
            with pa.memory_map(str(path)) as source:
                pa.ipc.open_stream(source).schema  # noqa: B018  (reading it is the check)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidDataError(f"{path}: not a readable {kind} file ({_one_line(exc)})") from exc


def _named_rows(text: str, split: str | None) -> Iterator[tuple[int, Any]]:
    """The numbered rows of a name the ``datasets`` library resolves (``name`` or ``name:config``)."""
    import datasets

    looks_local = text.startswith((".", "/", "~")) or text.endswith((".jsonl", ".json", ".parquet", ".arrow", ".gz"))
    if looks_local or text.count("/") != 1:
        raise MissingArtifactError(f"{text}: no such file or directory")
    repo, _, config = text.partition(":")
    try:
        ds = datasets.load_dataset(repo, config or None, split=split or "train")
    except Exception as exc:
        raise MissingArtifactError(f"{text}: could not load it with the `datasets` library ({_one_line(exc)})") from exc
    return iter_dataset(ds)


def load_pool(source: str | os.PathLike[str], **kwargs: Any) -> ExampleSet:
    """Load a candidate pool (see :func:`load_examples`).

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> load_pool(demo_pool_path()).column_names[:2]
        ['id', 'source']
    """
    return load_examples(source, **kwargs)


def load_queries(source: str | os.PathLike[str], **kwargs: Any) -> ExampleSet:
    """Load a target-task query set (see :func:`load_examples`).

    Example:
        >>> from targetsel.demo import demo_query_path
        >>> len(load_queries(demo_query_path("math")))
        50
    """
    return load_examples(source, **kwargs)
