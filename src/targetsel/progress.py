"""Progress bars for long work (tqdm), switched off globally with ``--quiet``."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress", "set_quiet"]

_QUIET = os.environ.get("TARGETSEL_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    """Disable (``True``) or enable progress bars for the rest of the process."""
    global _QUIET
    _QUIET = quiet


def progress(
    *, total: int | None = None, desc: str = "", unit: str = "it", enabled: bool | None = None, **kw: Any
) -> tqdm:
    """A tqdm bar with rate and ETA; disabled when quiet, or when ``enabled`` is false.

    Example:
        >>> with progress(total=3, desc="demo", enabled=False) as bar:
        ...     bar.update(3)
    """
    disable = _QUIET if enabled is None else not enabled
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=False, **kw)
