"""Human-readable sizes and durations of the plan's figures (``1.5 GiB``, ``2 h 05 min``)."""

from __future__ import annotations

import math

__all__ = ["human_bytes", "human_seconds"]


def human_bytes(n: float | None) -> str:
    """``1.5 GiB``-style text.

    Example:
        >>> human_bytes(3 << 20), human_bytes(None)
        ('3.0 MiB', '-')
    """
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_seconds(s: float | None) -> str:
    """``2 h 05 min``-style text.

    Example:
        >>> human_seconds(42.0), human_seconds(7500.0), human_seconds(None)
        ('42.0 s', '2 h 05 min', '-')
    """
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 86400 * 2:
        h = int(s // 3600)
        return f"{h} h {math.floor((s - 3600 * h) / 60):02d} min"
    return f"{s / 86400:.1f} d"
