"""Answer extraction and exact-match scoring for generation-based evaluation.

Answer formats:

* ``number``: the number after the last ``####`` (GSM8K style), else the last number in the
  text; compared numerically (``1,000`` equals ``1000.0``).
* ``exact``: the text after the last ``the answer is`` (case-insensitive), else the last
  non-empty line; compared as strings after stripping whitespace, quotes and a final period.
* ``humaneval``: functional correctness, see :mod:`targetsel.evaluate.code`.

This is the one answer-extraction module: our own evaluator (:mod:`targetsel.evaluate.core`) and
the lm-eval adapter (:mod:`targetsel.evaluate.harness`) both score with :func:`matches_gold` on the
gold answers of :func:`gold_answers`, so they cannot disagree on the same generation.

Example:
    >>> is_correct("so 3 + 4 = 7\\n#### 7", "7", "number")
    True
    >>> is_correct("The answer is 2003-06-04.", "2003-06-04", "exact")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from targetsel.errors import ConfigurationError

if TYPE_CHECKING:
    from targetsel.data import ExampleSet

__all__ = [
    "ANSWER_FORMATS",
    "default_answer_format",
    "extract_answer",
    "gold_answers",
    "is_correct",
    "matches_gold",
    "normalize_answer",
]

ANSWER_FORMATS = ("number", "exact", "humaneval")

_HASH = re.compile(r"####\s*([-+]?[\d,]*\.?\d+)")
_NUMBER = re.compile(r"[-+]?\d[\d,]*\.?\d*|[-+]?\.\d+")
_ANSWER_IS = re.compile(r"the answer is\s*:?\s*(.+)", re.IGNORECASE)

#: Default answer format of known task names (anything else: ``exact``).
_TASK_FORMATS = {"math": "number", "gsm8k": "number", "humaneval": "humaneval", "codex": "humaneval"}


def default_answer_format(task: str) -> str:
    """The answer format of a task name (``math``/``gsm8k`` → ``number``, ``humaneval`` → ``humaneval``).

    Example:
        >>> default_answer_format("gsm8k"), default_answer_format("dates")
        ('number', 'exact')
    """
    return _TASK_FORMATS.get(task.lower(), "exact")


def _check(kind: str) -> None:
    if kind not in ANSWER_FORMATS:
        raise ConfigurationError(f"answer format must be one of {', '.join(ANSWER_FORMATS)}, got {kind!r}")


def extract_answer(text: str, kind: str = "exact") -> str | None:
    """The final answer in a model output (or a reference solution), ``None`` when there is none.

    Example:
        >>> extract_answer("It costs 1,250 dollars.", "number")
        '1250'
    """
    _check(kind)
    if kind == "number":
        hits = _HASH.findall(text)
        cand = hits[-1] if hits else next(iter(reversed(_NUMBER.findall(text))), None)
        return None if cand is None else normalize_answer(cand, kind)
    if kind == "exact":
        hits = _ANSWER_IS.findall(text)
        if hits:
            return normalize_answer(hits[-1].splitlines()[0], kind)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return normalize_answer(lines[-1], kind) if lines else None
    return text


def normalize_answer(text: str, kind: str = "exact") -> str:
    """Canonical form used for comparison.

    Example:
        >>> normalize_answer(" 1,000.00 ", "number"), normalize_answer('"Paris".', "exact")
        ('1000', 'Paris')
    """
    s = text.strip()
    if kind == "number":
        s = s.replace(",", "").rstrip(".")
        try:
            v = float(s)
        except ValueError:
            return s
        return str(int(v)) if v.is_integer() else repr(v)
    return s.strip().rstrip(".").strip().strip("\"'`").strip()


def is_correct(output: str, gold: str, kind: str = "exact") -> bool:
    """Whether a model output's final answer equals the gold answer.

    Example:
        >>> is_correct("#### 12", "12.0", "number")
        True
    """
    pred = extract_answer(output, kind)
    return pred is not None and pred == normalize_answer(str(gold), kind)


def matches_gold(output: str, gold: str | Sequence[str] | None, kind: str = "exact") -> bool:
    """:func:`is_correct`, where a missing gold answer (``None``) never matches and a list of gold
    answers (an answer and its aliases, TriviaQA) matches when any of them does.

    The scoring rule of both evaluators (ours and the lm-eval adapter's ``local`` task).

    Example:
        >>> matches_gold("#### 7", "7", "number"), matches_gold("None", None, "exact")
        (True, False)
        >>> matches_gold("The answer is JFK.", ["John F. Kennedy", "JFK"], "exact")
        True
    """
    if gold is None:
        return False
    if isinstance(gold, str):
        return is_correct(output, gold, kind)
    return any(is_correct(output, g, kind) for g in gold)


def gold_answers(examples: ExampleSet, kind: str) -> list[str | list[str] | None]:
    """The gold answer of each example: its ``answer`` field, else extracted from the reference reply.

    A row with an ``aliases`` list (TriviaQA's other accepted names of the answer) gives the answer
    followed by its aliases, each accepted by :func:`matches_gold`.

    Args:
        examples: Chat examples (an ``answer`` column is optional).
        kind: Answer format used to extract the answer from the last assistant turn.

    Returns:
        One answer per example, ``None`` where the reference reply holds none.

    Example:
        >>> from targetsel.data import ExampleSet
        >>> rows = [{"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "#### 2"}]}]
        >>> gold_answers(ExampleSet.from_records(rows), "number")
        ['2']
    """
    col, aliases = examples.column("answer"), examples.column("aliases")
    out: list[str | list[str] | None] = []
    for i in range(len(examples)):
        gold: str | None
        if col is not None and col[i] not in (None, ""):
            gold = str(col[i])
        else:
            ref = [m["content"] for m in examples.messages(i) if m["role"] == "assistant"][-1]
            gold = extract_answer(ref, kind)
        extra = (
            [str(a) for a in (aliases[i] or [])]
            if aliases is not None and isinstance(aliases[i], (list, tuple))
            else []
        )
        names = list(dict.fromkeys([gold, *extra] if gold is not None else extra))
        out.append(names if len(names) > 1 else (names[0] if names else None))
    return out
