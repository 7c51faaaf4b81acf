"""The ``python_functions`` family: a function to write from a template, with executed reference answers as tests."""

from __future__ import annotations

import random
import string
from typing import Any

from tools.demo_data.common import Example, cap
from tools.demo_data.python_helpers import PyTemplate
from tools.demo_data.python_templates_lists_text import TEMPLATES_LISTS_TEXT
from tools.demo_data.python_templates_numbers_misc import TEMPLATES_NUMBERS_MISC

#: Every template, in draw order.
_PY_TEMPLATES: tuple[PyTemplate, ...] = (*TEMPLATES_LISTS_TEXT, *TEMPLATES_NUMBERS_MISC)

_PY_OPENERS = (
    "Write a Python function",
    "Implement a Python function",
    "Create a function",
    "Define a Python function",
    "Please write a function",
)


def _call(name: str, args: tuple[Any, ...]) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def make_python_function(r: random.Random) -> Example:
    """One function-writing task from a random template: the prompt, the fenced solution, and meta.

    The meta holds the entry point, the solution code and ``assert`` tests computed by the
    template's reference function.

    Example:
        >>> import random
        >>> sorted(make_python_function(random.Random(0))[2])
        ['code', 'entry_point', 'tests']
    """
    t = r.choice(_PY_TEMPLATES)
    params = t.params(r)
    subst = {k: str(v) for k, v in params.items()} | {f"{k}_repr": repr(v) for k, v in params.items()}
    doc = string.Template(t.doc).substitute(subst)
    body = string.Template(t.body).substitute(subst)
    name = r.choice(t.names)
    ref = t.ref(params)
    cases = t.inputs(r, params)
    expected = [ref(*args) for args in cases]
    tests = [f"assert {_call(name, args)} == {out!r}" for args, out in zip(cases, expected, strict=True)]
    header = f"def {name}({t.sig}):"
    if r.random() < 0.5:
        user = (
            f"{r.choice(_PY_OPENERS)} `{name}({t.sig})` that {doc}.\n\n"
            f"For example, `{_call(name, cases[0])}` should return `{expected[0]!r}`."
        )
        code = f"{header}\n{body}\n"
    else:
        docstring = f'    """{cap(doc)}.\n\n    >>> {_call(name, cases[0])}\n    {expected[0]!r}\n    """'
        intro = r.choice(("Complete the following Python function:", "Fill in the body of this function:"))
        user = f"{intro}\n```python\n{header}\n{docstring}\n```"
        code = f"{header}\n{docstring}\n{body}\n"
    assistant = f"```python\n{code}```"
    return user, assistant, {"entry_point": name, "code": code, "tests": tests}
