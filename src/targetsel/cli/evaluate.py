"""``targetsel evaluate``: query/test loss and downstream accuracy of a base or fine-tuned model."""

from __future__ import annotations

from pathlib import Path

import typer

from targetsel.cli._app import app
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    check_choice,
    check_dtype,
    check_model,
    load_data,
    parse_device,
)

__all__ = ["evaluate_cmd"]

_HELP = """Evaluate a model on a target task: query-set loss, test loss, downstream accuracy.

Without `--trained` the base model is evaluated (the zero-shot baseline); with it, a peft adapter
folder or a full model folder written by `targetsel train`. `true_metric` is the exact-match
accuracy of greedy generations against each row's `answer` (math: the number after `####`;
other tasks: the text after "The answer is"), or pass@1 for HumanEval-style rows with
`--allow-code-execution` (runs model-written code in a subprocess; use a sandbox).
With no `--query`, uses the bundled demo task `--task` (dev split as query set, test split as test).
For lm-evaluation-harness benchmarks (gsm8k, bbh, mmlu_pro...), run `lm_eval` on the adapter.

**Examples**

* `targetsel evaluate --model smollm2-135m --task math -o zero_shot.json`
* `targetsel evaluate --model smollm2-135m --trained runs/train/adapter --task dates --limit 50 -o eval.json`
* `targetsel evaluate --model my/model --query dev.jsonl --test test.jsonl --metrics dev_loss,test_loss -o e.json`
* `targetsel evaluate --model smollm2-135m --task humaneval --allow-code-execution --max-new-tokens 384`
"""


@app.command("evaluate", help=_HELP)
def evaluate_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Base model: folder, built-in name or hub name."),
    trained: Path | None = typer.Option(None, "--trained", "--adapter", help="Fine-tuned adapter or model folder."),
    query: Path | None = typer.Option(None, "--query", help="Query set (dev loss; accuracy when no --test)."),
    test: Path | None = typer.Option(None, "--test", help="Held-out test split (test loss, accuracy)."),
    task: str = typer.Option("math", "--task", help="Task name (answer format); demo task when no --query."),
    metrics: str | None = typer.Option(
        None, "--metrics", help="Comma list of dev_loss, test_loss, true_metric (default: all that apply)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="At most N examples for true_metric."),
    loss_limit: int | None = typer.Option(None, "--loss-limit", help="At most N examples per loss."),
    max_length: int = typer.Option(512, "--max-length", help="Token limit for losses."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation length."),
    batch_size: int = typer.Option(8, "--batch-size", help="Examples per forward/generate call."),
    answer_format: str | None = typer.Option(None, "--answer-format", help="number, exact, latex or humaneval."),
    allow_code_execution: bool = typer.Option(
        False, "--allow-code-execution", help="Run generated code for humaneval (unsafe outside a sandbox)."
    ),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    device: str | None = typer.Option(
        None, "--device", help="cpu, cuda, cuda:N or auto (default: cuda when there is one)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write metrics and predictions as JSON."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.errors import ConfigurationError
    from targetsel.evaluate import ANSWER_FORMATS, METRICS, EvalConfig, evaluate_model

    apply_quiet(quiet)
    check_dtype(dtype)
    device = parse_device(device)
    if answer_format is not None:
        check_choice("--answer-format", answer_format, ANSWER_FORMATS)
    else:  # a fetched target (targetsel data list) knows how its answers are scored
        from targetsel.data.real.base import parse_variant

        found = parse_variant(task.split(":", 1)[0])
        if found is not None and found[0].answer_format is not None:
            answer_format = found[0].answer_format
    if max_length < 2:  # one prompt token and one token to score, checked before the model loads
        raise ConfigurationError(f"--max-length must be at least 2, got {max_length}")
    if output is not None and output.is_dir():
        raise ConfigurationError(f"--output {output} is a folder; give a .json file path")
    if query is None and test is None:
        from targetsel.demo import demo_query_path

        query, test = demo_query_path(task, "dev"), demo_query_path(task, "test")
    if metrics is None:
        names = [m for m, ok in (("dev_loss", query), ("test_loss", test), ("true_metric", True)) if ok]
        code_task = answer_format == "humaneval" or (answer_format is None and task in ("humaneval", "codex"))
        if code_task and not allow_code_execution:
            names.remove("true_metric")
    else:
        names = [check_choice("--metrics", m.strip(), METRICS) for m in metrics.split(",") if m.strip()]
    cfg = EvalConfig(
        metrics=tuple(names),
        max_length=max_length,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        limit=limit,
        loss_limit=loss_limit,
        answer_format=answer_format,
        allow_code_execution=allow_code_execution,
        dtype=dtype,
        device=device,
    )
    if "true_metric" in cfg.metrics and cfg.format_for(task) == "humaneval" and not allow_code_execution:
        # the same refusal evaluate_model makes, before the model is loaded
        raise ConfigurationError(
            "true_metric on humaneval runs model-written code; pass --allow-code-execution (in a sandbox), "
            "or --metrics without true_metric"
        )
    check_model(model)  # after the flags: a bad flag is named even where the model is not here
    dev_set = load_data(query) if query is not None else None
    test_set = load_data(test) if test is not None else None
    result = evaluate_model(model, trained=trained, dev=dev_set, test=test_set, task=task, config=cfg)
    if output is not None:
        result.save(output)
    if not quiet:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{model}{' + ' + str(trained) if trained else ' (zero-shot)'} on {task}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in result.metrics.items():
            table.add_row(k, f"{v:.4f}")
        Console().print(table)
        if output is not None:
            typer.echo(f"wrote {output}")
