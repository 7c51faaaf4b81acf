"""Evaluation: query/test cross-entropy and generation-based downstream metrics.

The base model (zero-shot) and fine-tuned models go through the same code
(:func:`evaluate_model`). Downstream tasks given as local prompt/answer files are scored by our
own greedy-generation exact match; HumanEval-style code tasks by running the tests (opt-in).
For benchmarks that lm-evaluation-harness ships (gsm8k, bbh, mmlu_pro, tydiqa...), users with
network access can run ``lm_eval`` on the trained adapter directly (see the README).

Example:
    >>> from targetsel.evaluate import EvalConfig, is_correct
    >>> is_correct("#### 42", "42", "number")
    True
"""

from __future__ import annotations

from targetsel.evaluate.answers import (
    ANSWER_FORMATS,
    default_answer_format,
    extract_answer,
    is_correct,
    normalize_answer,
)
from targetsel.evaluate.core import METRICS, EvalConfig, EvalResult, evaluate_loaded, evaluate_model, load_for_eval

__all__ = [
    "ANSWER_FORMATS",
    "METRICS",
    "EvalConfig",
    "EvalResult",
    "default_answer_format",
    "evaluate_loaded",
    "evaluate_model",
    "extract_answer",
    "is_correct",
    "load_for_eval",
    "normalize_answer",
]
