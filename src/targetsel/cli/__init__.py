"""The ``targetsel`` command line: a thin layer over the Python API.

Every verb lives in its own module and registers itself on the shared typer app. Errors that a
user can cause (``TargetselError``, bad options, unwritable paths) end in one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from targetsel.cli._app import app
from targetsel.errors import RankStoppedError, TargetselError

try:  # recent typer versions vendor click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # type: ignore[assignment]  # same classes, other module

# Importing the verb modules registers their commands.
from targetsel.cli import data, demo, diagnose, encode, evaluate, experiment, explore  # noqa: F401  isort: skip
from targetsel.cli import components, models, plan, report, select, store, train  # noqa: F401  isort: skip

__all__ = ["app", "main"]

#: The values of the ``TARGETSEL_LOG`` environment variable (any case).
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``targetsel`` console script (``[project.scripts]``); returns the exit status.

    The script's wrapper exits with the returned status. A user's error (:class:`TargetselError`,
    a bad option, an unwritable path) ends in one ``targetsel: error: ...`` line on stderr and
    status 2; ``TARGETSEL_LOG`` sets the log level (``WARNING`` by default).

    Example:
        >>> main(["select", "--no-such-flag"])  # stderr: targetsel: error: No such option: --no-such-flag (...)
        2
    """
    level = os.environ.get("TARGETSEL_LOG", "WARNING")
    if level.upper() not in _LOG_LEVELS:
        names = ", ".join(_LOG_LEVELS[:-1]) + " or " + _LOG_LEVELS[-1]
        print(f"targetsel: error: TARGETSEL_LOG must be one of {names}, got {level!r}", file=sys.stderr)
        return 2
    # under torchrun every rank logs to the same terminal: say which
    rank = os.environ.get("RANK") if os.environ.get("WORLD_SIZE", "1") != "1" else None
    prefix = "" if rank is None else f"[rank {rank}] "
    logging.basicConfig(level=level.upper(), format=prefix + "%(levelname)s %(name)s: %(message)s")
    try:
        rv = app(args=argv, prog_name="targetsel", standalone_mode=False)
    except NoArgsIsHelpError:  # typer has already printed the help
        return 0
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        message = " ".join(exc.format_message().split())
        print(f"targetsel: error: {message}{hint}", file=sys.stderr)
        return 2
    except ClickException as exc:
        print(f"targetsel: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return 2
    except typer.Abort:
        print("targetsel: aborted", file=sys.stderr)
        return 130
    except RankStoppedError:  # under torchrun: the failing rank's error is reported by rank 0
        return 2
    except TargetselError as exc:
        print(f"targetsel: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"targetsel: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("targetsel: interrupted", file=sys.stderr)
        return 130
    return rv if isinstance(rv, int) else 0
