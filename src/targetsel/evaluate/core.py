"""Evaluate a model (base = zero-shot, or fine-tuned) on a target task with one code path.

Metrics (names as in the tidy results table):

* ``dev_loss``: cross-entropy on the query set (the paper's ``dev`` loss);
* ``test_loss``: cross-entropy on a held-out test split;
* ``true_metric``: the downstream score in ``[0, 1]``, exact-match accuracy of greedy generations
  (answer formats in :mod:`targetsel.evaluate.answers`), or pass@1 for ``humaneval`` (opt-in code
  execution, :mod:`targetsel.evaluate.code`). Computed on the test split when given, else on the
  query set.

Example:
    >>> cfg = EvalConfig(metrics=("dev_loss",), max_length=128)
    >>> cfg.metrics
    ('dev_loss',)
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from targetsel.atomic import atomic_write_text
from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError
from targetsel.evaluate.answers import ANSWER_FORMATS, default_answer_format, gold_answers, matches_gold

logger = logging.getLogger(__name__)

__all__ = ["METRICS", "EvalConfig", "EvalResult", "evaluate_loaded", "evaluate_model", "load_for_eval"]

METRICS = ("dev_loss", "test_loss", "true_metric")


@dataclass
class EvalConfig:
    """Settings of :func:`evaluate_model`.

    Example:
        >>> EvalConfig(limit=20).limit
        20
    """

    metrics: tuple[str, ...] = field(default=METRICS, metadata={"help": "Among dev_loss, test_loss, true_metric."})
    max_length: int = field(default=512, metadata={"help": "Token limit of loss evaluation."})
    batch_size: int = field(default=8, metadata={"help": "Examples per forward/generate call."})
    max_new_tokens: int = field(default=256, metadata={"help": "Generation length for true_metric."})
    limit: int | None = field(default=None, metadata={"help": "Use at most the first N examples for true_metric."})
    loss_limit: int | None = field(default=None, metadata={"help": "Use at most the first N examples for losses."})
    answer_format: str | None = field(
        default=None, metadata={"help": "number, exact, latex, humaneval (default by task)."}
    )
    allow_code_execution: bool = field(default=False, metadata={"help": "Run generated code (humaneval)."})
    code_timeout: float = field(default=10.0, metadata={"help": "Seconds per humaneval program."})
    lm_eval_tasks: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "lm-evaluation-harness tasks to run too (needs `pip install lm-eval`; hub benchmarks need "
            "network); `local` runs this task's own test file through lm-eval, offline."
        },
    )
    lm_eval_limit: int | None = field(default=None, metadata={"help": "At most N documents per lm-eval task."})
    lm_eval_fewshot: int | None = field(default=None, metadata={"help": "lm-eval few-shot count (task default)."})
    dtype: str = field(default="float32", metadata={"help": "Model dtype."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda or auto."})

    def __post_init__(self) -> None:
        self.metrics = tuple(self.metrics)
        self.lm_eval_tasks = tuple(self.lm_eval_tasks)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ConfigurationError(f"evaluation metrics must be among {', '.join(METRICS)}, got {list(self.metrics)}")
        for name in ("max_length", "batch_size", "max_new_tokens"):
            if int(getattr(self, name)) <= 0:
                raise ConfigurationError(f"evaluate.{name} must be positive, got {getattr(self, name)}")
        for name in ("limit", "loss_limit"):
            v = getattr(self, name)
            if v is not None and int(v) <= 0:
                raise ConfigurationError(f"evaluate.{name} must be positive or null, got {v}")
        if self.answer_format is not None and self.answer_format not in ANSWER_FORMATS:
            raise ConfigurationError(
                f"evaluate.answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {self.answer_format!r}"
            )
        if self.code_timeout <= 0:
            raise ConfigurationError(f"evaluate.code_timeout must be positive, got {self.code_timeout}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EvalConfig:
        """Build from a mapping, rejecting unknown keys with the list of valid ones."""
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigurationError(f"unknown evaluate setting(s) {unknown}; valid: {', '.join(sorted(names))}")
        return cls(**data)

    def format_for(self, task: str) -> str:
        """The answer format used for ``task``."""
        return self.answer_format or default_answer_format(task)


@dataclass
class EvalResult:
    """Metrics and per-example details of one evaluation.

    Attributes:
        metrics: ``{metric: value}``.
        details: Per-example losses, predictions and correctness.
        info: Model, adapter, task, settings, seconds.
    """

    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "info": self.info, "details": self.details}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON, atomically."""
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(dest, json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return dest


def _head(examples: ExampleSet, limit: int | None) -> ExampleSet:
    return examples if limit is None or limit >= len(examples) else examples.select(range(limit))


def evaluate_loaded(
    model: Any,
    tokenizer: Any,
    *,
    dev: ExampleSet | None = None,
    test: ExampleSet | None = None,
    task: str = "",
    config: EvalConfig | None = None,
) -> EvalResult:
    """Evaluate an already loaded model (see :func:`evaluate_model`)."""
    from targetsel.evaluate.generation import generate
    from targetsel.evaluate.loss import example_losses

    cfg = config or EvalConfig()
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    for name, data in (("dev_loss", dev), ("test_loss", test)):
        if name not in cfg.metrics:
            continue
        if data is None:
            raise ConfigurationError(f"{name} needs the {'query' if name == 'dev_loss' else 'test'} set; give it")
        data = _head(data, cfg.loss_limit)
        losses = example_losses(model, tokenizer, data, max_length=cfg.max_length, batch_size=cfg.batch_size, desc=name)
        metrics[name] = float(losses.mean())
        details[name] = [round(float(x), 6) for x in losses]
    if "true_metric" in cfg.metrics:
        data = test if test is not None else dev
        if data is None:
            raise ConfigurationError("true_metric needs a test set (or the query set); give one")
        data = _head(data, cfg.limit)
        kind = cfg.format_for(task)
        if kind == "humaneval" and not cfg.allow_code_execution:
            raise ConfigurationError(
                "true_metric on humaneval runs model-written code; enable it explicitly with "
                "allow_code_execution (CLI --allow-code-execution), or drop true_metric"
            )
        outputs = generate(
            model, tokenizer, data, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, desc="generate"
        )
        if kind == "humaneval":
            from targetsel.evaluate.code import run_completion

            missing = [c for c in ("entry_point", "test") if data.column(c) is None]
            if missing:
                raise InvalidDataError(f"humaneval evaluation needs the column(s) {', '.join(missing)}")
            rows = list(data.rows())
            correct = [run_completion(r, o, timeout=cfg.code_timeout) for r, o in zip(rows, outputs, strict=True)]
            golds: list[str | list[str] | None] = [None] * len(rows)
        else:
            golds = gold_answers(data, kind)
            correct = [matches_gold(o, g, kind) for o, g in zip(outputs, golds, strict=True)]
        metrics["true_metric"] = float(np.mean(correct))
        details["true_metric"] = [
            {"id": data.ids[i], "output": outputs[i], "gold": golds[i], "correct": bool(correct[i])}
            for i in range(len(data))
        ]
        details["answer_format"] = kind
    if cfg.lm_eval_tasks:
        metrics.update(_lm_eval_metrics(model, tokenizer, dev=dev, test=test, task=task, config=cfg))
    return EvalResult(metrics, details, {"task": task, "config": asdict(cfg)})


def _lm_eval_metrics(
    model: Any, tokenizer: Any, *, dev: ExampleSet | None, test: ExampleSet | None, task: str, config: EvalConfig
) -> dict[str, float]:
    import tempfile

    from targetsel.evaluate.harness import local_task, run_lm_eval, write_local_docs

    with tempfile.TemporaryDirectory(prefix="targetsel-lmeval-") as tmp:
        tasks: list[str | dict[str, Any]] = []
        for name in config.lm_eval_tasks:
            if name != "local":
                tasks.append(name)
                continue
            data = test if test is not None else dev
            if data is None:
                raise ConfigurationError("lm_eval task `local` needs the task's test (or query) set")
            kind = config.format_for(task)
            if kind == "humaneval":
                raise ConfigurationError("lm_eval task `local` supports number/exact answers, not humaneval")
            docs = write_local_docs(tokenizer, _head(data, config.limit), Path(tmp) / "docs.jsonl", kind=kind)
            tasks.append(
                local_task(f"{task or 'task'}_local", docs, answer_format=kind, max_gen_toks=config.max_new_tokens)
            )
        found = run_lm_eval(
            model,
            tokenizer,
            tasks,
            limit=config.lm_eval_limit,
            num_fewshot=config.lm_eval_fewshot,
            batch_size=config.batch_size,
        )
    return {f"lm_eval:{k}": v for k, v in found.items()}


def load_for_eval(
    model: str, trained: str | os.PathLike[str] | None = None, *, dtype: str = "float32", device: str | None = None
) -> tuple[Any, Any]:
    """Load a base model, or a fine-tuned one: a peft adapter folder on top of ``model``, or a full model folder.

    Example:
        >>> # lm, tok = load_for_eval("smollm2-135m", "runs/cell/model")
    """
    from targetsel.models import load_model_and_tokenizer

    if trained is None:
        return load_model_and_tokenizer(model, dtype=dtype, device=device)
    path = Path(trained)
    if (path / "adapter_config.json").is_file():
        return load_model_and_tokenizer(model, dtype=dtype, device=device, adapter=path)
    if (path / "config.json").is_file():
        return load_model_and_tokenizer(str(path), dtype=dtype, device=device)
    raise MissingArtifactError(f"{path} holds neither a peft adapter nor a model (no adapter_config.json/config.json)")


def evaluate_model(
    model: str,
    *,
    trained: str | os.PathLike[str] | None = None,
    dev: ExampleSet | None = None,
    test: ExampleSet | None = None,
    task: str = "",
    config: EvalConfig | None = None,
) -> EvalResult:
    """Evaluate a base model (zero-shot) or a fine-tuned one on a task.

    Args:
        model: Base model (local folder, built-in name such as ``smollm2-135m``, or hub name).
        trained: Output of training: a peft adapter folder or a full model folder; ``None`` for
            zero-shot (the base model through the same code).
        dev: The query set (for ``dev_loss``, and ``true_metric`` when no test set).
        test: Held-out test split.
        task: Task name (picks the default answer format).
        config: Settings.

    Returns:
        An :class:`EvalResult`.

    Example:
        >>> # evaluate_model("smollm2-135m", dev=queries, test=test, task="math").metrics
        >>> # {'dev_loss': 1.93, 'test_loss': 1.97, 'true_metric': 0.04}
    """
    cfg = config or EvalConfig()
    t0 = time.perf_counter()
    lm, tok = load_for_eval(model, trained, dtype=cfg.dtype, device=cfg.device)
    result = evaluate_loaded(lm, tok, dev=dev, test=test, task=task, config=cfg)
    result.info.update(
        {"model": model, "trained": None if trained is None else str(trained), "seconds": time.perf_counter() - t0}
    )
    return result
