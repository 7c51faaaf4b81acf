"""The optional lm-evaluation-harness adapter, offline on a local task (skipped without lm-eval)."""

from __future__ import annotations

import json
import math

import pytest

from targetsel.data import load_queries
from targetsel.demo import demo_query_path
from targetsel.errors import MissingArtifactError
from targetsel.evaluate import EvalConfig, evaluate_model
from targetsel.evaluate.harness import local_task, run_lm_eval, write_local_docs


def test_local_docs_and_task_config(tiny_tokenizer, tmp_path):
    q = load_queries(demo_query_path("math", "test")).select(range(3))
    path = write_local_docs(tiny_tokenizer, q, tmp_path / "d.jsonl", kind="number")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["answer"] for r in rows] == list(q.column("answer"))
    assert rows[0]["prompt"].endswith("<|assistant|>\n")
    cfg = local_task("t", path, answer_regex="#### (.+)")
    assert cfg["dataset_kwargs"]["data_files"]["test"] == str(path)
    assert cfg["filter_list"][0]["filter"][0]["regex_pattern"] == "#### (.+)"


def test_missing_lm_eval_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if not installed
    with pytest.raises(MissingArtifactError, match="pip install lm-eval"):
        run_lm_eval(object(), object(), ["gsm8k"])


def test_lm_eval_local_task_runs_offline(tiny_llama_dir, monkeypatch):
    pytest.importorskip("lm_eval")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dev = load_queries(demo_query_path("math", "dev")).select(range(3))
    test = load_queries(demo_query_path("math", "test")).select(range(3))
    cfg = EvalConfig(metrics=("true_metric",), max_new_tokens=4, limit=3, lm_eval_tasks=("local",))
    res = evaluate_model(str(tiny_llama_dir), dev=dev, test=test, task="math", config=cfg)
    key = "lm_eval:math_local/exact_match,answer"
    assert key in res.metrics and 0.0 <= res.metrics[key] <= 1.0 and math.isfinite(res.metrics["true_metric"])
