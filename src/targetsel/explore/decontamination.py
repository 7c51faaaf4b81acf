"""The explorer's view of decontamination: what was removed from the pool before ranking, and why.

Example:
    >>> decontamination_view({"picks": []}, Path("."), []) is None
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from targetsel.errors import InvalidDataError

__all__ = ["CONTAMINATION_ROWS", "decontamination_view"]

#: Removed rows listed on the page (the count covers them all).
CONTAMINATION_ROWS = 100


def decontamination_view(meta: dict[str, Any], folder: Path, notes: list[str]) -> dict[str, Any] | None:
    """The ``decontamination`` block of ``selection.json`` (``meta``) and the first removed rows of its
    file, which lies in ``folder`` (the one of ``selection.json``).

    ``None`` when decontamination was off. A missing ``contamination.jsonl`` is a note, not an error
    (the count is in ``selection.json``).

    Raises:
        InvalidDataError: a line of ``contamination.jsonl`` is not a JSON object.
    """
    block = meta.get("decontamination")
    if block is None:
        return None
    rows: list[dict[str, Any]] = []
    path = folder / block["file"] if block.get("file") else None
    if path is None or not path.is_file():
        if block.get("removed"):
            notes.append(
                f"{block.get('file') or 'contamination.jsonl'} is not beside selection.json: removed rows not listed"
            )
        return {**block, "rows": rows}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if number > CONTAMINATION_ROWS:
                break
            try:
                row = json.loads(line)
                item, evidence = row["item"], row["evidence"]
                rows.append(
                    {
                        "pool_index": int(row["pool_index"]),
                        "pool_id": str(row["pool_id"]),
                        "item": f"{item.get('file')} #{item.get('index')} ({item.get('id')})",
                        "method": str(row["method"]),
                        "evidence": evidence.get("ngram")
                        if "ngram" in evidence
                        else f"cosine {evidence.get('cosine')}",
                        "part": evidence.get("part"),
                    }
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                raise InvalidDataError(
                    f"{path}: line {number} is not a removed row targetsel writes; re-run `targetsel select`"
                ) from None
    return {**block, "rows": rows}
