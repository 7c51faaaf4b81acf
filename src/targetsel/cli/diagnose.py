"""``targetsel diagnose``: subset–query distances, coverage and composition of a selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from targetsel.cli._app import app
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    build_representation,
    check_representation,
    load_data,
    parse_options,
)

__all__ = ["diagnose_cmd"]

_HELP = """Measure how far a selection is from its query set, and what it is made of.

For each budget (a prefix of the selection) computes the 1-Wasserstein distance between the
subset and the query set (POT: exact EMD up to `--exact-limit` points, Sinkhorn beyond) with the
cost (1 − cos)/2, the Gaussian-kernel MMD and mean nearest-neighbour costs, the picks per query
point and the composition by pool `source`, and compares the distance with that of
`--random-subsets` seeded random subsets of the pool of the same size (mean ± std, the percentile
of the selection among them and its z-score: "closer to my task than chance, and by how much";
at most 10,000 per budget: more draws no longer change the figures shown, and each one is a
transport solve; a progress bar counts them, off with `--quiet`).
Writes `diagnosis.json` and `diagnosis.png` (random subsets as a grey band) to `--output`.
`--pool`/`--query` default to the paths recorded in `selection.json`. A selection of several targets
(`select --query NAME=PATH ...`) is measured against the union of their query sets, and a second table
gives, per budget and target, the distance of that target's picks and of the whole prefix to its queries.

**Examples**

* `targetsel diagnose --selection selection/ -o diag/`
* `targetsel diagnose --selection out/ --pool pool.jsonl --query q.jsonl --budgets 100,500,1000 -o diag/`
* `targetsel diagnose --selection out/ --representation lexical --no-store -o diag/ --quiet`
* `targetsel diagnose --selection out/ --random-subsets 50 --seed 1 -o diag/`
"""


def _recorded(meta: dict, key: str, flag: str) -> Path:
    from targetsel.errors import ConfigurationError

    src = (meta.get(key) or {}).get("source")
    if not src or src == "<memory>" or not Path(src).exists():
        raise ConfigurationError(f"selection.json does not record a readable {key} path; pass {flag}")
    return Path(src)


def _query_sets(meta: dict, query: Path | None, split: str | None) -> Any:
    """The query set (``--query`` or the recorded one); for several targets, each target's recorded set."""
    from targetsel.errors import ConfigurationError

    block = meta.get("targets")
    if block is None:
        return load_data(query or _recorded(meta, "queries", "--query"), split=split)
    if query is not None:
        raise ConfigurationError(
            "this selection has several targets: their query sets are read from selection.json; drop --query"
        )
    out = {}
    for t in block["targets"]:
        src = t.get("source")
        if not src or src == "<memory>" or not Path(src).exists():
            raise ConfigurationError(f"selection.json does not record a readable query set for target {t['name']!r}")
        out[t["name"]] = load_data(Path(src), split=split)
    return out


