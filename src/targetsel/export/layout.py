"""The names of a selection's files on disk: every one is a constant here, and
:class:`~targetsel.export.SelectionArtifact` is the one class that writes and reads them.

A selection written to a folder ``out/``::

    out/selection.json         method, parameters, inputs and every pick (SelectionFile)
    out/subset.jsonl           the picked rows; one name per --format (SUBSET_FILES)
    out/dataset_info.json      llamafactory's registry (axolotl: axolotl_datasets.yml; TRAINER_FILES)
    out/contamination.jsonl    the pool rows decontamination removed, when it ran
    out/duplicates.jsonl       the rows near-duplicate control skipped, when it ran

With several budgets each budget is such a folder, ``out/budget-<B>/``, and the two reports stay in
``out/`` (each ``selection.json`` names them relative to itself: ``../contamination.jsonl``). Written
to a file path ``out/sub.jsonl`` (or ``.parquet``), the other files go beside it as
``sub.selection.json``, ``sub.contamination.jsonl`` and ``sub.duplicates.jsonl``.

Example:
    >>> budget_dir(500), budget_of("budget-500"), budget_of("selection.json")
    ('budget-500', 500, None)
"""

from __future__ import annotations

import re

__all__ = [
    "AXOLOTL_DATASETS_FILE",
    "BUDGET_PREFIX",
    "CONTAMINATION_FILE",
    "DUPLICATES_FILE",
    "EXPLORE_PAGE",
    "FILE_FORMATS",
    "LLAMAFACTORY_INFO_FILE",
    "REPORT_FILES",
    "SELECTION_FILE",
    "SUBSET_FILES",
    "TRAINER_FILES",
    "budget_dir",
    "budget_of",
    "contamination_file",
]

#: Method, parameters, inputs and every pick (:class:`~targetsel.export.metadata.SelectionFile`).
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
#: axolotl's ``datasets:`` block naming ``subset.jsonl``, to paste into an axolotl config.
AXOLOTL_DATASETS_FILE = "axolotl_datasets.yml"
#: What each trainer format writes beside its subset.
TRAINER_FILES: dict[str, str] = {"llamafactory": LLAMAFACTORY_INFO_FILE, "axolotl": AXOLOTL_DATASETS_FILE}
#: The pool rows decontamination removed, one JSON object a line.
CONTAMINATION_FILE = "contamination.jsonl"
#: The candidates near-duplicate control skipped, one JSON object a line.
DUPLICATES_FILE = "duplicates.jsonl"
#: The explorer page of a selection folder (beside a subset file: ``<stem>.html``).
EXPLORE_PAGE = "explore.html"
#: With several budgets, budget ``B``'s folder is ``budget-<B>``.
BUDGET_PREFIX = "budget-"
#: The formats that can also be written to a file path (``out/sub.jsonl``) instead of a folder.
FILE_FORMATS = ("jsonl", "parquet")
#: The report of each pipeline step whose ``selection.json`` block names it in its ``file``.
REPORT_FILES = {"decontamination": CONTAMINATION_FILE, "dedup": DUPLICATES_FILE}
_BUDGET_DIR = re.compile(rf"^{re.escape(BUDGET_PREFIX)}(\d+)$")


def budget_dir(budget: int) -> str:
    """The folder name of budget ``budget`` in a selection of several budgets."""
    return f"{BUDGET_PREFIX}{int(budget)}"


def budget_of(name: str) -> int | None:
    """The budget a folder name :func:`budget_dir` made stands for; ``None`` for any other name."""
    m = _BUDGET_DIR.match(name)
    return int(m.group(1)) if m else None


def contamination_file(name: str | None = None) -> str:
    """The name of a contamination report: :data:`CONTAMINATION_FILE`, or one of several in a folder.

    Example:
        >>> contamination_file(), contamination_file("gsm8k")
        ('contamination.jsonl', 'contamination-gsm8k.jsonl')
    """
    if name is None:
        return CONTAMINATION_FILE
    stem, dot, ext = CONTAMINATION_FILE.partition(".")
    return f"{stem}-{name}{dot}{ext}"
