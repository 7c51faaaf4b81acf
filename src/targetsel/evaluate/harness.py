"""Adapter to lm-evaluation-harness (``lm-eval``), optional.

``lm-eval`` has the paper's downstream benchmarks (``gsm8k``, ``bbh``, ``mmlu_pro``, ``tydiqa``...)
as registered tasks; their data comes from the Hugging Face hub, so running them needs network
(or a pre-filled ``HF_DATASETS_CACHE``). :func:`run_lm_eval` runs any of them on a model that is
already loaded (a base model, or base + our LoRA adapter), so fine-tuned cells and the zero-shot
baseline go through the same code. :func:`local_task` builds an lm-eval task config for a local
prompt/answer file (rows with ``messages`` and ``answer``), which runs offline. Given an answer
format, that task scores each generation with :class:`AnswerScorer`, i.e. with the answer
extraction of :mod:`targetsel.evaluate.answers` that our own evaluator uses, so the two agree.

``lm-eval`` is not a dependency of targetsel: ``pip install lm-eval`` (tested with 0.4.13).

Example:
    >>> cfg = local_task("toy", "q.jsonl", answer_regex=r"#### (-?[0-9.,]+)")
    >>> cfg["task"], cfg["output_type"]
    ('toy', 'generate_until')
    >>> local_task("toy", "q.jsonl", answer_format="number")["process_results"]
    AnswerScorer(kind='number')
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targetsel.chat import prompt_text
from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.evaluate.answers import gold_answers, matches_gold

logger = logging.getLogger(__name__)

__all__ = ["AnswerScorer", "local_task", "run_lm_eval", "write_local_docs"]

#: Answer formats a ``local`` lm-eval task can score (humaneval needs code execution).
LOCAL_FORMATS = ("number", "exact", "latex")


def write_local_docs(tokenizer: Any, examples: Any, path: str | os.PathLike[str], *, kind: str = "exact") -> Path:
    """Write ``{"prompt", "answer"}`` rows (prompt rendered with the model's chat format) for :func:`local_task`.

    The prompt is exactly what our own evaluator feeds the model (:func:`targetsel.chat.prompt_text`:
    every turn before the last answer, with the assistant header), so both evaluators see the same
    input. The answer is :func:`targetsel.evaluate.answers.gold_answers`: the row's ``answer``
    field, else extracted from the reference reply with the answer format ``kind`` (``null`` when
    the reply holds none; such a row never scores, as in our evaluator), or a list: the answer and
    its ``aliases``, any of which scores.

    Example:
        >>> # write_local_docs(tok, queries, "docs.jsonl", kind="number")
    """
    golds = gold_answers(examples, kind)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as fh:
        for i in range(len(examples)):
            row = {"prompt": prompt_text(tokenizer, examples.messages(i)), "answer": golds[i]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return dest


@dataclass(frozen=True)
class AnswerScorer:
    """lm-eval ``process_results`` for a local task: exact match by :mod:`targetsel.evaluate.answers`.

    Called by lm-eval with a document (a :func:`write_local_docs` row) and its one generation; the
    verdict is :func:`~targetsel.evaluate.answers.matches_gold`, the rule of our own evaluator.

    Example:
        >>> AnswerScorer("number")({"answer": "42"}, ["so the total is 42."])
        {'exact_match': 1.0}
    """

    kind: str

    def __call__(self, doc: dict[str, Any], results: Sequence[str]) -> dict[str, float]:
        return {"exact_match": float(matches_gold(results[0], doc.get("answer"), self.kind))}


def local_task(
    name: str,
    data_file: str | os.PathLike[str],
    *,
    answer_regex: str | None = None,
    answer_format: str | None = None,
    max_gen_toks: int = 256,
    until: Sequence[str] = ("</s>", "<|im_end|>", "<|user|>"),
) -> dict[str, Any]:
    """An lm-eval ``generate_until`` task config over a local JSONL of ``{"prompt", "answer"}`` rows.

    Args:
        name: Task name.
        data_file: JSONL file (see :func:`write_local_docs`).
        answer_regex: Regex whose first group is the answer (e.g. ``#### (-?[0-9.,]+)``), compared
            by lm-eval's ``exact_match``; without it (and without ``answer_format``) the whole
            stripped generation is compared.
        answer_format: ``number``, ``exact`` or ``latex``: score with :class:`AnswerScorer`, the answer
            extraction of our own evaluator (what ``lm_eval_tasks: [local]`` uses). Exclusive
            with ``answer_regex``.
        max_gen_toks: Generation length.
        until: Stop strings.

    Returns:
        A task config dict accepted by ``lm_eval.simple_evaluate(tasks=[...])``; its metric is
        reported as ``exact_match,answer`` when an answer regex or format is given.

    Example:
        >>> local_task("toy", "q.jsonl", answer_format="exact")["filter_list"][0]["name"]
        'answer'
    """
    if answer_regex and answer_format is not None:
        raise ConfigurationError("local_task takes answer_regex or answer_format, not both; drop one")
    if answer_format is not None and answer_format not in LOCAL_FORMATS:
        raise ConfigurationError(
            f"local_task answer_format must be one of {', '.join(LOCAL_FORMATS)}, got {answer_format!r}"
        )
    cfg: dict[str, Any] = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{answer}}",
        "target_delimiter": "",
        "generation_kwargs": {"until": list(until), "max_gen_toks": max_gen_toks, "do_sample": False},
        "metric_list": [
            {"metric": "exact_match", "aggregation": "mean", "higher_is_better": True, "ignore_punctuation": True}
        ],
    }
    if answer_format is not None:
        # lm-eval hands the first generation to our scorer; the filter's name keeps the metric key.
        cfg["process_results"] = AnswerScorer(answer_format)
        cfg["filter_list"] = [{"name": "answer", "filter": [{"function": "take_first"}]}]
    elif answer_regex:
        cfg["filter_list"] = [
            {
                "name": "answer",
                "filter": [{"function": "regex", "regex_pattern": answer_regex}, {"function": "take_first"}],
            }
        ]
    return cfg


def run_lm_eval(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str | dict[str, Any]],
    *,
    limit: int | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    max_length: int | None = None,
) -> dict[str, float]:
    """Run lm-evaluation-harness tasks on a loaded model.

    Args:
        model: A loaded causal LM (``transformers`` or peft-wrapped).
        tokenizer: Its tokenizer.
        tasks: Registered task names (``gsm8k``, ``bbh``...; need their hub data) or task config
            dicts (:func:`local_task`).
        limit: At most this many documents per task.
        num_fewshot: Few-shot examples (task default when ``None``).
        batch_size: Batch size.
        max_length: Context length override.

    Returns:
        ``{"<task>/<metric>,<filter>": value}`` for every numeric metric lm-eval reports
        (standard errors left out).

    Raises:
        MissingArtifactError: ``lm-eval`` is not installed.
        ConfigurationError: an unknown task, or its data cannot be loaded (offline?).
    """
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
    except ImportError as exc:
        raise MissingArtifactError(
            "lm-evaluation-harness is not installed; pip install lm-eval (its benchmarks download data from the hub)"
        ) from exc
    if hasattr(model, "merge_and_unload"):
        # peft models: lm-eval wants a plain transformers model; merging is exact for LoRA.
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length, device=device)
    with tempfile.TemporaryDirectory(prefix="targetsel-lmeval-"):
        try:
            out = lm_eval.simple_evaluate(
                model=lm,
                tasks=list(tasks),
                limit=limit,
                num_fewshot=num_fewshot,
                log_samples=False,
                bootstrap_iters=0,
            )
        except (KeyError, ValueError, FileNotFoundError, ConnectionError, OSError) as exc:
            raise ConfigurationError(
                f"lm-eval could not run {[t if isinstance(t, str) else t.get('task') for t in tasks]}: "
                f"{type(exc).__name__}: {exc} (registered benchmarks need network access to their data)"
            ) from exc
    metrics: dict[str, float] = {}
    for task, res in (out or {}).get("results", {}).items():
        for key, value in res.items():
            if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and math.isnan(value):
                continue
            metrics[f"{task}/{key}"] = float(value)
    return metrics
