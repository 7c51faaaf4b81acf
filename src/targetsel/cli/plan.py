"""``targetsel plan``: what each stage of a selection run costs, before running it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet, check_choice, check_model, load_data, parse_options
from targetsel.cli.components import representations_help
from targetsel.errors import ConfigurationError
from targetsel.plan.stages import PLAN_DEFAULTS

__all__ = ["plan_cmd"]

_HELP = """Plan a selection run: per stage (warmup, encode, score, select) the examples and tokens,
FLOPs, store bytes, peak RAM/VRAM, the time on this machine and the GPU-hours on named GPUs.

The pool is tokenised for real with the model's tokenizer and chat formatting; model and LoRA
parameters come from the model's config on PyTorch's `meta` device (no weights loaded); the time
here is calibrated by timing `--calibrate` pool examples through the representation itself; GPU
time is FLOPs / (peak bf16 FLOP/s × MFU), the MFU stated (`--mfu`, default 0.40) or measured by
`bench/gpu_bench.py --json` (`--gpu-bench`, default `$TARGETSEL_CACHE/gpu_bench.json`). Store
bytes are exact: shard files as the feature store writes them, for every feature dtype.

`-p key=value` takes the representation's parameters as `encode` and `select` do (`lora_r`,
`lora_alpha` and `target_modules` for `gradient`'s adapter; `ngram` for `lexical`; ...): unknown
names and wrong types are refused, and parameters that do not change the plan (`seed`) are
reported as left out. `--dim`, `--batch-size`, `--max-length` and `--feature-dtype` are the same
as `-p dim=...` and so on; given both ways with different values, the command stops. A
representation without one of these parameters (`lexical` has no batch size) leaves it unused.

**Examples**

