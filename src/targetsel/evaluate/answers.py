"""Answer extraction and exact-match scoring for generation-based evaluation.

Answer formats:

* ``number``: the number after the last ``####`` (GSM8K style), else the last number in the
  text; compared numerically (``1,000`` equals ``1000.0``).
* ``exact``: the text after the last ``the answer is`` (case-insensitive), else the last
  non-empty line; compared as strings after stripping whitespace, quotes and a final period.
* ``latex`` (MATH): the last ``\\boxed{...}``, else as ``exact``; compared after a LaTeX
  normalisation (math delimiters, ``\\left``/``\\right``, spacing commands, ``\\dfrac``, ``\\frac12``,
  ``\\text{...}`` wrappers and a trailing unit, degrees, percent, ``x =``, whitespace), and
  numerically where both sides are numbers (``\\frac{1}{2}`` equals ``0.5`` and ``1/2``).
* ``humaneval``: functional correctness, see :mod:`targetsel.evaluate.code`.

This is the one answer-extraction module: our own evaluator (:mod:`targetsel.evaluate.core`) and
the lm-eval adapter (:mod:`targetsel.evaluate.harness`) both score with :func:`matches_gold` on the
gold answers of :func:`gold_answers`, so they cannot disagree on the same generation.

Example:
    >>> is_correct("so 3 + 4 = 7\\n#### 7", "7", "number")
    True
    >>> is_correct("The answer is 2003-06-04.", "2003-06-04", "exact")
    True
    >>> is_correct(r"So the answer is $\\dfrac{1}{2}$.", r"\\frac12", "latex")
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from targetsel.data.real.olmo import last_boxed
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

ANSWER_FORMATS = ("number", "exact", "latex", "humaneval")

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
    if kind == "latex":
        boxed = last_boxed(text)
        if boxed is not None:
            return normalize_answer(boxed, kind)
    if kind in ("exact", "latex"):
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
    if kind == "latex":
        return _latex_canonical(s)
    return s.strip().rstrip(".").strip().strip("\"'`").strip()


_TEXT = re.compile(r"\\(?:text|textbf|textrm|textnormal|mathrm|mathbf|mbox)\{([^{}]*)\}")
_UNIT = re.compile(r"^(.*\d)\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z ]*\}$")
_SPACING = re.compile(r"\\(?:left|right|displaystyle)(?![A-Za-z])|\\[!,;: ]|\$|\\[()\[\]]")
_FRAC = re.compile(r"\\frac(?:\{([^{}]*)\}|(\w))(?:\{([^{}]*)\}|(\w))")


def _latex_canonical(text: str) -> str:
    """The form two LaTeX answers are compared in (see the module's ``latex`` format)."""
    s = text.strip()
    boxed = last_boxed(s)
    s = s if boxed is None else boxed
    s = _SPACING.sub("", s).strip()
    s = _UNIT.sub(r"\1", s)  # "10 \text{ cm}" -> "10"
    s = _TEXT.sub(r"\1", s)
    s = re.sub(r"\^\{?\\circ\}?|\\circ|\\?%", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _FRAC.sub(lambda m: f"\\frac{{{m[1] or m[2]}}}{{{m[3] or m[4]}}}", s)  # \frac12 -> \frac{1}{2}
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = "".join(s.split()).replace("{,}", ",").rstrip(".").strip("\"'`")
    if re.fullmatch(r"[A-Za-z]=.+", s):  # "x=5" -> "5"
        s = s[2:]
    return s


def _latex_number(s: str) -> float | None:
    """The value of a canonical answer that is a plain number, ``a/b`` or ``\\frac{a}{b}``, else ``None``."""
    num = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # thousands separators
        s = s.replace(",", "")
    if re.fullmatch(num, s):
        return float(s)
    m = re.fullmatch(rf"(-?)\\frac\{{({num})\}}\{{({num})\}}|(-?)({num})/({num})", s)
    if m is None:
        return None
    sign, a, b = (m[1], m[2], m[3]) if m[2] is not None else (m[4], m[5], m[6])
    if float(b) == 0:
        return None
    return (-1.0 if sign else 1.0) * float(a) / float(b)


def _latex_equal(pred: str, gold: str) -> bool:
    if pred == gold:
        return True
    a, b = _latex_number(pred), _latex_number(gold)
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def is_correct(output: str, gold: str, kind: str = "exact") -> bool:
    """Whether a model output's final answer equals the gold answer.

    Example:
        >>> is_correct("#### 12", "12.0", "number")
        True
    """
    pred = extract_answer(output, kind)
    if pred is None:
        return False
    if kind == "latex":
        return _latex_equal(pred, normalize_answer(str(gold), kind))
    return pred == normalize_answer(str(gold), kind)


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
        listed = aliases[i] if aliases is not None else None
        extra = [str(a) for a in listed] if isinstance(listed, (list, tuple)) else []
        names = list(dict.fromkeys([gold, *extra] if gold is not None else extra))
        out.append(names if len(names) > 1 else (names[0] if names else None))
    return out
