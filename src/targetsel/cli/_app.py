"""The shared typer application; verb modules register their commands on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["app", "generated_help"]


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


def generated_help(command: Callable[[], str] | None = None, **options: Callable[[], str]) -> type[TyperCommand]:
    """A command class (``@app.command(cls=...)``) whose help is partly generated when it is shown.

    ``command`` returns text put after the command's own help; each keyword names a parameter
    of the command and returns that option's whole help. They run only when a help page is
    printed, so they see what is registered by then (a plugin's selector, a test's class) and
    the registries they read are imported only for ``--help``.

    Example:
        >>> cls = generated_help(lambda: "Methods: a, b.", method=lambda: "a or b.")
        >>> issubclass(cls, TyperCommand)
        True
    """

    class GeneratedHelpCommand(TyperCommand):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._own_help = self.help or ""

        def format_help(self, ctx: Any, formatter: Any) -> None:
            if command is not None:
                self.help = f"{self._own_help.rstrip()}\n\n{command()}"
            for param in self.params:
                if param.name in options:
                    param.help = options[param.name]()  # type: ignore[attr-defined]  # options are click Options
            super().format_help(ctx, formatter)

    return GeneratedHelpCommand


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
