"""The shared typer application; verb modules register their commands on it."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


def _hide_flag_types(command: Any, ctx: Any) -> None:
    """Give every on/off flag an empty metavar, so help shows ``--quiet`` and not ``--quiet <bool>``.

    Flags take no value; the rich help of recent typer versions would print their Python type.
    Sub-groups (``experiment``, ``store``) get the same treatment for their commands.
    """
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and not param.metavar:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub, ctx)


class _Group(TyperGroup):
    """The root group: flags without a type placeholder in every help page."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _hide_flag_types(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _hide_flag_types(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=_Group,
    name="targetsel",
    help="Targeted instruction selection: pick the subset of an instruction pool that best teaches a task.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _show_version(value: bool) -> None:
    if value:
        from targetsel._version import __version__

        typer.echo(f"targetsel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Targeted instruction selection: pick the subset of an instruction pool that best teaches a task."""
