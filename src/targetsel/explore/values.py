"""Values as the explorer page's JSON holds them: rounded numbers (no NaN), columns and conversations.

Example:
    >>> num(float("nan")), num(0.123456789), cell(2.0), cell("x")
    (None, 0.12346, 2.0, 'x')
"""

from __future__ import annotations

import math
from typing import Any

from targetsel.data import ExampleSet

__all__ = ["cell", "column_values", "messages_of", "num"]


def num(x: Any, digits: int = 5) -> float | None:
    """``x`` rounded to ``digits`` decimals; ``None`` for a missing or non-finite value."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), digits)


def cell(x: Any) -> Any:
    """A per-pick extra value as JSON can hold it (no NaN or infinity)."""
    return num(x, 7) if isinstance(x, float) else x


def column_values(es: ExampleSet, name: str) -> list[Any] | None:
    """A whole column as Python values, read through Arrow (row-by-row reads cost ~10x more); ``None`` if absent."""
    if name not in es.column_names:
        return None
    values: list[Any] = es.dataset.with_format("arrow")[name].to_pylist()
    return values


def messages_of(es: ExampleSet) -> list[list[list[str]]]:
    """One ``[role, content]`` list per row.

    Example:
        >>> messages_of(ExampleSet.from_records([{"prompt": "hi", "completion": "yo"}]))
        [[['user', 'hi'], ['assistant', 'yo']]]
    """
    return [[[m["role"], m["content"]] for m in msgs] for msgs in column_values(es, "messages") or []]
