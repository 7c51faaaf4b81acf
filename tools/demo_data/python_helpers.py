"""The template type of the ``python_functions`` family and the reference helpers its templates compute answers with."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.demo_data.common import NAMES


@dataclass(frozen=True)
class PyTemplate:
    names: tuple[str, ...]
    sig: str
    doc: str  # string.Template over the params, starts with a third-person verb
    body: str  # string.Template over the params, indented by 4 spaces
    params: Callable[[random.Random], dict[str, Any]]
    ref: Callable[[dict[str, Any]], Callable[..., Any]]
    inputs: Callable[[random.Random, dict[str, Any]], list[tuple[Any, ...]]]


def random_ints(r: random.Random, lo: int = -20, hi: int = 50, n_lo: int = 3, n_hi: int = 8) -> list[int]:
    return [r.randint(lo, hi) for _ in range(r.randint(n_lo, n_hi))]


def no_params(r: random.Random) -> dict[str, Any]:
    return {}


def three_cases(
    make: Callable[[random.Random], tuple[Any, ...]],
) -> Callable[[random.Random, dict[str, Any]], list]:
    return lambda r, p: [make(r) for _ in range(3)]


def fact(n: int) -> int:
    out = 1
    for i in range(2, n + 1):
        out *= i
    return out


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def collatz(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def is_power(n: int, k: int) -> bool:
    while n % k == 0:
        n //= k
    return n == 1


def most_common(items: list[Any]) -> Any:
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    best = max(counts.values())
    return min(i for i, c in counts.items() if c == best)


def caesar(text: str, k: int) -> str:
    return "".join(chr((ord(c) - 97 + k) % 26 + 97) if "a" <= c <= "z" else c for c in text)


def camel_to_snake(s: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in s)


def first_above(nums: list[int], t: int) -> int:
    return next((i for i, n in enumerate(nums) if n > t), -1)


def interleave(a: list[Any], b: list[Any]) -> list[Any]:
    out: list[Any] = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out


def random_scores(r: random.Random) -> dict[str, int]:
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
