"""The template type of the ``python_functions`` family and the reference helpers its templates compute answers with."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.demo_data.common import NAMES


@dataclass(frozen=True)
class PyTemplate:
    """A ``python_functions`` template: names, signature, doc and body text, parameters, reference, inputs.

    Example:
        >>> PyTemplate.__dataclass_params__.frozen
        True
    """

    names: tuple[str, ...]
    sig: str
    doc: str  # string.Template over the params, starts with a third-person verb
    body: str  # string.Template over the params, indented by 4 spaces
    params: Callable[[random.Random], dict[str, Any]]
    ref: Callable[[dict[str, Any]], Callable[..., Any]]
    inputs: Callable[[random.Random, dict[str, Any]], list[tuple[Any, ...]]]


def random_ints(r: random.Random, lo: int = -20, hi: int = 50, n_lo: int = 3, n_hi: int = 8) -> list[int]:
    """Between ``n_lo`` and ``n_hi`` integers in ``[lo, hi]``.

    Example:
        >>> import random
        >>> all(0 <= n <= 9 for n in random_ints(random.Random(0), 0, 9))
        True
    """
    return [r.randint(lo, hi) for _ in range(r.randint(n_lo, n_hi))]


def no_params(r: random.Random) -> dict[str, Any]:
    """The parameters of a template that takes none.

    Example:
        >>> no_params(None)
        {}
    """
    return {}


def three_cases(
    make: Callable[[random.Random], tuple[Any, ...]],
) -> Callable[[random.Random, dict[str, Any]], list]:
    """Test inputs: three argument tuples drawn with ``make``.

    Example:
        >>> import random
        >>> len(three_cases(lambda r: (r.randint(0, 9),))(random.Random(0), {}))
        3
    """
    return lambda r, p: [make(r) for _ in range(3)]


def fact(n: int) -> int:
    """``n!``.

    Example:
        >>> fact(5)
        120
    """
    out = 1
    for i in range(2, n + 1):
        out *= i
    return out


def fib(n: int) -> int:
    """The ``n``-th Fibonacci number (``fib(0) == 0``).

    Example:
        >>> fib(10)
        55
    """
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def is_prime(n: int) -> bool:
    """Whether ``n`` is prime.

    Example:
        >>> is_prime(13), is_prime(1)
        (True, False)
    """
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def collatz(n: int) -> int:
    """Collatz steps from ``n`` down to 1.

    Example:
        >>> collatz(6)
        8
    """
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def is_power(n: int, k: int) -> bool:
    """Whether ``n`` is a power of ``k`` (``k**0 == 1`` counts).

    Example:
        >>> is_power(27, 3), is_power(12, 2)
        (True, False)
    """
    while n % k == 0:
        n //= k
    return n == 1


def most_common(items: list[Any]) -> Any:
    """The most frequent item, the smallest one on a tie.

    Example:
        >>> most_common([3, 1, 3, 1, 2])
        1
    """
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    best = max(counts.values())
    return min(i for i, c in counts.items() if c == best)


def caesar(text: str, k: int) -> str:
    """Lower-case letters shifted by ``k`` places (other characters kept).

    Example:
        >>> caesar("xyz!", 2)
        'zab!'
    """
    return "".join(chr((ord(c) - 97 + k) % 26 + 97) if "a" <= c <= "z" else c for c in text)


def camel_to_snake(s: str) -> str:
    """``camelCase`` to ``snake_case``.

    Example:
        >>> camel_to_snake("maxValueId")
        'max_value_id'
    """
    return "".join("_" + c.lower() if c.isupper() else c for c in s)


def first_above(nums: list[int], t: int) -> int:
    """Index of the first number above ``t``, ``-1`` when none.

    Example:
        >>> first_above([1, 5, 9], 4), first_above([1], 4)
        (1, -1)
    """
    return next((i for i, n in enumerate(nums) if n > t), -1)


def interleave(a: list[Any], b: list[Any]) -> list[Any]:
    """Items of ``a`` and ``b`` alternately, the rest of the longer one at the end.

    Example:
        >>> interleave([1, 2, 3], ["a"])
        [1, 'a', 2, 3]
    """
    out: list[Any] = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out


def random_scores(r: random.Random) -> dict[str, int]:
    """A ``{lower-case name: score}`` dict of 3 to 6 entries.

    Example:
        >>> import random
        >>> all(0 <= v <= 100 for v in random_scores(random.Random(0)).values())
        True
    """
    keys = r.sample(NAMES, r.randint(3, 6))
    return {k.lower(): r.randint(0, 100) for k in keys}


PALINDROMES = (
    "racecar",
    "Never odd or even",
    "A man, a plan, a canal: Panama",
    "level",
    "Was it a car or a cat I saw?",
    "noon",
)
IDENT_PARTS = (
    "max",
    "value",
    "user",
    "name",
    "total",
    "count",
    "item",
    "list",
    "first",
    "index",
    "row",
    "id",
)
