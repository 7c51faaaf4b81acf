"""``targetsel components``: every registered representation, selector and projector, described.

The help pages of ``select``, ``encode`` and ``plan`` list the same components through
:func:`help_section`, so a class registered anywhere (a plugin, a test) shows up in all of them
with the parameters its signature and docstring declare, and no list of names is typed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand

from targetsel.cli._app import app, generated_help
from targetsel.cli._common import check_choice
from targetsel.params.describe import ComponentInfo, compact_params, describe_registry
from targetsel.registry import Registry

__all__ = [
    "KINDS",
    "choices_text",
    "components_cmd",
    "describe_kind",
    "help_section",
    "registry_of",
    "representations_help",
]


def _representations() -> Registry[Any]:
    import targetsel.represent  # noqa: F401  (registers the built-ins)
    from targetsel.represent.base import REPRESENTATIONS

    return REPRESENTATIONS


def _selectors() -> Registry[Any]:
    import targetsel.select  # noqa: F401  (registers the built-ins)
    from targetsel.select.base import SELECTORS

    return SELECTORS


def _projectors() -> Registry[Any]:
    from targetsel.represent.projection import PROJECTORS

    return PROJECTORS


@dataclass(frozen=True)
class _Kind:
    registry: Callable[[], Registry[Any]]  # imported on use: the CLI starts without numpy or torch
    title: str
    how: str  # how a user picks one and sets its parameters


#: The kinds of registered components, by the word ``targetsel components`` takes.
KINDS: dict[str, _Kind] = {
    "representations": _Kind(
        _representations, "Representations", "chosen with `--representation NAME`, parameters with `-p key=value`"
    ),
    "selectors": _Kind(
        _selectors, "Selectors", "chosen with `--method NAME`, parameters with `--method-param key=value`"
    ),
    "projectors": _Kind(
        _projectors,
        "Projectors",
        "chosen with `-r gradient -p projector=NAME`; `dim` and `seed` are the representation's",
    ),
}


def registry_of(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (``representations``, ``selectors`` or ``projectors``), built-ins registered.

    Example:
        >>> registry_of("selectors").get("uot").label
        'UOT'
    """
    return KINDS[kind].registry()


def describe_kind(kind: str, names: Iterable[str] | None = None) -> dict[str, ComponentInfo]:
    """The registered components of ``kind`` (only ``names``, when given), described, by name.

    Example:
        >>> describe_kind("representations", ["lexical"])["lexical"].label
        'LEXICAL'
    """
    registry = registry_of(kind)
    chosen = registry.names() if names is None else list(names)
    return describe_registry({name: registry.get(name) for name in chosen})


def choices_text(kind: str, names: Iterable[str] | None = None) -> str:
    """``a, b or c``: the registered names of ``kind`` (or ``names``) for an option's help.

    Example:
        >>> choices_text("representations")
        'embed, gradient, hidden or lexical'
    """
    valid = registry_of(kind).names() if names is None else list(names)
    return valid[0] if len(valid) == 1 else ", ".join(valid[:-1]) + " or " + valid[-1]


def help_section(kind: str, names: Iterable[str] | None = None) -> str:
    """A help page's list of the components of ``kind``: each name, label and parameters with defaults.

    Markdown (the CLI's help is rendered from it), one bullet per component.

    Example:
        >>> print(help_section("selectors", ["random", "round_robin"]))
        **Selectors** (chosen with `--method NAME`, parameters with `--method-param key=value`; defaults shown):
        <BLANKLINE>
        * `random` (RANDOM): seed=0
        * `round_robin` (RR): no parameters
    """
    spec = KINDS[kind]
    registry = registry_of(kind)
    chosen = registry.names() if names is None else list(names)
    lines = [f"**{spec.title}** ({spec.how}; defaults shown):", ""]
    for name in chosen:
        cls = registry.get(name)
        params = compact_params(cls)
        lines.append(
            f"* `{name}` ({getattr(cls, 'label', name.upper())}): {'no parameters' if params == '-' else params}"
        )
    return "\n".join(lines)


def representations_help(names: Callable[[], Iterable[str]] | None = None) -> type[TyperCommand]:
    """The command class of a verb taking ``-r``/``-p``: its help lists the representations
    (``names()``, default all registered) with their parameters, generated when shown.

    Example:
        >>> representations_help(lambda: ["lexical"]).__name__
        'GeneratedHelpCommand'
    """

    def pick() -> Iterable[str] | None:
        return None if names is None else names()

    return generated_help(
        lambda: (
            f"{help_section('representations', pick())}\n\nTypes and help of every parameter: "
            "`targetsel components representations`."
        ),
        representation=lambda: f"{choices_text('representations', pick())} (their parameters: above).",
    )


_HELP = """Describe the registered representations, selectors and projectors: for each its name,
its label in reports (`LESS`, `RR`, ...) and every parameter with its type, default and help, all read
from the class itself (its `__init__` signature and the `Args:` of its docstring).

Parameters are set with `-p key=value` (representations), `--method-param key=value` (selectors)
or a config's `params:`; the default shown is what you would type after `key=`.

**Examples**

* `targetsel components` (all three kinds)
* `targetsel components selectors` (the `--method` choices of `targetsel select`)
* `targetsel components representations gradient` (one component)
* `targetsel components selectors --json` (one JSON object: kind → name → label, summary, class, params)
"""


def _print_tables(described: dict[str, dict[str, ComponentInfo]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for kind, infos in described.items():
        spec = KINDS[kind]
        console.rule(f"[bold]{spec.title}[/]")
        console.print(escape(spec.how.replace("`", "")))
        for name, info in infos.items():
            console.print(f"\n[bold]{escape(name)}[/] ({escape(info.label)}): {escape(info.summary)}")
            if not info.params:
                console.print("  no parameters")
                continue
            table = Table()
            for column in ("parameter", "type", "default", "help"):
                table.add_column(column, overflow="fold")
            for p in info.params:
                table.add_row(escape(p.name), escape(p.type), escape(p.shown_default), escape(p.help or "-"))
            console.print(table)


@app.command(
    "components",
    help=_HELP,
    short_help="Describe the registered representations, selectors and projectors and their parameters.",
)
def components_cmd(
    kind: str | None = typer.Argument(
        None,
        metavar="KIND",
        help="representations, selectors or projectors (default: all three).",
        show_default=False,
    ),
    name: str | None = typer.Argument(None, metavar="NAME", help="Only this component of KIND.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print them as one JSON object instead of tables."),
) -> None:
    kinds = list(KINDS) if kind is None else [check_choice("KIND", kind, KINDS)]
    described = {k: describe_kind(k, None if name is None else [name]) for k in kinds}
    if as_json:
        typer.echo(
            json.dumps(
                {k: {n: info.to_dict() for n, info in infos.items()} for k, infos in described.items()}, indent=2
            )
        )
        return
    _print_tables(described)
