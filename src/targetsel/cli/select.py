"""``targetsel select``: encode (reusing stores), score, select and export in one command."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer

from targetsel.cli._app import app, generated_help
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    check_choice,
    check_method,
    check_representation,
    default_store_dir,
    load_data,
    parse_device,
    parse_options,
    parse_query_targets,
    representation_from_cli,
    validate_method_params,
)
from targetsel.cli.components import choices_text, help_section

__all__ = ["print_summaries", "select_cmd"]

_HELP = """Select a subset of a pool for a target task and export it.

Encodes the pool and the query set (reusing feature stores from `--store-dir` when they exist),
scores every query against every candidate, ranks the pool with `--method`, and writes the first
`--budget` rows (or one folder per budget with `--budgets`) plus `selection.json`.
With no `--pool`/`--query`, runs on the bundled demo pool and the demo task `--task`.

**Examples**

* `targetsel select` (bundled demo, math task, embed + round-robin, budget 100)
* `targetsel select --pool pool.jsonl --query gsm8k_dev.jsonl --budget 1000 --output out/`
* `targetsel select --pool evals-mix --query math=gsm8k --query code=mbpp --mix weights:math=2,code=1 -b 1000 -o out/`
  (several targets, one budget: each ranked on its own queries, the rankings interleaved by share without
  repeats; `--mix equal` (default), `proportional` (to query-set size) or `joint` (the union as one query set))
* `targetsel select --pool pool.jsonl --query q.jsonl --budgets 500,1000,2500 --method doubly_greedy -o out/`
* `targetsel select --task humaneval --representation lexical --method random --method-param seed=3`
* `targetsel select --pool pool.jsonl --query q.jsonl -r gradient -m smollm2-135m --checkpoints warmup/ -b 1000 -o out/`
  (LESS: Σ over checkpoints of learning-rate-weighted cosine similarities)
* `targetsel select ... -r gradient --checkpoints warmup/ -p feature_dtype=bit` (1-bit LESS pool stores: 1/32 of
  the bytes; queries stay float32) and `--query-dtype bit` (queries binarised too: exact integer scoring)
* `targetsel select --method uot --method-param reg=0.01 --method-param reg_m_candidate=1e-4`
* `targetsel select --method knn_uniform --method-param alpha=0.01 --method-param C=5 --budgets 50,100`
* `targetsel select --method knn_kde --method-param sigma=0.75 --method-param kde_neighbors=1000`
* `targetsel select --method quantiles --method-param q=10 --method-param n=20` (one ranking: the
  `n` best of each of `q` round-robin distance quantiles; `quantile` is recorded per pick)
* `targetsel select --budgets 20,50,100 -o out/ --html` (and open `out/explore.html`: see `targetsel explore`)
* `targetsel select --pool pool.jsonl --query dev.jsonl --test test.jsonl -b 1000 -o out/` (pool rows sharing a
  13-gram with a query or test item are removed before ranking and listed in `out/contamination.jsonl`)