def _print_targets(points: list) -> None:
    """Per budget and target: its picks and the distances of its picks and of the prefix to its queries."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="distance to each target's queries (W1 / NN q→s: its own picks; all: the whole prefix)")
    for col in ("budget", "target", "picks", "W1", "NN q→s", "W1 all", "NN q→s all"):
        table.add_column(col, justify="right")
    for p in points:
        for name, d in p.targets.items():
            w1 = "-" if d["w1"] is None else f"{d['w1']:.4f}"
            nn = "-" if d["mean_nn_query"] is None else f"{d['mean_nn_query']:.4f}"
            row = [str(p.budget), name, str(d["picks"]), w1, nn, f"{d['w1_all']:.4f}", f"{d['mean_nn_query_all']:.4f}"]
            table.add_row(*row)
    Console().print(table)


@app.command("diagnose", help=_HELP)
def diagnose_cmd(
    selection: Path = typer.Option(..., "--selection", "-s", help="Selection folder or its selection.json."),
    pool: Path | None = typer.Option(None, "--pool", help="The pool the selection was made from."),
    query: Path | None = typer.Option(None, "--query", help="The query set."),
    representation: str = typer.Option("embed", "--representation", "-r", help="Representation for distances."),
    model: str | None = typer.Option(None, "--model", "-m", help="Representation model name or path."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="Representation parameter key=value."),
    budgets: str | None = typer.Option(None, "--budgets", help="Prefix lengths, e.g. 100,500 (default: all picks)."),
    output: Path = typer.Option(Path("diagnosis"), "--output", "-o", help="Output folder."),
    store_dir: Path | None = typer.Option(
        None, "--store-dir", help="Feature-store cache (default ~/.cache/targetsel/stores)."
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Encode only the picks, in memory."),
    exact_limit: int = typer.Option(3000, "--exact-limit", help="Exact EMD up to this many points, Sinkhorn beyond."),
    random_subsets: int = typer.Option(
        20, "--random-subsets", help="Seeded random subsets per budget for the baseline (0: none; at most 10,000)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random baseline."),
    split: str | None = typer.Option(None, "--split", help="Split of datasets directories or hub datasets."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.cli._common import default_store_dir
    from targetsel.diagnose import diagnose_selection, load_selection
    from targetsel.diagnose.core import check_random_subsets
    from targetsel.errors import ConfigurationError
    from targetsel.pipeline import parse_budgets

    apply_quiet(quiet)
    check_representation(representation)
    check_random_subsets(random_subsets, "--random-subsets")
    if output.exists() and not output.is_dir():
        raise ConfigurationError(f"{output} exists and is not a folder; pass another --output")
    meta = load_selection(selection)
    budget_list = parse_budgets(budgets) if budgets else None
    if budget_list and budget_list[-1] > len(meta["picks"]):
        raise ConfigurationError(
            f"budget {budget_list[-1]} exceeds the {len(meta['picks'])} picks in the selection; choose smaller budgets"
        )
    pool_set = load_data(pool or _recorded(meta, "pool", "--pool"), split=split)
    query_set = _query_sets(meta, query, split)
    rep = build_representation(representation, model=model, **parse_options(param))
    diagnosis = diagnose_selection(
        meta,
        pool_set,
        query_set,
        rep,
        budgets=budget_list,
        store_dir=None if no_store else (store_dir or default_store_dir()),
        exact_limit=exact_limit,
        random_subsets=random_subsets,
        seed=seed,
    )
    paths = diagnosis.save(output)
    if not quiet:
        from rich.console import Console
        from rich.table import Table

        n_queries = sum(len(q) for q in query_set.values()) if isinstance(query_set, dict) else len(query_set)
        table = Table(title=f"{meta.get('method')} — distances in {representation} ({n_queries} queries)")
        cols = ["budget", "W1", "random W1", "pct / z", "MMD", "NN q→s", "covered", "top sources"]
        for col in cols:
            table.add_column(col, justify="right", overflow="fold")
        for p in diagnosis.points:
            top = ", ".join(f"{k} {v}" for k, v in list(p.composition.items())[:3]) or "-"
            rnd = "-" if p.random_mean is None else f"{p.random_mean:.4f}±{p.random_std or 0:.4f}"
            vs = "-"
            if p.random_percentile is not None:
                vs = f"{p.random_percentile:.0f}%" + ("" if p.random_z is None else f" {p.random_z:+.1f}")
            table.add_row(
                str(p.budget),
                f"{p.w1:.4f}",
                rnd,
                vs,
                f"{p.mmd:.4f}",
                f"{p.mean_nn_query:.4f}",
                f"{p.covered_fraction:.0%}",
                top,
            )
        Console().print(table)
        if any(p.targets for p in diagnosis.points):
            _print_targets(diagnosis.points)
        typer.echo(f"wrote {', '.join(str(p) for p in paths)}")
