"""``targetsel explore``: one self-contained HTML page of what a selection picked, and for which query."""

from __future__ import annotations

from pathlib import Path

import typer

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet

__all__ = ["explore_cmd"]

_HELP = """Write a self-contained HTML page to explore a selection (opens offline in any browser).

SELECTION_DIR is the output folder of `targetsel select` (one budget, or its `budget-<B>/`
folders), or its `selection.json`. The page shows the method, representation, model, budgets,
pool and query sizes and fingerprints; the composition of the subset against the pool by
`source` (or `--by COLUMN`) with a budget slider; the subset–query distance against random
subsets of the same size when a `diagnosis.json` is in the folder (or with `--diagnose`,
computed now as `targetsel diagnose` does); and per query its text and the candidates it chose,
in order, with scores: click a pick for its full conversation, search the picks by text.
The pool and query files are the ones `selection.json` records (`--pool`/`--query` to override);
without them the page shows the subset alone. A selection of several targets (`select --query NAME=PATH
...`) gets a target selector beside the budget slider: one target's picks, queries, composition and
distances, or all of them; its query sets are each target's recorded one (`--query NAME=PATH` each to
override). Writes `SELECTION_DIR/explore.html` unless `-o`.

**Examples**

* `targetsel explore selection/` (then open `selection/explore.html`)
* `targetsel explore out/ -o out/page.html --by category`
* `targetsel explore out/ --diagnose -r lexical --random-subsets 20` (distances in lexical features)
* `targetsel explore out/ --pool pool.jsonl --query q.jsonl --diagnosis diag/`
* `targetsel select --pool pool.jsonl --query q.jsonl --budgets 500,1000 -o out/ --html` (page beside the subset)
"""


@app.command("explore", help=_HELP)
def explore_cmd(
    selection_dir: Path = typer.Argument(
        ..., metavar="SELECTION_DIR", help="Selection folder (output of `targetsel select`) or its selection.json."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="HTML file to write (default SELECTION_DIR/explore.html)."
    ),
    by: str = typer.Option("source", "--by", help="Column the composition is counted by."),
    diagnose: bool = typer.Option(
        False, "--diagnose", help="Compute subset–query distances against random subsets now and show them."
    ),
    diagnosis: Path | None = typer.Option(
        None, "--diagnosis", help="A diagnosis.json (or its folder) to show (default: one in SELECTION_DIR)."
    ),
    pool: Path | None = typer.Option(None, "--pool", help="The pool (default: the path in selection.json)."),
    query: list[str] | None = typer.Option(
        None,
        "--query",
        help="The query set (default: the path in selection.json); several targets: NAME=PATH for each.",
    ),
    split: str | None = typer.Option(None, "--split", help="Split of datasets directories or hub datasets."),
    representation: str = typer.Option(
        "embed", "--representation", "-r", help="--diagnose: representation of the distances."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="--diagnose: representation model name or path."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="--diagnose: representation key=value."),
    random_subsets: int = typer.Option(
        20, "--random-subsets", help="--diagnose: seeded random subsets per budget (0: none; at most 10,000)."
    ),
    seed: int = typer.Option(0, "--seed", help="--diagnose: seed of the random subsets."),
    store_dir: Path | None = typer.Option(
        None, "--store-dir", help="--diagnose: feature-store cache (default ~/.cache/targetsel/stores)."
    ),
    no_store: bool = typer.Option(False, "--no-store", help="--diagnose: encode in memory; write no feature store."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.cli._common import (
        build_representation,
        check_representation,
        default_store_dir,
        load_data,
        parse_options,
        parse_query_targets,
    )
    from targetsel.diagnose.core import check_random_subsets
    from targetsel.errors import ConfigurationError
    from targetsel.explore import find_selection, load_query_sets, recorded_path, write_page

    apply_quiet(quiet)
    check_representation(representation)
    check_random_subsets(random_subsets, "--random-subsets")
    if diagnose and diagnosis is not None:
        raise ConfigurationError("give --diagnose (compute now) or --diagnosis PATH (show a saved one), not both")
    given_queries = parse_query_targets(query)
    sel = find_selection(selection_dir)
    pool_path = pool or recorded_path(sel.meta, "pool")
    query_set = load_query_sets(given_queries, sel.meta, split)
    if diagnose:
        absent = [n for n, es in query_set.items() if es is None] if isinstance(query_set, dict) else []
        if pool_path is None or query_set is None or absent:
            missing = "--pool" if pool_path is None else f"--query {absent[0]}=PATH" if absent else "--query"
            raise ConfigurationError(
                f"--diagnose needs the pool and the query set, not found where selection.json says: pass {missing}"
            )
    pool_set = load_data(pool_path, split=split) if pool_path is not None else None
    diag = None
    if diagnose:
        from targetsel.diagnose import diagnose_selection

        rep = build_representation(representation, model=model, **parse_options(param))
        assert pool_set is not None  # --diagnose without a pool was refused above
        diag = diagnose_selection(
            sel.meta,
            pool_set,
            query_set,
            rep,
            budgets=sel.budgets,
            store_dir=None if no_store else (store_dir or default_store_dir()),
            random_subsets=random_subsets,
            seed=seed,
        ).to_dict()
    page = write_page(
        sel.root, output, pool=pool_set, queries=query_set, by=by, diagnosis=diag if diagnose else diagnosis
    )
    if not quiet:
        typer.echo(f"wrote {page} ({page.stat().st_size / 1e6:.1f} MB): open it in a browser")