* `targetsel plan` (the demo pool, LESS with SmolLM2-135M)
* `targetsel plan --pool pool.jsonl --model smollm2-135m -r gradient --checkpoints 4 --dim 8192`
* `targetsel plan --pool pool.jsonl -r gradient -p dim=8192 -p lora_r=64 -p lora_alpha=256 -p feature_dtype=bit`
* `targetsel plan --pool pool.jsonl -m meta-llama/Llama-2-7b-hf --feature-dtype float16 --gpus 8 --gpu h100`
* `targetsel plan --pool pool.parquet --query dev.jsonl -r hidden -m smollm2-135m --json`
* `targetsel plan --pool pool.jsonl -r embed` / `-r lexical` (encode, score, select only)
"""


def _plannable() -> tuple[str, ...]:
    from targetsel.plan import plan_representations

    return plan_representations()


_GENERATED = representations_help(_plannable)


@app.command("plan", help=_HELP, cls=_GENERATED)
def plan_cmd(
    pool: Path | None = typer.Option(None, "--pool", help="Candidate pool (default: the bundled demo pool)."),
    query: Path | None = typer.Option(
        None, "--query", help="Query set; its encode is planned too (default: --num-queries for scoring only)."
    ),
    num_queries: int = typer.Option(200, "--num-queries", help="Queries assumed for scoring when no --query."),
    representation: str = typer.Option(
        "gradient", "--representation", "-r", help="A representation with a planner (listed above)."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name or path (default: the representation's)."),
    checkpoints: int = typer.Option(4, "--checkpoints", help="gradient: warmup checkpoints (= epochs)."),
    param: list[str] | None = typer.Option(
        None, "--param", "-p", help="Representation parameter key=value, as for encode (repeatable)."
    ),
    dim: int | None = typer.Option(
        None, "--dim", help="-p dim=N: feature dimension.", show_default="the representation's"
    ),
    feature_dtype: str | None = typer.Option(
        None,
        "--feature-dtype",
        help="-p feature_dtype=D: pool store dtype, float32, float16, int8 or bit.",
        show_default="float32",
    ),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        help="-p batch_size=N: examples per forward/backward pass.",
        show_default=f"{PLAN_DEFAULTS['batch_size']}; embed: the representation's",
    ),
    max_length: int | None = typer.Option(
        None,
        "--max-length",
        help="-p max_length=N: maximum tokens per example.",
        show_default=str(PLAN_DEFAULTS["max_length"]),
    ),
    shard_size: int = typer.Option(4096, "--shard-size", help="Rows per store shard."),
    warmup_fraction: float = typer.Option(0.05, "--warmup-fraction", help="gradient: share of the pool warmed up on."),
    gpus: int = typer.Option(1, "--gpus", help="Number of GPUs."),
    gpu: str = typer.Option("h100", "--gpu", help="GPU: h100, h200, a100, l40s, a10g, l4."),
    mfu: float | None = typer.Option(
        None, "--mfu", help="Model FLOP utilisation on the GPU (default: measured or 0.40)."
    ),
    peak_tflops: float | None = typer.Option(None, "--peak-tflops", help="Peak bf16 TFLOP/s of another GPU."),
    gpu_bench: Path | None = typer.Option(
        None, "--gpu-bench", help="A bench/gpu_bench.py --json result to take the MFU from."
    ),
    calibrate: int = typer.Option(16, "--calibrate", help="Pool examples timed here (0: no model run)."),
    split: str | None = typer.Option(None, "--split", help="Split of a datasets directory or hub dataset."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip invalid rows instead of stopping."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as one JSON object."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.plan import PlanRequest, make_plan, plan_representations
    from targetsel.plan.measure import GPU_PEAK_TFLOPS, default_bench_path
    from targetsel.store import FEATURE_DTYPES

    apply_quiet(quiet or as_json)
    check_choice("--representation", representation, plan_representations())
    if feature_dtype is not None:
        check_choice("--feature-dtype", feature_dtype, FEATURE_DTYPES)
    aliases = {"dim": dim, "feature_dtype": feature_dtype, "batch_size": batch_size, "max_length": max_length}
    params = with_aliases(parse_options(param), aliases)
    if peak_tflops is None:  # with --peak-tflops any name labels the GPU
        check_choice("--gpu", gpu.lower(), GPU_PEAK_TFLOPS)
    if model is not None:
        check_model(model)
    if pool is None:
        from targetsel.demo import demo_pool_path

        pool = Path(demo_pool_path())
    if gpu_bench is not None and not gpu_bench.is_file():
        from targetsel.errors import MissingArtifactError

        what = "a folder, not a gpu_bench.py --json file" if gpu_bench.is_dir() else "no such file"
        raise MissingArtifactError(f"--gpu-bench {gpu_bench}: {what}")
    examples = load_data(pool, split=split, skip_invalid=skip_invalid)
    queries = load_data(query, split=split, skip_invalid=skip_invalid) if query is not None else None
    request = PlanRequest(
        representation=representation,
        model=model,
        num_queries=num_queries,
        checkpoints=checkpoints,
        params=params,
        shard_size=shard_size,
        warmup_fraction=warmup_fraction,
        gpus=gpus,
        gpu=gpu,
        mfu=mfu,
        peak_tflops=peak_tflops,
        bench=gpu_bench or default_bench_path(),
        calibrate=calibrate,
    )
    plan = make_plan(examples, request, query=queries)
    if as_json:
        typer.echo(json.dumps(plan.to_dict(), indent=2))
        return
    from rich.console import Console

    from targetsel.plan.render import plan_tables

    console = Console()
    for table in plan_tables(plan):
        console.print(table)


def with_aliases(params: dict[str, Any], aliases: dict[str, Any]) -> dict[str, Any]:
    """``params`` (from ``-p``) with the alias flags given (not ``None``) added under their key.

    Raises:
        ConfigurationError: an alias and ``-p`` give the same key different values.

    Example:
        >>> with_aliases({"dim": 64}, {"dim": 64, "batch_size": 4, "max_length": None})
        {'dim': 64, 'batch_size': 4}
        >>> with_aliases({"dim": 64}, {"dim": 32})
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: --dim 32 and -p dim=64 disagree; give the value once
    """
    out = dict(params)
    for key, value in aliases.items():
        if value is None:
            continue
        if key in out and out[key] != value:
            raise ConfigurationError(
                f"--{key.replace('_', '-')} {value} and -p {key}={out[key]} disagree; give the value once"
            )
        out[key] = value
    return out
