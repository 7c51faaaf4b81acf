"""``targetsel diagnose``: subset–query distances, coverage and composition of a selection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from targetsel.cli._app import app
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    build_representation,
    check_representation,
    load_data,
    parse_options,
    parse_query_targets,
)

if TYPE_CHECKING:
    from targetsel.diagnose.result import DiagnosisPoint

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
(`select --query NAME=PATH ...`) is measured against the union of their query sets, and two more tables
give, per budget and target, the distances (W1, MMD, NN) of the whole prefix and of that target's own
picks to its queries, and the sources of its picks. `--query NAME=PATH`, repeated, gives the targets'
query sets (each target of such a selection, under its name; or, for a selection of one target, any
query sets to measure it against, each separately); a bare `--query PATH` is the one query set.

**Examples**

* `targetsel diagnose --selection selection/ -o diag/`
* `targetsel diagnose --selection out/ --pool pool.jsonl --query q.jsonl --budgets 100,500,1000 -o diag/`
* `targetsel diagnose --selection out/ --representation lexical --no-store -o diag/ --quiet`
* `targetsel diagnose --selection out/ --random-subsets 50 --seed 1 -o diag/`
* `targetsel diagnose --selection out/ --query math=gsm8k_test.jsonl --query code=mbpp_test.jsonl -o diag/`
  (distances to each target's query set separately, and to their union)
"""


def _recorded(meta: dict[str, Any], key: str, flag: str) -> Path:
    from targetsel.errors import ConfigurationError

    src = (meta.get(key) or {}).get("source")
    if not src or src == "<memory>" or not Path(src).exists():
        raise ConfigurationError(f"selection.json does not record a readable {key} path; pass {flag}")
    return Path(src)


def _query_sets(meta: dict[str, Any], given: dict[str, Path] | Path | None, split: str | None) -> Any:
    """The query set(s) to measure against: ``--query`` (parsed: one path, or ``{name: path}``), else the
    recorded ones."""
    from targetsel.errors import ConfigurationError

    if isinstance(given, dict):
        return {name: load_data(path, split=split) for name, path in given.items()}
    block = meta.get("targets")
    if block is None:
        return load_data(given or _recorded(meta, "queries", "--query"), split=split)
    if given is not None:
        raise ConfigurationError(
            "this selection has several targets: give each as --query NAME=PATH, or drop --query to read "
            "them from selection.json"
        )
    out = {}
    for t in block["targets"]:
        src = t.get("source")
        if not src or src == "<memory>" or not Path(src).exists():
            raise ConfigurationError(
                f"selection.json does not record a readable query set for target {t['name']!r}; "
                f"pass --query {t['name']}=PATH for each target"
            )
        out[t["name"]] = load_data(Path(src), split=split)
    return out


def _print_targets(points: list[DiagnosisPoint]) -> None:
    """Per budget and target: the distances of the whole prefix to its queries and, when the picks name
    their target, the target's picks, their distances and their top sources (two tables, to stay narrow)."""
    from rich.console import Console
    from rich.table import Table

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    def table(title: str, caption: str, cols: list[str], rows: list[list[str]]) -> Table:
        out = Table(title=title, caption=caption)
        for col in cols:
            out.add_column(col, justify="right", overflow="fold")
        for row in rows:
            out.add_row(*row)
        return out

    per = [(p.budget, name, d) for p in points for name, d in p.targets.items()]
    console = Console()
    console.print(
        table(
            "distance to each target's queries",
            "of the whole prefix (every target's picks)",
            ["budget", "target", "W1", "MMD", "NN q→s"],
            [[str(b), n, num(d["w1_all"]), num(d["mmd_all"]), num(d["mean_nn_query_all"])] for b, n, d in per],
        )
    )
    if all(d["picks"] is None for _, _, d in per):
        return
    rows = []
    for b, n, d in per:
        top = ", ".join(f"{k} {v}" for k, v in list((d.get("composition") or {}).items())[:2]) or "-"
        rows.append([str(b), n, str(d["picks"]), num(d["w1"]), num(d["mmd"]), num(d["mean_nn_query"]), top])
    console.print(
        table(
            "each target's own picks",
            "distance to that target's queries; its top sources",
            ["budget", "target", "picks", "W1", "MMD", "NN q→s", "top sources"],
            rows,
        )
    )


@app.command("diagnose", help=_HELP)
def diagnose_cmd(
    selection: Path = typer.Option(..., "--selection", "-s", help="Selection folder or its selection.json."),
    pool: Path | None = typer.Option(None, "--pool", help="The pool the selection was made from."),
    query: list[str] | None = typer.Option(
        None,
        "--query",
        help="The query set; repeat as NAME=PATH to measure against several targets' query sets, each separately.",
    ),
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
    from targetsel.report.figures import save_diagnosis

    apply_quiet(quiet)
    check_representation(representation)
    check_random_subsets(random_subsets, "--random-subsets")
    given_queries = parse_query_targets(query)
    if output.exists() and not output.is_dir():
        raise ConfigurationError(f"{output} exists and is not a folder; pass another --output")
    meta = load_selection(selection)
    budget_list = parse_budgets(budgets) if budgets else None
    if budget_list and budget_list[-1] > len(meta["picks"]):
        raise ConfigurationError(
            f"budget {budget_list[-1]} exceeds the {len(meta['picks'])} picks in the selection; choose smaller budgets"
        )
    pool_set = load_data(pool or _recorded(meta, "pool", "--pool"), split=split)
    query_set = _query_sets(meta, given_queries, split)
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
    paths = save_diagnosis(diagnosis, output)
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
