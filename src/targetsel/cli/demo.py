"""``targetsel demo``: a real selection on the bundled demo pool, scored against its labels."""

from __future__ import annotations

from pathlib import Path

import typer

from targetsel.cli._app import app, generated_help
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    build_representation,
    check_choice,
    check_method,
    check_representation,
    default_store_dir,
    parse_options,
)
from targetsel.cli.components import choices_text

__all__ = ["demo_cmd"]

_HELP = """Run selection on the bundled demo (offline) and report how on-target the picks are.

The demo pool has ~2,400 instruction examples in 10 task families, each row labelled with its
`source`; the target tasks are `math`, `dates` and the real HumanEval (`humaneval`). For each
task, the selected subset's precision is the share of picks whose source is the task's family.

**Examples**

* `targetsel demo`
* `targetsel demo --task humaneval --method doubly_greedy --budget 200`
* `targetsel demo --representation lexical --output demo-out/`
* `targetsel demo --representation gradient --task math --budget 20` (LESS with the offline SmolLM2-135M:
  a short cached warmup, then gradient features of a 150-row pool sample; minutes on a CPU)
"""


_GENERATED = generated_help(
    representation=lambda: f"{choices_text('representations')}.",
    method=lambda: f"{choices_text('selectors')} (parameters: `targetsel components selectors`).",
)


@app.command("demo", help=_HELP, cls=_GENERATED)
def demo_cmd(
    task: str = typer.Option("all", "--task", help="math, dates, humaneval or all."),
    representation: str = typer.Option("embed", "--representation", "-r", help="A registered representation."),
    method: str = typer.Option("round_robin", "--method", help="A registered selection method."),
    budget: int = typer.Option(100, "--budget", "-b", help="Examples to select per task."),
    model: str | None = typer.Option(None, "--model", "-m", help="Representation model name or path."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="Representation parameter key=value."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also export each task's subset here."),
    no_store: bool = typer.Option(False, "--no-store", help="Encode in memory; write no feature store."),
    quiet: bool = QUIET,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from targetsel.data import load_pool, load_queries
    from targetsel.demo import DEMO_TASKS, RELEVANT_SOURCES, demo_pool_path, demo_query_path
    from targetsel.errors import ConfigurationError
    from targetsel.pipeline import run_selection

    apply_quiet(quiet)
    tasks = list(DEMO_TASKS) if check_choice("--task", task, ("all", *DEMO_TASKS)) == "all" else [task]
    check_representation(representation)
    check_method(method)
    if budget <= 0:
        raise ConfigurationError(f"--budget must be at least 1, got {budget}")
    pool = load_pool(demo_pool_path())
    options = parse_options(param)
    if representation in ("gradient", "hidden"):  # LM features: a pool sample (+ a cached LESS warmup)
        from targetsel.train.demo import lm_demo_setup

        pool, options = lm_demo_setup(representation, model, pool, options, quiet=quiet)
    rep = build_representation(representation, model=model, **options)
    sources = pool.column("source")
    assert sources is not None  # the bundled pool names every row's source
    table = Table(title=f"targetsel demo: {representation} + {method}, budget {budget}, pool {len(pool)}")
    for col in ("task", "queries", f"precision@{budget}", "top sources"):
        table.add_column(col)
    for t in tasks:
        queries = load_queries(demo_query_path(t, "dev"))
        result = run_selection(
            pool,
            queries,
            rep,
            method=method,
            budgets=[budget],
            output=None if output is None else output / t,
            store_dir=None if no_store else default_store_dir(),
        )
        picks = result.ranking.indices[:budget]
        precision = sum(sources[int(i)] in RELEVANT_SOURCES[t] for i in picks) / budget
        top = ", ".join(f"{s} {n}" for s, n in result.summaries[0]["top_sources"][:3])
        table.add_row(t, str(len(queries)), f"{precision:.2f}", top)
    Console().print(table)
