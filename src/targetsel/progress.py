"""Progress bars for long work (tqdm), switched off globally with ``--quiet``, and progress callbacks.

A work loop reports progress through a callback, ``on_rows(n)``: ``n`` more rows are done
(:data:`Advance`). Code that encodes a block of rows deep below the loop that owns the bar calls
:func:`advance_rows`, which advances the bar that :func:`row_progress` set for the current
context. That bar lives in a :mod:`contextvars` variable, so concurrent threads each advance
their own bar, never another's; a thread started inside :func:`row_progress` does not inherit it
(it starts in a fresh context) unless run in :func:`contextvars.copy_context`.

Quiet also silences the libraries underneath: the progress bars and every log line below
CRITICAL of ``datasets`` ("Generating train split", the ERROR line it logs before raising on a
corrupt Parquet file), ``transformers`` and ``huggingface_hub`` (weight loading, download
retries), ``sentence-transformers``, ``peft`` and ``accelerate``, and the Python warnings those
packages issue; a failure still ends in targetsel's own one-line error. Libraries imported later
read the environment variables set here (their import resets their logger's level from them);
those already imported are switched off directly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypedDict

from tqdm.auto import tqdm

__all__ = ["THIRD_PARTY", "Advance", "RowCount", "advance_rows", "progress", "row_progress", "set_quiet"]

#: A progress callback: ``n`` more units (rows, candidates) are done.
Advance = Callable[[int], None]

_QUIET = os.environ.get("TARGETSEL_QUIET", "") not in ("", "0")

#: Packages whose bars, log lines and warnings ``--quiet`` silences.
THIRD_PARTY = ("datasets", "transformers", "huggingface_hub", "sentence_transformers", "peft", "accelerate", "torch")
_ENV = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "critical",
    "DATASETS_VERBOSITY": "critical",
    "HF_HUB_VERBOSITY": "critical",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
_saved: dict[str, Any] | None = None  # what set_quiet(True) changed, to put back on set_quiet(False)
_quiet_lock = threading.Lock()  # set_quiet saves and restores process-wide state: one call at a time


def set_quiet(quiet: bool) -> None:
    """Disable (``True``) or enable progress bars for the rest of the process, third-party ones included.

    Example:
        >>> set_quiet(True); set_quiet(False)
    """
    with _quiet_lock:
        _set_quiet(quiet)


def _set_quiet(quiet: bool) -> None:
    global _QUIET, _saved
    _QUIET = quiet
    if quiet and _saved is None:
        _saved = {"env": {k: os.environ.get(k) for k in _ENV}, "levels": {}, "filters": list(warnings.filters)}
        os.environ.update(_ENV)
        for name in THIRD_PARTY:
            logger = logging.getLogger(name)
            _saved["levels"][name] = logger.level
            logger.setLevel(logging.CRITICAL)
        pattern = "|".join(THIRD_PARTY)
        warnings.filterwarnings("ignore", module=rf"({pattern})(\.|$)")
        _library_bars(enabled=False)
    elif not quiet and _saved is not None:
        for k, v in _saved["env"].items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for name, level in _saved["levels"].items():
            logging.getLogger(name).setLevel(level)
        warnings.filters[:] = _saved["filters"]  # type: ignore[index]  # typeshed says Sequence; it is a list
        with warnings.catch_warnings():  # a user's own HF_*_DISABLE_PROGRESS_BARS=1 keeps priority, silently
            warnings.simplefilter("ignore", UserWarning)
            _library_bars(enabled=True)
        _saved = None


def _library_bars(*, enabled: bool) -> None:
    """Switch the progress bars (and verbosity) of the libraries already imported."""
    if "datasets" in sys.modules:
        import datasets

        if enabled:
            datasets.enable_progress_bars()
            datasets.logging.set_verbosity_warning()
        else:
            datasets.disable_progress_bars()
            datasets.logging.set_verbosity(logging.CRITICAL)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        if enabled:
            hf_logging.enable_progress_bar()
            hf_logging.set_verbosity_warning()
        else:
            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity(logging.CRITICAL)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars  # type: ignore[attr-defined]  # exported by a run-time __all__
        from huggingface_hub.utils import logging as hub_logging

        (enable_progress_bars if enabled else disable_progress_bars)()
        hub_logging.set_verbosity(logging.WARNING if enabled else logging.CRITICAL)


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


class RowCount(TypedDict):
    """What :func:`row_progress` yields: ``done``, the rows advanced inside its block so far."""

    done: int


#: The current context's row callback (set by :func:`row_progress`); ``None``: no bar to advance.
_ROWS: ContextVar[Advance | None] = ContextVar("targetsel_rows", default=None)


@contextlib.contextmanager
def row_progress(bar: tqdm) -> Iterator[RowCount]:
    """Let the code encoding a block of rows advance ``bar`` batch by batch (:func:`advance_rows`).

    Yields a :class:`RowCount` whose ``done`` counts the rows advanced inside, so the caller adds
    only the rest. Blocks nest: the innermost advances. The bar is this context's only (see the
    module docstring): another thread's :func:`advance_rows` never reaches it.

    Example:
        >>> with progress(total=4, enabled=False) as bar, row_progress(bar) as rows:
        ...     advance_rows(3)
        >>> rows["done"]
        3
    """
    rows: RowCount = {"done": 0}

    def advance(n: int) -> None:
        bar.update(n)
        rows["done"] += n

    token = _ROWS.set(advance)
    try:
        yield rows
    finally:
        _ROWS.reset(token)


def advance_rows(n: int) -> None:
    """``n`` more rows are encoded: advance this context's innermost :func:`row_progress` bar (else nothing).

    The default progress callback of the encoding loops (an :data:`Advance`).

    Example:
        >>> advance_rows(2)  # no row_progress block here: nothing to advance
    """
    advance = _ROWS.get()
    if advance is not None:
        advance(n)
