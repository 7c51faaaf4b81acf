"""The explorer's view of decontamination: what was removed from the pool before ranking, and why.

Example:
    >>> decontamination_view({"picks": []}, None, []) is None
    True
"""

from __future__ import annotations

from typing import Any

from targetsel.errors import InvalidDataError
from targetsel.export import CONTAMINATION_FILE, SELECTION_FILE, SelectionArtifact

__all__ = ["CONTAMINATION_ROWS", "decontamination_view"]

#: Removed rows listed on the page (the count covers them all).
CONTAMINATION_ROWS = 100


def decontamination_view(
    meta: dict[str, Any], artifact: SelectionArtifact | None, notes: list[str]
) -> dict[str, Any] | None:
    """The ``decontamination`` block of ``selection.json`` (``meta``) and the first removed rows of the
    report it names, read through ``artifact`` (``None``: the block alone).

    ``None`` when decontamination was off. A missing report is a note, not an error (the count is
    in ``selection.json``).

    Raises:
        InvalidDataError: a line of the report is not a removed row targetsel writes.
    """
    block = meta.get("decontamination")
    if block is None:
        return None
    path = None if artifact is None else artifact.report_path("decontamination")
    records = None if artifact is None else artifact.read_report("decontamination", CONTAMINATION_ROWS)
    if records is None:
        if block.get("removed"):
            notes.append(
                f"{block.get('file') or CONTAMINATION_FILE} is not beside {SELECTION_FILE}: removed rows not listed"
            )
        return {**block, "rows": []}
    rows = []
    for number, row in enumerate(records, start=1):
        try:
            item, evidence = row["item"], row["evidence"]
            rows.append(
                {
                    "pool_index": int(row["pool_index"]),
                    "pool_id": str(row["pool_id"]),
                    "item": f"{item.get('file')} #{item.get('index')} ({item.get('id')})",
                    "method": str(row["method"]),
                    "evidence": evidence.get("ngram") if "ngram" in evidence else f"cosine {evidence.get('cosine')}",
                    "part": evidence.get("part"),
                }
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidDataError(
                f"{path}: line {number} is not a removed row targetsel writes; re-run `targetsel select`"
            ) from None
    return {**block, "rows": rows}
