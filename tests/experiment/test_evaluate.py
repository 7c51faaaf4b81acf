"""Evaluation: answer extraction, loss pinned to the model's own loss, generation, code execution."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from targetsel.chat import tokenize_example
from targetsel.cli import main
from targetsel.data import load_queries
from targetsel.demo import demo_query_path
from targetsel.errors import ConfigurationError
from targetsel.evaluate import EvalConfig, evaluate_model, extract_answer, is_correct, normalize_answer
from targetsel.evaluate.code import extract_code, run_completion
from targetsel.evaluate.loss import example_losses
from targetsel.models import load_model_and_tokenizer


@pytest.mark.parametrize(
    ("text", "gold", "kind", "ok"),
    [
        ("3 + 4 = 7\n#### 7", "7", "number", True),
        ("#### 1,250", "1250", "number", True),
        ("It is 12.0 apples", "12", "number", True),
        ("#### 8\nthen 9", "9", "number", False),  # the #### answer wins over a later number
        ("no number here", "3", "number", False),
        ("Counting back...\nThe answer is 2003-06-04.", "2003-06-04", "exact", True),
        ("The answer is 2003-06-05.", "2003-06-04", "exact", False),
        ("thinking\n\n2003-06-04", "2003-06-04", "exact", True),
        ("", "x", "exact", False),
    ],
)
def test_answer_extraction(text, gold, kind, ok):
    assert is_correct(text, gold, kind) is ok


def test_demo_references_score_perfectly():
    # The reference answers of the bundled query sets must score 1.0 against their gold answers.
    for task, kind in (("math", "number"), ("dates", "exact")):
        rows = [json.loads(line) for line in demo_query_path(task, "test").read_text(encoding="utf-8").splitlines()]
        assert all(is_correct(r["messages"][-1]["content"], r["answer"], kind) for r in rows)
    assert normalize_answer("1,000.00", "number") == "1000"
    assert extract_answer("x", "humaneval") == "x"
    with pytest.raises(ConfigurationError):
        extract_answer("x", "fuzzy")


def test_code_execution_pass_fail_timeout():
    row = {
        "entry_point": "inc",
        "test": "def check(f):\n    assert f(1) == 2\n",
        "messages": [{"role": "user", "content": "Complete:\n```python\ndef inc(x):\n```"}],
    }
    assert run_completion(row, "```python\ndef inc(x):\n    return x + 1\n```")
    assert not run_completion(row, "```python\ndef inc(x):\n    return x\n```")
    assert run_completion(row, "    return x + 1\n")  # body only: the prompt is prepended
    assert not run_completion(row, "def inc(x):\n    while True:\n        pass\n", timeout=1.0)
    assert extract_code("```python\nunterminated") == "unterminated"


def test_a_solution_named_check_is_run_against_its_tests_not_replaced_by_them():
    # MBPP/56: the solution is `check(n)` and the asserts call it by name, inside the tests' own
    # `def check(candidate)`, which used to replace the solution and then call itself
    test = "def check(candidate):\n    assert check(70) == False\n    assert check(73) == True\n"
    row = {"entry_point": "check", "test": test, "messages": [{"role": "user", "content": "x"}]}
    right = "```python\ndef check(n):\n    return 2 * int(str(n)[::-1]) == n + 1\n```"
    assert run_completion(row, right)
    assert not run_completion(row, "```python\ndef check(n):\n    return False\n```")


def test_loss_equals_model_loss_per_example(tiny_llama_dir):
    model, tok = load_model_and_tokenizer(str(tiny_llama_dir))
    queries = load_queries(demo_query_path("math")).select(range(5))
    ours = example_losses(model, tok, queries, max_length=64, batch_size=3)
    naive = []
    for i in range(len(queries)):
        enc = tokenize_example(tok, queries.messages(i), max_length=64, loss_on="last_assistant")
        with torch.no_grad():
            out = model(
                input_ids=torch.tensor([enc["input_ids"]]),
                labels=torch.tensor([enc["labels"]]),
            )
        naive.append(float(out.loss))
    np.testing.assert_allclose(ours, naive, rtol=1e-5)


def test_evaluate_zero_shot_end_to_end(tiny_llama_dir):
    dev = load_queries(demo_query_path("math", "dev")).select(range(6))
    test = load_queries(demo_query_path("math", "test")).select(range(6))
    cfg = EvalConfig(max_length=64, max_new_tokens=6, limit=4, batch_size=4)
    res = evaluate_model(str(tiny_llama_dir), dev=dev, test=test, task="math", config=cfg)
    assert set(res.metrics) == {"dev_loss", "test_loss", "true_metric"}
    assert all(np.isfinite(v) for v in res.metrics.values())
    # A random model's loss is near log(vocab); its accuracy is a valid fraction.
    assert 3.0 < res.metrics["dev_loss"] < 10.0
    assert 0.0 <= res.metrics["true_metric"] <= 1.0
    assert len(res.details["true_metric"]) == 4 and res.details["answer_format"] == "number"
    with pytest.raises(ConfigurationError, match="allow_code_execution"):
        evaluate_model(str(tiny_llama_dir), dev=dev, task="humaneval", config=EvalConfig(metrics=("true_metric",)))
    with pytest.raises(ConfigurationError, match="test set"):
        evaluate_model(str(tiny_llama_dir), dev=dev, config=EvalConfig(metrics=("test_loss",)))


def test_eval_config_validation():
    with pytest.raises(ConfigurationError, match="metrics"):
        EvalConfig(metrics=("bleu",))
    with pytest.raises(ConfigurationError, match="unknown evaluate setting"):
        EvalConfig.from_dict({"max_len": 3})
    with pytest.raises(ConfigurationError):
        EvalConfig(limit=0)


def test_cli_evaluate(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    q = demo_query_path("dates", "dev")
    rc = main(
        ["evaluate", "--model", str(tiny_llama_dir), "--query", str(q), "--task", "dates", "--limit", "3",
         "--loss-limit", "3", "--max-new-tokens", "4", "--max-length", "64", "-o", str(out), "-q"]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert set(data["metrics"]) == {"dev_loss", "true_metric"}
    assert data["info"]["trained"] is None
    assert main(["evaluate", "--model", str(tiny_llama_dir), "--query", str(q), "--metrics", "bleu"]) == 2
    assert "metrics" in capsys.readouterr().err


def test_cli_evaluate_takes_a_fetched_targets_answer_format(tiny_llama_dir, tmp_path, capsys):
    """``--task mbpp`` (a target of ``targetsel data``) is scored by running code, so it asks for consent."""
    q = demo_query_path("dates", "dev")
    argv = ["evaluate", "--model", str(tiny_llama_dir), "--query", str(q), "--task", "mbpp"]
    assert main([*argv, "--metrics", "true_metric", "-o", str(tmp_path / "e.json")]) == 2
    assert "true_metric on humaneval runs model-written code" in capsys.readouterr().err
    assert not (tmp_path / "e.json").exists()


def test_an_answer_s_aliases_are_each_accepted_by_both_evaluators():
    # TriviaQA rows carry the other accepted names of the answer; exact match used only the first
    from targetsel.data import ExampleSet
    from targetsel.evaluate.answers import gold_answers, matches_gold
    from targetsel.evaluate.harness import AnswerScorer

    def row(q: str, a: str, aliases: list[str]) -> dict[str, object]:
        chat = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return {"messages": chat, "answer": a, "aliases": aliases}

    rows = [row("Who?", "John F. Kennedy", ["John F. Kennedy", "JFK"]), row("Where?", "Paris", [])]
    golds = gold_answers(ExampleSet.from_records(rows), "exact")
    assert golds == [["John F. Kennedy", "JFK"], "Paris"]
    assert matches_gold("The answer is JFK.", golds[0], "exact")
    assert matches_gold("John F. Kennedy", golds[0], "exact")
    assert not matches_gold("The answer is Nixon.", golds[0], "exact")
    assert AnswerScorer("exact")({"answer": golds[0]}, ["the answer is JFK"]) == {"exact_match": 1.0}
    assert gold_answers(ExampleSet.from_records([row("Where?", "Paris", [])][:1]), "exact") == ["Paris"]


@pytest.mark.parametrize(
    ("output", "gold", "correct"),
    [
        (r"The answer is $\frac{1}{2}$.", r"\frac{1}{2}", True),
        (r"so $\boxed{\dfrac{3}{4}}$", r"\frac34", True),
        (r"The answer is $\dfrac{\sqrt{3}}{2}$", r"\frac{\sqrt{3}}{2}", True),
        (r"The answer is 0.5", r"\frac{1}{2}", True),
        (r"The answer is 1/2.", r"\frac{1}{2}", True),
        (r"The answer is -\frac{1}{3}", r"-\frac13", True),
        (r"The answer is $10\text{ cm}$", "10", True),
        (r"The answer is $90^\circ$", "90", True),
        (r"The answer is $x = 5$", "5", True),
        (r"The answer is $\left( 1, 2 \right)$", "(1,2)", True),
        (r"The answer is 1,000", "1000", True),
        (r"The answer is $\sqrt2$", r"\sqrt{2}", True),
        (r"The answer is 5\%", "5", True),
        (r"The answer is \text{(B)}", "(B)", True),
        (r"The answer is $\rightarrow$", r"\rightarrow", True),  # \right only as a delimiter
        (r"The answer is 3", "4", False),
        (r"The answer is \frac{1}{3}", "0.33", False),
        (r"The answer is (1,2)", "(2,1)", False),
        (r"The answer is \frac{1}{0}", r"\frac{2}{0}", False),
    ],
)
def test_latex_answers_are_compared_after_normalisation_and_numerically(output: str, gold: str, correct: bool):
    from targetsel.evaluate.answers import matches_gold
    from targetsel.evaluate.harness import AnswerScorer

    assert is_correct(output, gold, "latex") is correct
    assert matches_gold(output, gold, "latex") is correct
    assert AnswerScorer("latex")({"answer": gold}, [output]) == {"exact_match": float(correct)}
    if correct and output.count("$") and r"\frac" not in gold:
        assert is_correct(output, gold, "exact") is False  # what the exact rule missed


def test_the_math_target_is_scored_with_the_latex_format():
    from targetsel.data.real import get_spec

    assert get_spec("math").answer_format == "latex"
