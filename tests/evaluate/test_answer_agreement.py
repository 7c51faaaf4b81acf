"""Both evaluators (ours and the lm-eval adapter's ``local`` task) give the same verdict on the same generations.

Before, the lm-eval task matched answers with its own regexes (``#### *(-?[0-9.,]+)`` and ``the
answer is ...$``) and lm-eval's ``exact_match``; now it scores with
:mod:`targetsel.evaluate.answers`, like our evaluator. The cases marked ``disagreed`` are those
where the old regexes gave a different verdict.
"""

from __future__ import annotations

import json
import re
import string

import pytest

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.evaluate import EvalConfig, evaluate_loaded
from targetsel.evaluate.harness import AnswerScorer, local_task, write_local_docs

# (reference reply, gold answer field, generation, the old lm-eval regexes' verdict disagreed)
NUMBER_CASES = [
    ("3 + 4 = 7\n#### 7", "7", "3 + 4 = 7\n#### 7", False),
    ("#### 42", "42", "The total is 42.", True),  # no ####: we take the last number
    ("#### 12", "12", "#### 12.0", True),  # compared as numbers
    ("#### 1250", "1250", "#### 1,250", False),
    ("#### 9", "9", "#### 8\nthen 9", False),  # the #### answer wins over a later number
    ("#### 3", "3", "no number here", False),
    ("I cannot tell.", "", "#### None", False),  # no gold answer: never correct
]
EXACT_CASES = [
    ("The answer is 2003-06-04.", "2003-06-04", "Counting back...\nThe answer is 2003-06-04.", False),
    ("The answer is Paris.", "Paris", "The answer is Paris.\nI hope this helps.", True),
    ("The answer is 2003-06-04.", "2003-06-04", "thinking\n\n2003-06-04", True),  # last line
    ("The answer is Monday.", "Monday", "The answer is Tuesday.", False),
]
OLD_REGEX = {"number": r"#### *(-?[0-9.,]+)", "exact": r"(?i)the answer is:? *(.+?)\.?$"}


class _Tok:
    chat_template = None
    eos_token = "</s>"
    bos_token = "<s>"


def _examples(cases) -> ExampleSet:
    rows = [
        {
            "id": f"q{i}",
            "messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": ref}],
            "answer": gold,
        }
        for i, (ref, gold, _, _) in enumerate(cases)
    ]
    return ExampleSet.from_records(rows)


def _old_lm_eval_verdict(kind: str, output: str, target: str) -> bool:
    """What the previous regex filter + lm-eval ``exact_match(ignore_punctuation=True)`` decided."""
    hits = re.findall(OLD_REGEX[kind], output)
    pred = hits[0].strip() if hits else "[invalid]"
    table = str.maketrans("", "", string.punctuation)
    return pred.translate(table) == target.translate(table)


def _ours(monkeypatch, data: ExampleSet, outputs: list[str], task: str) -> list[bool]:
    monkeypatch.setattr("targetsel.evaluate.generation.generate", lambda *a, **k: list(outputs))
    result = evaluate_loaded(None, _Tok(), dev=data, task=task, config=EvalConfig(metrics=("true_metric",)))
    return [d["correct"] for d in result.details["true_metric"]]


def _harness(tmp_path, data: ExampleSet, outputs: list[str], kind: str) -> tuple[list[bool], list[dict]]:
    docs_path = write_local_docs(_Tok(), data, tmp_path / "docs.jsonl", kind=kind)
    docs = [json.loads(line) for line in docs_path.read_text(encoding="utf-8").splitlines()]
    scorer = local_task("t", docs_path, answer_format=kind)["process_results"]
    return [scorer(doc, [out])["exact_match"] == 1.0 for doc, out in zip(docs, outputs, strict=True)], docs


@pytest.mark.parametrize(("task", "kind", "cases"), [("math", "number", NUMBER_CASES), ("dates", "exact", EXACT_CASES)])
def test_both_evaluators_agree(monkeypatch, tmp_path, task, kind, cases):
    data = _examples(cases)
    outputs = [out for _, _, out, _ in cases]
    ours = _ours(monkeypatch, data, outputs, task)
    harness, docs = _harness(tmp_path, data, outputs, kind)
    assert harness == ours
    assert any(ours) and not all(ours)
    # The cases marked `disagreed` are real: the old regexes decided otherwise there, and only there.
    old = [_old_lm_eval_verdict(kind, out, str(doc["answer"])) for out, doc in zip(outputs, docs, strict=True)]
    assert [o != n for o, n in zip(old, ours, strict=True)] == [d for *_, d in cases]


def test_prompt_and_gold_match_our_evaluator(tmp_path):
    data = _examples(NUMBER_CASES)
    _, docs = _harness(tmp_path, data, [c[2] for c in NUMBER_CASES], "number")
    assert docs[0]["prompt"] == "<s><|user|>\nquestion 0\n<|assistant|>\n"
    assert [d["answer"] for d in docs] == ["7", "42", "12", "1250", "9", "3", None]  # null: no gold in the reply


def test_local_task_answer_options():
    cfg = local_task("t", "d.jsonl", answer_format="number")
    assert cfg["process_results"] == AnswerScorer("number")
    assert cfg["filter_list"] == [{"name": "answer", "filter": [{"function": "take_first"}]}]
    assert "process_results" not in local_task("t", "d.jsonl", answer_regex="#### (.+)")
    with pytest.raises(ConfigurationError, match="answer_format"):
        local_task("t", "d.jsonl", answer_format="humaneval")
    with pytest.raises(ConfigurationError, match="not both"):
        local_task("t", "d.jsonl", answer_format="exact", answer_regex="(.+)")


def _fixed_generations(by_prompt: dict[str, str]):
    def generate_until(self, requests, *args, **kwargs):
        return [by_prompt[r.args[0]] for r in requests]

    return generate_until


def test_both_evaluators_agree_through_lm_eval(monkeypatch, tmp_path, tiny_llama_dir):
    """The real lm-eval run (its filters, aggregation, metric key) gives our verdicts (skipped without lm-eval)."""
    pytest.importorskip("lm_eval")
    from lm_eval.models.huggingface import HFLM

    from targetsel.evaluate.harness import run_lm_eval
    from targetsel.models import load_model_and_tokenizer

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tok = load_model_and_tokenizer(str(tiny_llama_dir))
    for task, kind, cases in (("math", "number", NUMBER_CASES), ("dates", "exact", EXACT_CASES)):
        data = _examples(cases)
        outputs = [out for _, _, out, _ in cases]
        ours = _ours(monkeypatch, data, outputs, task)
        by_prompt = {}
        docs = write_local_docs(tok, data, tmp_path / f"{task}.jsonl", kind=kind)
        for line, out in zip(docs.read_text(encoding="utf-8").splitlines(), outputs, strict=True):
            by_prompt[json.loads(line)["prompt"]] = out
        monkeypatch.setattr(HFLM, "generate_until", _fixed_generations(by_prompt))
        found = run_lm_eval(model, tok, [local_task(f"{task}_local", docs, answer_format=kind)])
        assert found[f"{task}_local/exact_match,answer"] == pytest.approx(sum(ours) / len(ours))
