"""The shared typer application; verb modules register their commands on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="targetsel",
    help="Targeted instruction selection: pick the subset of an instruction pool that best teaches a task.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
