"""Export a selection: the chosen pool rows, in the form a trainer reads, plus ``selection.json``.

:class:`SelectionArtifact` owns a selection on disk: it writes it, finds it again and checks what it
reads (``targetsel explore``, ``diagnose`` and the experiment harness read through it). The folder's
file names are the constants of :mod:`targetsel.export.layout`; the formats a trainer reads are in
:mod:`targetsel.export.formats`; ``selection.json``'s content is :class:`SelectionFile`
(:mod:`targetsel.export.metadata`).

Example:
    >>> import numpy as np, tempfile
    >>> from targetsel.data import ExampleSet
    >>> from targetsel.select import select
    >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
    >>> d = tempfile.mkdtemp()
    >>> subset, meta = export(pool, select(np.array([[0.1, 0.9, 0.5]]), "round_robin", budget=2), d)
    >>> SelectionArtifact.open(d).load_subset().ids == [pool.ids[1], pool.ids[2]]
    True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from targetsel.data import ExampleSet
from targetsel.export.artifact import SelectionArtifact, check_output_dir
from targetsel.export.formats import EXPORT_FORMATS, LLAMAFACTORY_DATASET, check_exportable, load_subset
from targetsel.export.layout import (
    AXOLOTL_DATASETS_FILE,
    CONTAMINATION_FILE,
    DUPLICATES_FILE,
    FILE_FORMATS,
    LLAMAFACTORY_INFO_FILE,
    SELECTION_FILE,
    SUBSET_FILES,
)
from targetsel.export.metadata import (
    DataRecord,
    Pick,
    SelectionFile,
    TargetRecord,
    TargetsRecord,
    selection_metadata,
)
from targetsel.select.base import Ranking

__all__ = [
    "AXOLOTL_DATASETS_FILE",
    "CONTAMINATION_FILE",
    "DUPLICATES_FILE",
    "EXPORT_FORMATS",
    "FILE_FORMATS",
    "LLAMAFACTORY_DATASET",
    "LLAMAFACTORY_INFO_FILE",
    "SELECTION_FILE",
    "SUBSET_FILES",
    "DataRecord",
    "Pick",
    "SelectionArtifact",
    "SelectionFile",
    "TargetRecord",
    "TargetsRecord",
    "check_exportable",
    "check_output_dir",
    "export",
    "load_subset",
    "selection_metadata",
]


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
        output: A directory (the subset, the format's trainer file and ``selection.json`` go in
            it; another format's subset and trainer files left there by an earlier export are
            removed, so the folder holds one selection) or a file path ending in
            ``.jsonl``/``.parquet`` (metadata goes to ``<stem>.selection.json``).
        format: One of :data:`~targetsel.export.formats.EXPORT_FORMATS`; inferred from a file
            path, default ``jsonl``.
        queries: The query set, recorded by source and fingerprint.
        provenance: Representation/scoring provenance (``Scores.provenance``).
        decontamination: The ``decontamination`` block (``Contamination.block(file)``), when it ran.
        dedup: The ``dedup`` block (``DedupResult.block(budget, file)``), when near-duplicate control ran.
        targets: The ``targets`` block (:class:`~targetsel.export.metadata.TargetsRecord`), for a
            selection of several targets.

    Returns:
        ``(subset_path, selection_json_path)``. Every file is written atomically.

    Raises:
        ConfigurationError: an unknown format, a folder format given a file path, a mismatched ranking.
        InvalidDataError: a pick the format cannot hold (see
            :func:`~targetsel.export.formats.check_exportable`); nothing is written.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
        >>> with tempfile.TemporaryDirectory() as d:
        ...     paths = export(pool, select(np.array([[0.1, 0.9, 0.5]]), "round_robin", budget=2), d)
        ...     sorted(os.listdir(d))
        ['selection.json', 'subset.jsonl']
    """
    return SelectionArtifact(output).write(
        pool,
        ranking,
        format=format,
        queries=queries,
        provenance=provenance,
        decontamination=decontamination,
        dedup=dedup,
        targets=targets,
    )
