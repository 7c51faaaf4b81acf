"""Library-wide settings: the memory budget of scoring and selection.

One number bounds the large working arrays of the score and select stages. Every size that used to
be a magic constant in its own module is derived from it here, so raising or lowering the budget
scales all of them together:

==============================  ===================  ====================================================
derived size                    at the default       what it bounds
==============================  ===================  ====================================================
:func:`dense_limit_bytes`       1 GiB                the dense ``(queries, candidates)`` float32 matrix;
                                                     above it the pipeline scores in streaming top-k form
:func:`window_entries`          16M entries          round-robin windows (``queries × window`` int64
                                                     indices + float32 scores ≈ 200 MB, ~4x at a refill)
:func:`chunk_copy_bytes`        64 MiB               the float32 copy of one candidate chunk while scoring
:func:`temp_entries`            4M entries           each temporary of an exact top-k over a slab of rows
==============================  ===================  ====================================================

The budget is :data:`DEFAULT_MEMORY_BYTES` (1 GiB) unless the environment variable
``TARGETSEL_MEMORY_BYTES`` says otherwise (an integer number of bytes, e.g. ``2147483648``), or a
caller passes one explicitly (``run_selection(..., memory_bytes=...)``,
:class:`targetsel.score.FeatureViews`). Results never depend on the budget except through the
streaming decision and the round-robin window width, which change how the same exact answer is
computed (window fills are recorded in a ``quantiles`` ranking's ``params``).

Example:
    >>> memory_budget(2 << 30) == 2 << 30, window_entries(DEFAULT_MEMORY_BYTES) == 1 << 24
    (True, True)
"""

from __future__ import annotations

import os

from targetsel.errors import ConfigurationError

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "MEMORY_ENV",
    "chunk_copy_bytes",
    "dense_limit_bytes",
    "memory_budget",
    "temp_entries",
    "window_entries",
]

#: The default memory budget of scoring and selection, in bytes (1 GiB).
DEFAULT_MEMORY_BYTES = 1 << 30
#: Environment variable that overrides :data:`DEFAULT_MEMORY_BYTES`.
MEMORY_ENV = "TARGETSEL_MEMORY_BYTES"


def memory_budget(value: int | None = None) -> int:
    """The memory budget in bytes: ``value`` when given, else ``$TARGETSEL_MEMORY_BYTES``, else 1 GiB.

    Raises:
        ConfigurationError: not a positive integer.

    Example:
        >>> memory_budget(1 << 20)
        1048576
    """
    source = "memory_bytes"
    if value is None:
        raw = os.environ.get(MEMORY_ENV)
        if raw is None or not raw.strip():
            return DEFAULT_MEMORY_BYTES
        source = MEMORY_ENV
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{MEMORY_ENV} must be a whole number of bytes, got {raw!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{source} must be a positive number of bytes, got {value!r}")
    return int(value)


def dense_limit_bytes(budget: int | None = None) -> int:
    """Largest dense float32 score matrix (bytes) before streaming-capable methods stream: the budget."""
    return memory_budget(budget)


def window_entries(budget: int | None = None) -> int:
    """Entries (``queries × window``) of the round-robin windows: budget / 64 (16M at 1 GiB)."""
    return max(1, memory_budget(budget) >> 6)


def chunk_copy_bytes(budget: int | None = None) -> int:
    """Bytes of the float32 copy of one candidate chunk while scoring: budget / 16 (64 MiB at 1 GiB)."""
    return max(1, memory_budget(budget) >> 4)


def temp_entries(budget: int | None = None) -> int:
    """Entries of each temporary of an exact top-k over a slab of rows: budget / 256 (4M at 1 GiB)."""
    return max(1, memory_budget(budget) >> 8)