* `targetsel select ... --decontaminate-by ngram:8,features:0.97` (8-grams, and cosine >= 0.97 to an item in the
  selection's representation); `--no-decontaminate` keeps every pool row
* `targetsel select ... --budgets 500,1000 --dedup 0.95 -o out/` (a pick whose cosine to an earlier pick is >= 0.95
  is skipped and the walk goes on down the ranking; skipped rows in `out/duplicates.jsonl`); `--dedup-by embed`
  compares embed features of the walked rows instead, `--dedup-text 0.8` word 5-shingle Jaccard

Decontamination is on by default: every pool row that shares a normalised word 13-gram with a query item (or
a `--test`/`--decontaminate` item; question or gold answer) is removed before ranking. Questions and answers
shorter than 13 words are matched whole from 8 words; shorter ones are skipped and counted.
"""


def _components_help() -> str:
    """The representations and methods with their parameters, as registered when the help is shown."""
    return (
        f"{help_section('representations')}\n\n{help_section('selectors')}\n\n"
        "Types and help of every parameter: `targetsel components`."
    )


def print_summaries(summaries: list[dict[str, Any]], title: str) -> None:
    """Print per-budget summaries as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    mixture = any("composition" in s for s in summaries)
    cols = ["budget", "mean max-sim (subset)", "mean max-sim (pool)", "top sources"]
    for col in cols + (["targets"] if mixture else []):
        table.add_column(col)
    for s in summaries:
        srcs = ", ".join(f"{name} {n}" for name, n in s["top_sources"]) or "-"
        row = [str(s["budget"]), f"{s['mean_max_similarity']:.3f}", f"{s['pool_mean_max_similarity']:.3f}", srcs]
        if mixture:
            row.append(", ".join(f"{name} {n}" for name, n in s.get("composition", [])))
        table.add_row(*row)
    Console().print(table)


def _check_choices(task: str, representation: str, method: str, export_format: str | None, query_dtype: str) -> None:
    """The flags with a closed set of values, before any work."""
    from targetsel.demo import DEMO_TASKS
    from targetsel.score.integer import QUERY_DTYPES

    check_choice("--task", task, DEMO_TASKS)
    check_representation(representation)
    check_method(method)
    from targetsel.export import EXPORT_FORMATS

    if export_format is not None:
        check_choice("--format", export_format, EXPORT_FORMATS)
    check_choice("--query-dtype", query_dtype, QUERY_DTYPES)


def _inputs(
    pool: Path | None,
    query: Path | dict[str, Path] | None,
    task: str,
    budget: int | None,
    budgets: str | None,
    method: str,
) -> tuple[Path, Path | dict[str, Path], int | None]:
    """Check the flags; the pool and query paths (the demo's without ``--pool``/``--query``) and the budget."""
    from targetsel.errors import ConfigurationError

    if (pool is None) != (query is None):
        raise ConfigurationError("give both --pool and --query, or neither (to run on the bundled demo)")
    if budget is not None and budgets is not None:
        raise ConfigurationError("give --budget or --budgets, not both")
    if pool is None:
        from targetsel.demo import demo_pool_path, demo_query_path

        budget = budget if budget is not None or budgets is not None else 100
        return demo_pool_path(), demo_query_path(task, "dev"), budget
    if budget is None and budgets is None and method != "quantiles":
        raise ConfigurationError("give --budget B or --budgets B1,B2,...")
    assert query is not None  # given with --pool (checked above)
    return pool, query, budget


def _method_params(method: str, method_param: list[str] | None, seed: int | None) -> dict[str, Any]:
    """The selection method's parameters from ``--method-param`` and ``--seed``, checked."""
    mparams = parse_options(method_param)
    if seed is not None:
        mparams["seed"] = seed
    return validate_method_params(method, mparams)


def _budget_list(
    budget: int | None, budgets: str | None, quantile_params: dict[str, Any] | None, n_pool: int
) -> list[int]:
    """The budgets; with ``quantile_params`` (quantiles, no budget given) the ``q·n`` picks of its ranking."""
    from targetsel.pipeline import parse_budgets

    if quantile_params is not None:
        # the quantile experiment's selection is the first q·n picks of its ranking
        from targetsel.select import get_selector

        qsel = get_selector("quantiles", **quantile_params)
        budget = min(qsel.q * qsel.n, n_pool)  # type: ignore[attr-defined]  # the quantiles selector's q and n
    return parse_budgets(budgets if budgets is not None else budget)  # type: ignore[arg-type]  # one is set: _inputs


def _decontamination(
    test: list[Path] | None,
    decontaminate: list[Path] | None,
    decontaminate_by: list[str] | None,
    no_decontaminate: bool,
    split: str | None,
    skip_invalid: bool,
) -> tuple[Any, list[tuple[str, Any]]]:
    """The decontamination settings (``False`` when off) and the evaluation sets besides the query set."""
    from targetsel.decontaminate import parse_methods
    from targetsel.errors import ConfigurationError

    files = [*(test or []), *(decontaminate or [])]
    if no_decontaminate:
        given = [
            f
            for f, v in (("--test", test), ("--decontaminate", decontaminate), ("--decontaminate-by", decontaminate_by))
            if v
        ]
        if given:
            raise ConfigurationError(f"--no-decontaminate turns decontamination off; drop it or drop {given[0]}")
        return False, []
    settings = parse_methods(decontaminate_by)
    sets: list[tuple[str, Any]] = []
    for f in dict.fromkeys(files):
        sets.append((str(f), load_data(f, split=split, skip_invalid=skip_invalid)))
    return settings, sets


def _dedup(dedup: str | None, dedup_by: str | None, dedup_text: str | None) -> Any:
    """The near-duplicate settings from ``--dedup``/``--dedup-by``/``--dedup-text`` (``None``: off), checked."""
    from targetsel.errors import ConfigurationError
    from targetsel.select.dedup import DEDUP_BY, DedupSettings, parse_threshold

    if dedup_by is not None:
        check_choice("--dedup-by", dedup_by, DEDUP_BY)
        if dedup is None:
            raise ConfigurationError("--dedup-by needs --dedup THRESHOLD (the cosine threshold)")
    if dedup is None and dedup_text is None:
        return None
    return DedupSettings(
        threshold=None if dedup is None else parse_threshold(dedup, "--dedup"),
        by=dedup_by or "selection",
        text_threshold=None if dedup_text is None else parse_threshold(dedup_text, "--dedup-text"),
    )


def _write_html(
    result: Any, output: Path, budget_list: list[int], pool_set: Any, query_set: Any, *, quiet: bool
) -> None:
    """One explorer page for every budget (prefixes of the largest), where the selection's page goes."""
    from targetsel.explore import write_page

    page = write_page(output, pool=pool_set, queries=query_set, budgets=budget_list)
    if not quiet:
        typer.echo(f"explorer page: {page}")


def _mix(mix: str | None, query: list[str] | None) -> Any:
    """The ``--mix`` settings, checked before any work (``None``: the default, equal shares)."""
    from targetsel.errors import ConfigurationError
    from targetsel.select.mixture import MixSettings

    if mix is None:
        return None
    if len(query or []) < 2:
        raise ConfigurationError("--mix shares the budget among several targets: give --query NAME=PATH more than once")
    return MixSettings.parse(mix)


_GENERATED = generated_help(
    _components_help,
    representation=lambda: f"{choices_text('representations')} (their parameters: above).",
    method=lambda: f"{choices_text('selectors')} (their parameters: above).",
)


@app.command("select", help=_HELP, cls=_GENERATED)
def select_cmd(
    pool: Path | None = typer.Option(None, "--pool", help="Candidate pool (file, datasets directory or hub name)."),
    query: list[str] | None = typer.Option(
        None,
        "--query",
        help="Target-task query set (file, folder or data name); repeat as NAME=PATH for several targets "
        "sharing the budget.",
    ),
    mix: str | None = typer.Option(
        None,
        "--mix",
        help="Several targets: equal (default), proportional (to query-set size), weights:NAME=W,... or "
        "joint (their union as one query set).",
    ),
    task: str = typer.Option("math", "--task", help="Demo task when no --pool/--query: math, dates or humaneval."),
    budget: int | None = typer.Option(
        None, "--budget", "-b", help="Number of examples to select (default 100 on the demo)."
    ),
    budgets: str | None = typer.Option(None, "--budgets", help="Several budgets, e.g. 500,1000,2500: one folder each."),
    representation: str = typer.Option(
        "embed", "--representation", "-r", help="A registered representation (listed above)."
    ),
    method: str = typer.Option("round_robin", "--method", help="A registered selection method (listed above)."),
    output: Path = typer.Option(Path("selection"), "--output", "-o", help="Output directory."),
    model: str | None = typer.Option(None, "--model", "-m", help="Representation model name or path."),
    param: list[str] | None = typer.Option(
        None, "--param", "-p", help="Representation parameter key=value (see the list above)."
    ),
    checkpoints: list[Path] | None = typer.Option(
        None, "--checkpoints", help="gradient: warmup checkpoint dirs, or a warmup output folder (repeatable)."
    ),
    method_param: list[str] | None = typer.Option(
        None, "--method-param", help="Selection parameter key=value (see the list above)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of seeded methods (random)."),
    top_k: int | None = typer.Option(None, "--top-k", help="Streaming top-k per query (0: always dense)."),
    store_dir: Path | None = typer.Option(
        None, "--store-dir", help="Feature-store cache (default ~/.cache/targetsel/stores)."
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Encode in memory; write no feature store."),
    export_format: str | None = typer.Option(
        None,
        "--format",
        help="jsonl (TRL), parquet, hf (datasets.save_to_disk), llamafactory (+ dataset_info.json) or "
        "axolotl (+ its datasets: block); default: the -o file's (sub.parquet), else jsonl.",
    ),
    split: str | None = typer.Option(None, "--split", help="Split of datasets directories or hub datasets."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip invalid rows instead of stopping."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace feature stores written for other inputs."),
    device: str | None = typer.Option(
        None, "--device", help="Scoring device: cpu (default), cuda, cuda:N or auto (cuda when there is one)."
    ),
    query_dtype: str = typer.Option(
        "float", "--query-dtype", help="float, or int8/bit: integer scoring of int8/bit stores (fastest)."
    ),
    html: bool = typer.Option(False, "--html", help="Also write explore.html beside the subset (`targetsel explore`)."),
    test: list[Path] | None = typer.Option(
        None, "--test", help="Test split of the target task: its items are decontaminated against (repeatable)."
    ),
    decontaminate: list[Path] | None = typer.Option(
        None, "--decontaminate", help="Another evaluation file whose items are decontaminated against (repeatable)."
    ),
    decontaminate_by: list[str] | None = typer.Option(
        None,
        "--decontaminate-by",
        help="ngram[:N] (default ngram:13) and/or features:THRESHOLD (cosine); repeatable or a comma list.",
    ),
    no_decontaminate: bool = typer.Option(
        False, "--no-decontaminate", help="Keep every pool row: no decontamination against query/test items."
    ),
    dedup: str | None = typer.Option(
        None, "--dedup", help="Skip a pick whose cosine to an earlier pick is >= THRESHOLD, in (0, 1] (e.g. 0.95)."
    ),
    dedup_by: str | None = typer.Option(
        None, "--dedup-by", help="Features of --dedup: selection (default: the selection's own) or embed."
    ),
    dedup_text: str | None = typer.Option(
        None, "--dedup-text", help="Skip a pick whose word 5-shingle Jaccard to an earlier pick is >= THRESHOLD."
    ),
    quiet: bool = QUIET,
) -> None:
    from targetsel.distributed import join_ranks, rank_path, serve_selection
    from targetsel.errors import ConfigurationError
    from targetsel.pipeline import run_selection

    ranks = join_ranks()  # under torchrun: rank 0 selects, every rank scores its own shards of the pool
    with ranks if ranks is not None else nullcontext():
        apply_quiet(quiet or (ranks is not None and not ranks.is_driver))  # progress bars on rank 0 only
        if ranks is not None and no_store:
            raise ConfigurationError(
                "under torchrun each rank encodes and scores its own shards of the pool's feature stores; "
                "drop --no-store (and give --store-dir, where '{rank}' makes a directory per rank)"
            )
        _check_choices(task, representation, method, export_format, query_dtype)
        device = parse_device(device)
        quantile_default = method == "quantiles" and budget is None and budgets is None
        mix_settings = _mix(mix, query)
        pool_path, query_path, budget = _inputs(pool, parse_query_targets(query), task, budget, budgets, method)
        mparams = _method_params(method, method_param, seed)
        dedup_settings = _dedup(dedup, dedup_by, dedup_text)
        decon, evaluation = _decontamination(
            test, decontaminate, decontaminate_by, no_decontaminate, split, skip_invalid
        )
        pool_set = load_data(pool_path, split=split, skip_invalid=skip_invalid)
        budget_list = _budget_list(budget, budgets, mparams if quantile_default else None, len(pool_set))
        if isinstance(query_path, dict):
            query_set: Any = {n: load_data(p, split=split, skip_invalid=skip_invalid) for n, p in query_path.items()}
        else:
            query_set = load_data(query_path, split=split, skip_invalid=skip_invalid)
        rep = representation_from_cli(representation, model, param, checkpoints)
        stores = None if no_store else (store_dir or default_store_dir())
        if ranks is not None:
            stores = rank_path(stores, ranks.rank)  # type: ignore[arg-type]  # set: --no-store is refused above
            if not ranks.is_driver:
                serve_selection(ranks, pool_set, rep, store_dir=stores, overwrite=overwrite)
                return
        result = run_selection(
            pool_set,
            query_set,
            rep,
            mix=mix_settings,
            method=method,
            method_params=mparams,
            budgets=budget_list,
            output=output,
            store_dir=stores,
            overwrite=overwrite,
            top_k=top_k,
            export_format=export_format,
            device=device,
            query_dtype=query_dtype,
            evaluation=evaluation,
            decontaminate=decon,
            dedup=dedup_settings,
            ranks=ranks,
        )
        if not quiet:
            if result.targets is None:
                title = f"{representation} + {method}: {len(query_set)} queries, {len(pool_set)} candidates"
            else:
                sizes = ", ".join(f"{n} {len(es)}" for n, es in result.targets)
                assert result.mix is not None  # set together with targets
                mixed = result.mix.describe()
                title = f"{representation} + {method}, mix {mixed}: queries {sizes}; {len(pool_set)} candidates"
            print_summaries(result.summaries, title)
            for b, (subset, _) in result.outputs.items():
                typer.echo(f"budget {b}: {subset}")
            if result.contamination is not None:
                typer.echo(result.contamination.summary(result.contamination_path))
            if result.dedup is not None:
                typer.echo(result.dedup.summary(result.dedup_path))
        if html:
            _write_html(result, output, budget_list, pool_set, query_set, quiet=quiet)
