"""Deterministic generator of the bundled demo pool and the synthetic demo query sets.

Every example is built from hand-written templates and tables with a seeded ``random.Random``, and
every answer is computed by the generator itself (arithmetic, ``datetime``, executed reference
functions), so the data is correct by construction and byte-reproducible: running

    python -m targetsel.demo.generate

rewrites ``src/targetsel/demo/data/`` with exactly the same bytes, and ``--check`` only compares.

Nothing here touches the disk unless :func:`write_demo_data` (or the ``__main__`` entry) is called.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import random
import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_write_text

__all__ = [
    "DEFAULT_SEED",
    "FAMILY_COUNTS",
    "QUERY_SIZES",
    "UNIT_FACTORS",
    "generate_pool",
    "generate_queries",
    "render_demo_files",
    "write_demo_data",
]

DEFAULT_SEED = 20260
DATA_DIR = Path(__file__).resolve().parent / "data"

#: Rows per pool family (the `source` label), in generation order.
FAMILY_COUNTS: dict[str, int] = {
    "arithmetic_word_problems": 260,
    "python_functions": 270,
    "string_manipulation": 240,
    "unit_conversion": 240,
    "date_reasoning": 260,
    "boolean_logic": 240,
    "factual_qa": 240,
    "translation_rewriting": 240,
    "list_sorting": 240,
    "json_formatting": 240,
}

#: Sizes of the synthetic query splits.
QUERY_SIZES: dict[str, dict[str, int]] = {"math": {"dev": 50, "test": 100}, "dates": {"dev": 50, "test": 100}}

Example = tuple[str, str, dict[str, Any]]  # (user prompt, assistant answer, meta)

_SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer accurately.",
    "You are a careful tutor who shows the steps.",
    "Answer the user's request precisely.",
)

_NAMES = (
    "Aisha",
    "Ben",
    "Carlos",
    "Dana",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Keiko",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Marta",
    "Theo",
    "Lena",
    "Omar",
)

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------------
# arithmetic_word_problems (also used for the `math` query set)
# --------------------------------------------------------------------------------------------------


def _wp_shopping(r: random.Random) -> tuple[str, list[str], int]:
    name, item = r.choice(_NAMES), r.choice(("pencils", "stickers", "batteries", "markers", "candles"))
    packs, per, price = r.randint(2, 9), r.randint(3, 12), r.randint(2, 15)
    cost = packs * price
    if r.random() < 0.5:
        bill = 100 if cost < 100 else 200
        q = (
            f"{name} buys {packs} packs of {item}. Each pack has {per} {item} and costs ${price}. "
            f"{name} pays with a ${bill} bill. How much change, in dollars, does {name} get back?"
        )
        steps = [
            f"The packs cost {packs} * {price} = ${cost}.",
            f"The change is {bill} - {cost} = ${bill - cost}.",
        ]
        return q, steps, bill - cost
    used = r.randint(1, per * packs - 1)
    q = (
        f"{name} buys {packs} packs of {item} with {per} {item} in each pack and uses {used} of them. "
        f"How many {item} does {name} have left?"
    )
    total = packs * per
    steps = [
        f"{name} buys {packs} * {per} = {total} {item}.",
        f"After using {used}, {total} - {used} = {total - used} are left.",
    ]
    return q, steps, total - used


def _wp_savings(r: random.Random) -> tuple[str, list[str], int]:
    name = r.choice(_NAMES)
    weekly, weeks = r.randint(5, 60), r.randint(3, 16)
    earned = weekly * weeks
    spent = r.randint(1, earned - 1)
    thing = r.choice(("a bike helmet", "a video game", "concert tickets", "a new jacket", "art supplies"))
    q = (
        f"{name} saves ${weekly} every week for {weeks} weeks and then spends ${spent} on {thing}. "
        f"How many dollars does {name} have left?"
    )
    steps = [
        f"{name} saves {weekly} * {weeks} = ${earned}.",
        f"After spending, {earned} - {spent} = ${earned - spent} remain.",
    ]
    return q, steps, earned - spent


def _wp_baking(r: random.Random) -> tuple[str, list[str], int]:
    name, food = r.choice(_NAMES), r.choice(("cookies", "muffins", "rolls", "cupcakes", "scones"))
    trays, per = r.randint(2, 8), r.randint(6, 24)
    total = trays * per
    given = r.randint(1, total // 2)
    eaten = r.randint(1, total - given - 1)
    q = (
        f"{name} bakes {trays} trays of {food} with {per} {food} on each tray. {name} gives {given} {food} "
        "to "
        f"the neighbours and the family eats {eaten}. How many {food} are left?"
    )
    steps = [
        f"{name} bakes {trays} * {per} = {total} {food}.",
        f"{given} + {eaten} = {given + eaten} are given away or eaten.",
        f"{total} - {given + eaten} = {total - given - eaten} {food} are left.",
    ]
    return q, steps, total - given - eaten


def _wp_travel(r: random.Random) -> tuple[str, list[str], int]:
    name = r.choice(_NAMES)
    s1, h1, s2, h2 = r.randint(30, 80), r.randint(2, 6), r.randint(20, 70), r.randint(2, 5)
    d1, d2 = s1 * h1, s2 * h2
    unit = r.choice(("miles", "kilometres"))
    per = "mph" if unit == "miles" else "km/h"
    q = (
        f"{name} drives at {s1} {per} for {h1} hours and then at {s2} {per} for {h2} hours. "
        f"How many {unit} does {name} drive in total?"
    )
    steps = [
        f"First part: {s1} * {h1} = {d1} {unit}.",
        f"Second part: {s2} * {h2} = {d2} {unit}.",
        f"Total: {d1} + {d2} = {d1 + d2} {unit}.",
    ]
    return q, steps, d1 + d2


def _wp_fraction(r: random.Random) -> tuple[str, list[str], int]:
    name, friend = r.sample(_NAMES, 2)
    k = r.choice((2, 3, 4, 5))
    word = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}[k]
    n = k * r.randint(3, 30)
    bought = r.randint(2, 40)
    thing = r.choice(("marbles", "stamps", "trading cards", "seashells", "beads"))
    q = (
        f"{name} has {n} {thing} and gives {word} of them to {friend}. Then {name} buys {bought} more. "
        f"How many {thing} does {name} have now?"
    )
    given = n // k
    steps = [
        f"{name} gives away {n} / {k} = {given} {thing}.",
        f"{n} - {given} = {n - given} are left.",
        f"After buying more: {n - given} + {bought} = {n - given + bought}.",
    ]
    return q, steps, n - given + bought


def _wp_discount(r: random.Random) -> tuple[str, list[str], int]:
    name, item = r.choice(_NAMES), r.choice(("shirt", "lamp", "backpack", "pair of shoes", "board game"))
    price, pct, qty = 20 * r.randint(1, 10), r.choice((10, 20, 25, 50)), r.randint(2, 6)
    off = price * pct // 100
    q = (
        f"A {item} costs ${price}. During a sale it is {pct}% off. {name} buys {qty} of them. "
        f"How much does {name} pay in dollars?"
    )
    steps = [
        f"The discount is {pct}% of {price} = ${off}.",
        f"Each {item} costs {price} - {off} = ${price - off}.",
        f"For {qty} of them: {qty} * {price - off} = ${qty * (price - off)}.",
    ]
    return q, steps, qty * (price - off)


def _wp_ages(r: random.Random) -> tuple[str, list[str], int]:
    a, b = r.sample(_NAMES, 2)
    young, gap, later = r.randint(3, 40), r.randint(1, 30), r.randint(2, 15)
    q = (
        f"{b} is {young} years old. {a} is {gap} years older than {b}. "
        f"What will the sum of their ages be in {later} years?"
    )
    old = young + gap
    steps = [
        f"{a} is {young} + {gap} = {old} years old.",
        f"In {later} years they will be {young + later} and {old + later}.",
        f"The sum is {young + later} + {old + later} = {young + old + 2 * later}.",
    ]
    return q, steps, young + old + 2 * later


def _wp_garden(r: random.Random) -> tuple[str, list[str], int]:
    name, crop = r.choice(_NAMES), r.choice(("tomatoes", "peppers", "apples", "lemons", "plums"))
    rows, plants, fruit = r.randint(2, 9), r.randint(3, 12), r.randint(4, 20)
    total = rows * plants * fruit
    lost = r.randint(1, total // 3)
    q = (
        f"{name}'s garden has {rows} rows with {plants} plants in each row. Each plant gives {fruit} {crop}, "
        f"but birds take {lost} of them. How many {crop} does {name} harvest?"
    )
    steps = [
        f"There are {rows} * {plants} = {rows * plants} plants.",
        f"They give {rows * plants} * {fruit} = {total} {crop}.",
        f"After the birds: {total} - {lost} = {total - lost}.",
    ]
    return q, steps, total - lost


def _wp_reading(r: random.Random) -> tuple[str, list[str], int]:
    name = r.choice(_NAMES)
    rate, days, rate2, days2 = r.randint(5, 30), r.randint(2, 7), r.randint(10, 40), r.randint(2, 9)
    left = rate2 * days2
    pages = rate * days + left
    q = (
        f"A book has {pages} pages. {name} reads {rate} pages a day for {days} days. If {name} then reads "
        f"{rate2} pages a day, how many more days will it take to finish the book?"
    )
    steps = [
        f"{name} first reads {rate} * {days} = {rate * days} pages.",
        f"{pages} - {rate * days} = {left} pages remain.",
        f"At {rate2} pages a day that takes {left} / {rate2} = {days2} days.",
    ]
    return q, steps, days2


def _wp_wages(r: random.Random) -> tuple[str, list[str], int]:
    name = r.choice(_NAMES)
    hours, days, rate, bonus = r.randint(2, 9), r.randint(3, 6), r.randint(9, 30), 5 * r.randint(2, 20)
    pay = hours * days * rate
    q = (
        f"{name} works {hours} hours a day for {days} days and earns ${rate} per hour. "
        f"{name} also gets a ${bonus} bonus. How much does {name} earn in total, in dollars?"
    )
    steps = [
        f"{name} works {hours} * {days} = {hours * days} hours.",
        f"The hourly pay is {hours * days} * {rate} = ${pay}.",
        f"With the bonus: {pay} + {bonus} = ${pay + bonus}.",
    ]
    return q, steps, pay + bonus


def _wp_fuel(r: random.Random) -> tuple[str, list[str], int]:
    name = r.choice(_NAMES)
    km_per_l, litres, price = r.randint(8, 20), r.randint(5, 40), r.randint(1, 3)
    dist = km_per_l * litres
    q = (
        f"{name}'s car travels {km_per_l} km on one litre of fuel. Fuel costs ${price} per litre. "
        f"How much does fuel for a {dist} km trip cost, in dollars?"
    )
    steps = [
        f"The trip needs {dist} / {km_per_l} = {litres} litres.",
        f"The fuel costs {litres} * {price} = ${litres * price}.",
    ]
    return q, steps, litres * price


def _wp_classroom(r: random.Random) -> tuple[str, list[str], int]:
    teacher = r.choice(_NAMES)
    students, each, price = r.randint(12, 32), r.randint(2, 5), r.randint(1, 6)
    total = students * each * price
    budget = total + r.randint(5, 100)
    q = (
        f"{teacher} has a budget of ${budget} for notebooks. Each of the {students} students needs {each} "
        "notebooks, "
        f"and a notebook costs ${price}. How many dollars are left after buying them?"
    )
    steps = [
        f"The class needs {students} * {each} = {students * each} notebooks.",
        f"They cost {students * each} * {price} = ${total}.",
        f"{budget} - {total} = ${budget - total} are left.",
    ]
    return q, steps, budget - total


_WORD_PROBLEMS: tuple[Callable[[random.Random], tuple[str, list[str], int]], ...] = (
    _wp_shopping,
    _wp_savings,
    _wp_baking,
    _wp_travel,
    _wp_fraction,
    _wp_discount,
    _wp_ages,
    _wp_garden,
    _wp_reading,
    _wp_wages,
    _wp_fuel,
    _wp_classroom,
)


def _make_word_problem(r: random.Random) -> Example:
    template = r.choice(_WORD_PROBLEMS)
    question, steps, answer = template(r)
    return (
        question,
        "\n".join([*steps, f"#### {answer}"]),
        {"template": template.__name__[1:], "answer": str(answer)},
    )


# --------------------------------------------------------------------------------------------------
# python_functions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PyTemplate:
    names: tuple[str, ...]
    sig: str
    doc: str  # string.Template over the params, starts with a third-person verb
    body: str  # string.Template over the params, indented by 4 spaces
    params: Callable[[random.Random], dict[str, Any]]
    ref: Callable[[dict[str, Any]], Callable[..., Any]]
    inputs: Callable[[random.Random, dict[str, Any]], list[tuple[Any, ...]]]


def _ints(r: random.Random, lo: int = -20, hi: int = 50, n_lo: int = 3, n_hi: int = 8) -> list[int]:
    return [r.randint(lo, hi) for _ in range(r.randint(n_lo, n_hi))]


_WORDS = (
    "apple",
    "river",
    "stone",
    "garden",
    "music",
    "window",
    "orange",
    "table",
    "cloud",
    "pepper",
    "silver",
    "forest",
    "candle",
    "rocket",
    "banana",
    "island",
    "pencil",
    "thunder",
    "lemon",
    "planet",
    "basket",
    "dragon",
    "mirror",
    "ocean",
    "anchor",
    "violet",
    "tiger",
    "engine",
    "meadow",
    "harbor",
)


def _words(r: random.Random, n_lo: int = 2, n_hi: int = 5) -> list[str]:
    return [r.choice(_WORDS) for _ in range(r.randint(n_lo, n_hi))]


def _phrase(r: random.Random, n_lo: int = 2, n_hi: int = 5) -> str:
    return " ".join(_words(r, n_lo, n_hi))


def _no_params(r: random.Random) -> dict[str, Any]:
    return {}


def _three(
    make: Callable[[random.Random], tuple[Any, ...]],
) -> Callable[[random.Random, dict[str, Any]], list]:
    return lambda r, p: [make(r) for _ in range(3)]


def _fact(n: int) -> int:
    out = 1
    for i in range(2, n + 1):
        out *= i
    return out


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def _collatz(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def _is_power(n: int, k: int) -> bool:
    while n % k == 0:
        n //= k
    return n == 1


def _most_common(items: list[Any]) -> Any:
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    best = max(counts.values())
    return min(i for i, c in counts.items() if c == best)


def _caesar(text: str, k: int) -> str:
    return "".join(chr((ord(c) - 97 + k) % 26 + 97) if "a" <= c <= "z" else c for c in text)


def _camel_to_snake(s: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in s)


def _first_above(nums: list[int], t: int) -> int:
    return next((i for i, n in enumerate(nums) if n > t), -1)


def _interleave(a: list[Any], b: list[Any]) -> list[Any]:
    out: list[Any] = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out


def _scores(r: random.Random) -> dict[str, int]:
    keys = r.sample(_NAMES, r.randint(3, 6))
    return {k.lower(): r.randint(0, 100) for k in keys}


_PALINDROMES = (
    "racecar",
    "Never odd or even",
    "A man, a plan, a canal: Panama",
    "level",
    "Was it a car or a cat I saw?",
    "noon",
)
_IDENT_PARTS = (
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

_PY_TEMPLATES: tuple[_PyTemplate, ...] = (
    _PyTemplate(
        ("sum_divisible_by", "sum_multiples", "total_of_multiples"),
        "nums",
        "returns the sum of the numbers in `nums` that are divisible by $k",
        "    return sum(n for n in nums if n % $k == 0)",
        lambda r: {"k": r.randint(2, 7)},
        lambda p: lambda nums: sum(n for n in nums if n % p["k"] == 0),
        lambda r, p: [(_ints(r, 0, 60),) for _ in range(3)],
    ),
    _PyTemplate(
        ("scale_all", "multiply_each", "scaled"),
        "nums",
        "returns a new list with every element of `nums` multiplied by $k",
        "    return [n * $k for n in nums]",
        lambda r: {"k": r.choice((-3, -2, 2, 3, 4, 5, 7, 10))},
        lambda p: lambda nums: [n * p["k"] for n in nums],
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("count_above", "num_greater_than", "count_large"),
        "nums",
        "returns how many numbers in `nums` are strictly greater than $t",
        "    return sum(1 for n in nums if n > $t)",
        lambda r: {"t": r.randint(0, 25)},
        lambda p: lambda nums: sum(1 for n in nums if n > p["t"]),
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("keep_even", "even_numbers", "only_evens"),
        "nums",
        "returns a list of the even numbers in `nums`, in their original order",
        "    return [n for n in nums if n % 2 == 0]",
        _no_params,
        lambda p: lambda nums: [n for n in nums if n % 2 == 0],
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("keep_odd", "odd_numbers", "only_odds"),
        "nums",
        "returns a list of the odd numbers in `nums`, in their original order",
        "    return [n for n in nums if n % 2 != 0]",
        _no_params,
        lambda p: lambda nums: [n for n in nums if n % 2 != 0],
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("running_totals", "prefix_sums", "cumulative_sum"),
        "nums",
        "returns the running totals of `nums`: element i of the result is the sum of nums[0] through nums[i]",
        "    totals = []\n    current = 0\n    for n in nums:\n        current += n\n        "
        "totals.append(current)\n"
        "    return totals",
        _no_params,
        lambda p: lambda nums: [sum(nums[: i + 1]) for i in range(len(nums))],
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("clip_values", "clamp_all", "bound_values"),
        "nums",
        "returns a new list where every number in `nums` is limited to the range [$lo, $hi] "
        "(smaller values become $lo and larger values become $hi)",
        "    return [min(max(n, $lo), $hi) for n in nums]",
        lambda r: {"lo": r.randint(-10, 5), "hi": r.randint(10, 30)},
        lambda p: lambda nums: [min(max(n, p["lo"]), p["hi"]) for n in nums],
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("differences", "consecutive_diffs", "step_changes"),
        "nums",
        "returns the differences between consecutive elements of `nums` (nums[i + 1] - nums[i]); "
        "a list with fewer than two elements gives an empty list",
        "    return [b - a for a, b in zip(nums, nums[1:])]",
        _no_params,
        lambda p: lambda nums: [nums[i + 1] - nums[i] for i in range(len(nums) - 1)],
        lambda r, p: [(_ints(r, n_lo=1),) for _ in range(3)],
    ),
    _PyTemplate(
        ("unique_in_order", "dedupe", "remove_duplicates"),
        "items",
        "returns the elements of `items` without duplicates, keeping the first occurrence of each in the "
        "original order",
        "    seen = set()\n    result = []\n    for item in items:\n        if item not in seen:\n"
        "            seen.add(item)\n            result.append(item)\n    return result",
        _no_params,
        lambda p: lambda items: list(dict.fromkeys(items)),
        lambda r, p: [(_ints(r, 0, 6, 4, 10),), (_words(r, 4, 8),), (_ints(r, 0, 4, 3, 9),)],
    ),
    _PyTemplate(
        ("chunk", "split_into_groups", "batched"),
        "items",
        "splits `items` into consecutive groups of $k elements and returns them as a list of lists; "
        "the last group may be shorter",
        "    return [items[i : i + $k] for i in range(0, len(items), $k)]",
        lambda r: {"k": r.randint(2, 4)},
        lambda p: lambda items: [items[i : i + p["k"]] for i in range(0, len(items), p["k"])],
        lambda r, p: [(_ints(r, 0, 9, 2, 9),) for _ in range(3)],
    ),
    _PyTemplate(
        ("rotate_left", "shift_left", "rotated"),
        "items",
        "returns `items` rotated left by $k positions (the first elements move to the end, wrapping around "
        "for short lists); an empty list stays empty",
        "    if not items:\n        return []\n    shift = $k % len(items)\n    return items[shift:] + items[:shift]",
        lambda r: {"k": r.randint(1, 5)},
        lambda p: lambda items: items[p["k"] % len(items) :] + items[: p["k"] % len(items)] if items else [],
        lambda r, p: [(_ints(r, 0, 9, 2, 8),), (_words(r, 2, 6),), ([],)],
    ),
    _PyTemplate(
        ("second_largest", "runner_up", "second_max"),
        "nums",
        "returns the second largest distinct value in `nums`, or None if there are fewer than two distinct values",
        "    distinct = sorted(set(nums), reverse=True)\n    return distinct[1] if len(distinct) > 1 else None",
        _no_params,
        lambda p: lambda nums: sorted(set(nums), reverse=True)[1] if len(set(nums)) > 1 else None,
        lambda r, p: [(_ints(r),), (_ints(r),), ([r.randint(1, 9)] * r.randint(1, 3),)],
    ),
    _PyTemplate(
        ("word_counts", "count_words", "word_frequencies"),
        "text",
        "returns a dictionary mapping each word of `text` (split on whitespace and lower-cased) to the "
        "number "
        "of times it occurs",
        "    counts = {}\n    for word in text.lower().split():\n        counts[word] = counts.get(word, 0) "
        "+ 1\n"
        "    return counts",
        _no_params,
        lambda p: lambda text: {w: text.lower().split().count(w) for w in text.lower().split()},
        lambda r, p: [(" ".join(w if r.random() < 0.7 else w.upper() for w in _words(r, 3, 7)),) for _ in range(3)],
    ),
    _PyTemplate(
        ("char_frequency", "letter_counts", "count_chars"),
        "text",
        "returns a dictionary mapping each non-space character of `text` to the number of times it occurs, "
        "in order of first appearance",
        '    counts = {}\n    for c in text:\n        if c != " ":\n            counts[c] = counts.get(c, 0) '
        "+ 1\n"
        "    return counts",
        _no_params,
        lambda p: lambda text: {c: text.count(c) for c in text if c != " "},
        lambda r, p: [(_phrase(r, 1, 2),) for _ in range(3)],
    ),
    _PyTemplate(
        ("is_palindrome", "reads_same_backwards", "palindrome_check"),
        "text",
        "returns True if `text` reads the same forwards and backwards when only letters and digits are kept "
        "and case is ignored, and False otherwise",
        "    cleaned = [c.lower() for c in text if c.isalnum()]\n    return cleaned == cleaned[::-1]",
        _no_params,
        lambda p: (
            lambda text: [c.lower() for c in text if c.isalnum()] == [c.lower() for c in text if c.isalnum()][::-1]
        ),
        lambda r, p: [(r.choice(_PALINDROMES),), (_phrase(r),), (r.choice(_PALINDROMES),)],
    ),
    _PyTemplate(
        ("capitalize_words", "title_words", "capitalise_each"),
        "text",
        "returns `text` with the first letter of every space-separated word in upper case and the other "
        "letters "
        "in lower case",
        '    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" "))',
        _no_params,
        lambda p: lambda text: " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" ")),
        lambda r, p: [(_phrase(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("count_occurrences", "substring_count", "count_matches"),
        "text",
        'returns how many non-overlapping times the substring "$sub" occurs in `text`',
        "    return text.count($sub_repr)",
        lambda r: {"sub": r.choice(("an", "er", "on", "ar", "en", "le"))},
        lambda p: lambda text: text.count(p["sub"]),
        lambda r, p: [(_phrase(r, 3, 6),) for _ in range(3)],
    ),
    _PyTemplate(
        ("remove_vowels", "strip_vowels", "without_vowels"),
        "text",
        "returns `text` with all vowels (a, e, i, o, u, in either case) removed",
        '    return "".join(c for c in text if c.lower() not in "aeiou")',
        _no_params,
        lambda p: lambda text: "".join(c for c in text if c.lower() not in "aeiou"),
        lambda r, p: [(_cap(_phrase(r)),) for _ in range(3)],
    ),
    _PyTemplate(
        ("replace_char", "swap_character", "substitute_letter"),
        "text",
        "returns `text` with every occurrence of the character '$a' replaced by '$b'",
        "    return text.replace($a_repr, $b_repr)",
        lambda r: dict(zip(("a", "b"), r.sample("aeionrst*-_#", 2), strict=True)),
        lambda p: lambda text: text.replace(p["a"], p["b"]),
        lambda r, p: [(_phrase(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("truncate", "shorten", "clip_text"),
        "text",
        "returns `text` unchanged if it has at most $n characters, and otherwise its first $n characters "
        'followed by "..."',
        '    if len(text) <= $n:\n        return text\n    return text[:$n] + "..."',
        lambda r: {"n": r.randint(5, 15)},
        lambda p: lambda text: text if len(text) <= p["n"] else text[: p["n"]] + "...",
        lambda r, p: [(_phrase(r, 1, 4),) for _ in range(3)],
    ),
    _PyTemplate(
        ("acronym", "initials", "make_acronym"),
        "phrase",
        "returns the acronym of `phrase`: the first letter of each word, upper-cased and joined together",
        '    return "".join(word[0].upper() for word in phrase.split())',
        _no_params,
        lambda p: lambda phrase: "".join(w[0].upper() for w in phrase.split()),
        lambda r, p: [(_phrase(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("caesar_shift", "shift_letters", "encode_caesar"),
        "text",
        "shifts every lowercase letter in `text` forward by $k places in the alphabet, wrapping from z back "
        "to a, "
        "and leaves all other characters unchanged",
        '    result = []\n    for c in text:\n        if "a" <= c <= "z":\n'
        '            result.append(chr((ord(c) - ord("a") + $k) % 26 + ord("a")))\n        else:\n'
        '            result.append(c)\n    return "".join(result)',
        lambda r: {"k": r.randint(1, 25)},
        lambda p: lambda text: _caesar(text, p["k"]),
        lambda r, p: [(_phrase(r, 1, 3) + r.choice(("", "!", "?", " 42")),) for _ in range(3)],
    ),
    _PyTemplate(
        ("snake_to_camel", "to_camel_case", "camelize"),
        "identifier",
        'converts a snake_case identifier such as "max_value" into camelCase ("maxValue")',
        '    first, *rest = identifier.split("_")\n    return first + "".join(part.capitalize() for part in rest)',
        _no_params,
        lambda p: lambda s: s.split("_")[0] + "".join(x.capitalize() for x in s.split("_")[1:]),
        lambda r, p: [("_".join(r.sample(_IDENT_PARTS, r.randint(1, 4))),) for _ in range(3)],
    ),
    _PyTemplate(
        ("camel_to_snake", "to_snake_case", "snakify"),
        "identifier",
        'converts a camelCase identifier such as "maxValue" into snake_case ("max_value")',
        '    chars = []\n    for c in identifier:\n        if c.isupper():\n            chars.append("_")\n'
        "            chars.append(c.lower())\n        else:\n            chars.append(c)\n    return "
        '"".join(chars)',
        _no_params,
        lambda p: _camel_to_snake,
        lambda r, p: [
            (
                (lambda parts: parts[0] + "".join(x.capitalize() for x in parts[1:]))(
                    r.sample(_IDENT_PARTS, r.randint(1, 4))
                ),
            )
            for _ in range(3)
        ],
    ),
    _PyTemplate(
        ("factorial", "fact", "product_up_to"),
        "n",
        "returns n! (the product 1 * 2 * ... * n) for a non-negative integer n, where 0! is 1",
        "    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
        _no_params,
        lambda p: _fact,
        lambda r, p: [(r.randint(0, 12),) for _ in range(3)],
    ),
    _PyTemplate(
        ("fibonacci", "fib", "nth_fibonacci"),
        "n",
        "returns the n-th Fibonacci number F(n), where F(0) = 0, F(1) = 1 and F(n) = F(n - 1) + F(n - 2)",
        "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        _no_params,
        lambda p: _fib,
        lambda r, p: [(r.randint(0, 30),) for _ in range(3)],
    ),
    _PyTemplate(
        ("is_prime", "prime_check", "check_prime"),
        "n",
        "returns True if the integer n is a prime number and False otherwise (numbers below 2 are not prime)",
        "    if n < 2:\n        return False\n    d = 2\n    while d * d <= n:\n        if n % d == 0:\n"
        "            return False\n        d += 1\n    return True",
        _no_params,
        lambda p: _is_prime,
        lambda r, p: [(r.randint(-3, 120),) for _ in range(3)],
    ),
    _PyTemplate(
        ("gcd", "greatest_common_divisor", "highest_common_factor"),
        "a, b",
        "returns the greatest common divisor of two positive integers a and b",
        "    while b:\n        a, b = b, a % b\n    return a",
        _no_params,
        lambda p: lambda a, b: max(d for d in range(1, min(a, b) + 1) if a % d == 0 and b % d == 0),
        lambda r, p: [(r.randint(2, 60) * (f := r.randint(1, 12)), r.randint(2, 60) * f) for _ in range(3)],
    ),
    _PyTemplate(
        ("digit_sum", "sum_of_digits", "add_digits"),
        "n",
        "returns the sum of the decimal digits of the non-negative integer n",
        "    return sum(int(d) for d in str(n))",
        _no_params,
        lambda p: lambda n: sum(int(d) for d in str(n)),
        lambda r, p: [(r.randint(0, 10**6),) for _ in range(3)],
    ),
    _PyTemplate(
        ("power_sum", "sum_of_powers", "series_total"),
        "n",
        "returns 1**$k + 2**$k + ... + n**$k for a non-negative integer n (0 when n is 0)",
        "    return sum(i**$k for i in range(1, n + 1))",
        lambda r: {"k": r.randint(2, 4)},
        lambda p: lambda n: sum(i ** p["k"] for i in range(1, n + 1)),
        lambda r, p: [(r.randint(0, 15),) for _ in range(3)],
    ),
    _PyTemplate(
        ("count_multiples", "multiples_up_to", "how_many_multiples"),
        "n",
        "returns how many integers from 1 to n inclusive are multiples of $k (n is non-negative)",
        "    return n // $k",
        lambda r: {"k": r.randint(2, 9)},
        lambda p: lambda n: sum(1 for i in range(1, n + 1) if i % p["k"] == 0),
        lambda r, p: [(r.randint(0, 200),) for _ in range(3)],
    ),
    _PyTemplate(
        ("collatz_steps", "steps_to_one", "collatz_length"),
        "n",
        "returns the number of steps the Collatz process needs to reach 1 from a positive integer n: "
        "an even n is halved and an odd n becomes 3 * n + 1",
        "    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += "
        "1\n"
        "    return steps",
        _no_params,
        lambda p: _collatz,
        lambda r, p: [(r.randint(1, 100),) for _ in range(3)],
    ),
    _PyTemplate(
        ("is_power_of", "power_check", "is_exact_power"),
        "n",
        "returns True if the positive integer n is a power of $k (1, $k, $k**2, ...) and False otherwise",
        "    while n % $k == 0:\n        n //= $k\n    return n == 1",
        lambda r: {"k": r.randint(2, 5)},
        lambda p: lambda n: _is_power(n, p["k"]),
        lambda r, p: [(p["k"] ** r.randint(0, 6),), (r.randint(1, 300),), (p["k"] ** r.randint(1, 4) * 7,)],
    ),
    _PyTemplate(
        ("invert_dict", "swap_keys_values", "reverse_mapping"),
        "mapping",
        "returns a new dictionary with the keys and values of `mapping` swapped (all values are distinct)",
        "    return {value: key for key, value in mapping.items()}",
        _no_params,
        lambda p: lambda m: dict(zip(m.values(), m.keys(), strict=True)),
        lambda r, p: [({w: i for i, w in enumerate(r.sample(_WORDS, r.randint(1, 5)))},) for _ in range(3)],
    ),
    _PyTemplate(
        ("merge_counts", "add_dicts", "combine_totals"),
        "first, second",
        "merges two dictionaries of numbers into a new one, adding the values of keys that appear in both",
        "    merged = dict(first)\n    for key, value in second.items():\n"
        "        merged[key] = merged.get(key, 0) + value\n    return merged",
        _no_params,
        lambda p: lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in [*a, *[k for k in b if k not in a]]},
        lambda r, p: [(_scores(r), _scores(r)) for _ in range(3)],
    ),
    _PyTemplate(
        ("filter_scores", "passing_entries", "at_least"),
        "scores",
        "returns a dictionary with only the entries of `scores` whose value is at least $t",
        "    return {key: value for key, value in scores.items() if value >= $t}",
        lambda r: {"t": 10 * r.randint(3, 8)},
        lambda p: lambda s: {k: v for k, v in s.items() if v >= p["t"]},
        lambda r, p: [(_scores(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("rank_keys", "keys_by_value", "leaderboard"),
        "scores",
        "returns the keys of `scores` sorted by value from highest to lowest, breaking ties alphabetically by key",
        "    return sorted(scores, key=lambda key: (-scores[key], key))",
        _no_params,
        lambda p: lambda s: [k for _, k in sorted((-v, k) for k, v in s.items())],
        lambda r, p: [(_scores(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("group_by_initial", "index_by_letter", "bucket_words"),
        "words",
        "returns a dictionary mapping each first letter to the list of words of `words` that start with it, "
        "keeping the input order",
        "    groups = {}\n    for word in words:\n        groups.setdefault(word[0], []).append(word)\n    "
        "return groups",
        _no_params,
        lambda p: lambda ws: {w[0]: [x for x in ws if x[0] == w[0]] for w in ws},
        lambda r, p: [(_words(r, 3, 7),) for _ in range(3)],
    ),
    _PyTemplate(
        ("word_lengths", "length_map", "measure_words"),
        "words",
        "returns a dictionary mapping each word in `words` to its length",
        "    return {word: len(word) for word in words}",
        _no_params,
        lambda p: lambda ws: {w: len(w) for w in ws},
        lambda r, p: [(_words(r, 2, 6),) for _ in range(3)],
    ),
    _PyTemplate(
        ("flatten", "flatten_once", "concat_lists"),
        "nested",
        "flattens a list of lists by one level, keeping the order of the elements",
        "    return [item for inner in nested for item in inner]",
        _no_params,
        lambda p: lambda nested: list(itertools.chain.from_iterable(nested)),
        lambda r, p: [([_ints(r, 0, 9, 0, 3) for _ in range(r.randint(1, 4))],) for _ in range(3)],
    ),
    _PyTemplate(
        ("zip_to_dict", "pair_up", "make_lookup"),
        "keys, values",
        "builds a dictionary pairing each element of `keys` with the element of `values` at the same "
        "position; "
        "extra elements of the longer list are ignored",
        "    return dict(zip(keys, values))",
        _no_params,
        lambda p: lambda ks, vs: {ks[i]: vs[i] for i in range(min(len(ks), len(vs)))},
        lambda r, p: [(r.sample(_WORDS, r.randint(1, 4)), _ints(r, 0, 99, 1, 5)) for _ in range(3)],
    ),
    _PyTemplate(
        ("average", "mean_value", "rounded_mean"),
        "nums",
        "returns the mean of `nums` rounded to $d decimal places, or 0.0 for an empty list",
        "    if not nums:\n        return 0.0\n    return round(sum(nums) / len(nums), $d)",
        lambda r: {"d": r.randint(1, 3)},
        lambda p: lambda nums: round(sum(nums) / len(nums), p["d"]) if nums else 0.0,
        lambda r, p: [(_ints(r),), (_ints(r),), ([],)],
    ),
    _PyTemplate(
        ("most_common", "mode", "most_frequent"),
        "items",
        "returns the most frequent element of the non-empty list `items`; when several elements are equally "
        "frequent it returns the smallest of them",
        "    counts = {}\n    for item in items:\n        counts[item] = counts.get(item, 0) + 1\n"
        "    best = max(counts.values())\n    return min(item for item, count in counts.items() if count == "
        "best)",
        _no_params,
        lambda p: _most_common,
        lambda r, p: [(_ints(r, 0, 5, 3, 10),), (_words(r, 3, 8),), (_ints(r, 0, 5, 3, 10),)],
    ),
    _PyTemplate(
        ("first_index_above", "find_first_greater", "index_of_first_large"),
        "nums",
        "returns the index of the first element of `nums` that is greater than $t, or -1 if there is none",
        "    for i, n in enumerate(nums):\n        if n > $t:\n            return i\n    return -1",
        lambda r: {"t": r.randint(10, 40)},
        lambda p: lambda nums: _first_above(nums, p["t"]),
        lambda r, p: [(_ints(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("count_uppercase", "capital_count", "num_capitals"),
        "text",
        "returns how many upper-case letters `text` contains",
        "    return sum(1 for c in text if c.isupper())",
        _no_params,
        lambda p: lambda text: sum(1 for c in text if c.isupper()),
        lambda r, p: [(" ".join(w.upper() if r.random() < 0.3 else _cap(w) for w in _words(r)),) for _ in range(3)],
    ),
    _PyTemplate(
        ("reverse_each_word", "mirror_words", "flip_words"),
        "text",
        "returns `text` with the letters of every space-separated word reversed, keeping the words in place",
        '    return " ".join(word[::-1] for word in text.split(" "))',
        _no_params,
        lambda p: lambda text: " ".join(w[::-1] for w in text.split(" ")),
        lambda r, p: [(_phrase(r),) for _ in range(3)],
    ),
    _PyTemplate(
        ("to_binary", "binary_string", "as_binary"),
        "n",
        "returns the binary representation of the non-negative integer n as a string without the '0b' prefix",
        "    return bin(n)[2:]",
        _no_params,
        lambda p: lambda n: format(n, "b"),
        lambda r, p: [(r.randint(0, 1000),) for _ in range(3)],
    ),
    _PyTemplate(
        ("sum_digits_in_text", "digit_total", "add_up_digits"),
        "text",
        "returns the sum of all digit characters that appear in `text`",
        "    return sum(int(c) for c in text if c.isdigit())",
        _no_params,
        lambda p: lambda text: sum(int(c) for c in text if c.isdigit()),
        lambda r, p: [
            (f"{r.choice(_WORDS)}{r.randint(0, 999)} {r.choice(_WORDS)}{r.randint(0, 99)}",) for _ in range(3)
        ],
    ),
    _PyTemplate(
        ("count_long_words", "long_word_count", "words_longer_than"),
        "text",
        "returns how many whitespace-separated words of `text` have more than $n characters",
        "    return sum(1 for word in text.split() if len(word) > $n)",
        lambda r: {"n": r.randint(3, 6)},
        lambda p: lambda text: sum(1 for w in text.split() if len(w) > p["n"]),
        lambda r, p: [(_phrase(r, 3, 7),) for _ in range(3)],
    ),
    _PyTemplate(
        ("value_range", "spread", "max_minus_min"),
        "nums",
        "returns the difference between the largest and the smallest number in `nums`, or 0 for an empty list",
        "    if not nums:\n        return 0\n    return max(nums) - min(nums)",
        _no_params,
        lambda p: lambda nums: max(nums) - min(nums) if nums else 0,
        lambda r, p: [(_ints(r),), (_ints(r),), ([],)],
    ),
    _PyTemplate(
        ("interleave", "alternate", "weave_lists"),
        "a, b",
        "returns a list that alternates elements of `a` and `b` (starting with `a`); when one list runs out, "
        "the rest of the other list follows",
        "    result = []\n    for i in range(max(len(a), len(b))):\n        if i < len(a):\n            "
        "result.append(a[i])\n"
        "        if i < len(b):\n            result.append(b[i])\n    return result",
        _no_params,
        lambda p: _interleave,
        lambda r, p: [(_ints(r, 0, 9, 0, 5), _ints(r, 10, 99, 0, 5)) for _ in range(3)],
    ),
    _PyTemplate(
        ("product", "multiply_all", "list_product"),
        "nums",
        "returns the product of all numbers in `nums` (1 for an empty list)",
        "    result = 1\n    for n in nums:\n        result *= n\n    return result",
        _no_params,
        lambda p: math.prod,
        lambda r, p: [(_ints(r, -5, 9, 0, 6),) for _ in range(3)],
    ),
    _PyTemplate(
        ("zero_pad", "pad_number", "fixed_width"),
        "n",
        "returns the decimal string of the non-negative integer n padded on the left with zeros to at least "
        "$w characters",
        "    return str(n).zfill($w)",
        lambda r: {"w": r.randint(3, 8)},
        lambda p: lambda n: "0" * max(0, p["w"] - len(str(n))) + str(n),
        lambda r, p: [(r.randint(0, 10 ** r.randint(1, 6)),) for _ in range(3)],
    ),
    _PyTemplate(
        ("is_sorted", "in_order", "non_decreasing"),
        "nums",
        "returns True if `nums` is sorted in non-decreasing order and False otherwise",
        "    return all(a <= b for a, b in zip(nums, nums[1:]))",
        _no_params,
        lambda p: lambda nums: nums == sorted(nums),
        lambda r, p: [(sorted(_ints(r)),), (_ints(r),), (sorted(_ints(r)),)],
    ),
    _PyTemplate(
        ("count_vowels", "vowel_count", "num_vowels"),
        "text",
        "returns the number of vowels (a, e, i, o, u, in either case) in `text`",
        '    return sum(1 for c in text.lower() if c in "aeiou")',
        _no_params,
        lambda p: lambda text: sum(text.lower().count(v) for v in "aeiou"),
        lambda r, p: [(_cap(_phrase(r)),) for _ in range(3)],
    ),
)

_PY_OPENERS = (
    "Write a Python function",
    "Implement a Python function",
    "Create a function",
    "Define a Python function",
    "Please write a function",
)


def _call(name: str, args: tuple[Any, ...]) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def _make_python_function(r: random.Random) -> Example:
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
        docstring = f'    """{_cap(doc)}.\n\n    >>> {_call(name, cases[0])}\n    {expected[0]!r}\n    """'
        intro = r.choice(("Complete the following Python function:", "Fill in the body of this function:"))
        user = f"{intro}\n```python\n{header}\n{docstring}\n```"
        code = f"{header}\n{docstring}\n{body}\n"
    assistant = f"```python\n{code}```"
    return user, assistant, {"entry_point": name, "code": code, "tests": tests}


# --------------------------------------------------------------------------------------------------
# string_manipulation
# --------------------------------------------------------------------------------------------------

_STRING_OPS: tuple[tuple[str, tuple[str, ...], Callable[[str, dict[str, str]], str]], ...] = (
    ("reverse", ('Reverse the string "{s}".', 'Write "{s}" backwards.'), lambda s, p: s[::-1]),
    ("upper", ('Convert "{s}" to upper case.', 'Write "{s}" in capital letters.'), lambda s, p: s.upper()),
    (
        "lower",
        ('Convert "{s}" to lower case.', 'Write "{s}" using only lowercase letters.'),
        lambda s, p: s.lower(),
    ),
    (
        "title",
        ('Capitalise the first letter of every word in "{s}".', 'Convert "{s}" to title case.'),
        lambda s, p: s.title(),
    ),
    (
        "count_vowels",
        ('How many vowels (a, e, i, o, u) are in "{s}"?', 'Count the vowels in the string "{s}".'),
        lambda s, p: str(sum(s.lower().count(v) for v in "aeiou")),
    ),
    (
        "count_letter",
        ('How many times does the letter "{c}" appear in "{s}"?', 'Count the occurrences of "{c}" in "{s}".'),
        lambda s, p: str(s.lower().count(p["c"])),
    ),
    (
        "replace",
        ('Replace every "{a}" with "{b}" in "{s}".', 'In the string "{s}", change each "{a}" to "{b}".'),
        lambda s, p: s.replace(p["a"], p["b"]),
    ),
    (
        "remove_spaces",
        ('Remove all spaces from "{s}".', 'Delete the spaces in "{s}".'),
        lambda s, p: s.replace(" ", ""),
    ),
    (
        "reverse_words",
        ('Reverse the order of the words in "{s}".', 'Write the words of "{s}" in reverse order.'),
        lambda s, p: " ".join(s.split(" ")[::-1]),
    ),
    (
        "acronym",
        ('Form an acronym from the first letters of the words in "{s}" (in capitals).',),
        lambda s, p: "".join(w[0].upper() for w in s.split()),
    ),
    (
        "length",
        ('How many characters, including spaces, are in "{s}"?', 'What is the length of the string "{s}"?'),
        lambda s, p: str(len(s)),
    ),
    (
        "remove_vowels",
        ('Remove all the vowels from "{s}".', 'Delete every vowel (a, e, i, o, u) in "{s}".'),
        lambda s, p: "".join(c for c in s if c.lower() not in "aeiou"),
    ),
    (
        "swapcase",
        ('Swap the case of every letter in "{s}".', 'Invert the letter case of "{s}".'),
        lambda s, p: s.swapcase(),
    ),
    (
        "sort_letters",
        ('Sort the letters of "{s}" alphabetically (ignore spaces).',),
        lambda s, p: "".join(sorted(s.replace(" ", ""))),
    ),
)


def _make_string_manipulation(r: random.Random) -> Example:
    op, prompts, fn = r.choice(_STRING_OPS)
    words = _words(r, 1, 4)
    if op in ("lower", "swapcase", "title"):
        words = [w.upper() if r.random() < 0.4 else _cap(w) if r.random() < 0.5 else w for w in words]
    s = " ".join(words)
    letters = [c for c in s.lower() if c.isalpha()]
    p = {"c": r.choice(letters), "a": r.choice(letters), "b": r.choice("xyz*-")}
    result = fn(s, p)
    user = r.choice(prompts).format(s=s, **p)
    used = {k: v for k, v in p.items() if "{" + k + "}" in "".join(prompts)}
    return user, result, {"op": op, "input": s, "params": used, "answer": result}


# --------------------------------------------------------------------------------------------------
# unit_conversion
# --------------------------------------------------------------------------------------------------

#: (from, to) -> multiplicative factor; temperatures are handled by formula.
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("km", "mi"): 0.621371,
    ("mi", "km"): 1.609344,
    ("kg", "lb"): 2.204623,
    ("lb", "kg"): 0.453592,
    ("m", "ft"): 3.28084,
    ("ft", "m"): 0.3048,
    ("in", "cm"): 2.54,
    ("cm", "in"): 0.393701,
    ("L", "gal"): 0.264172,
    ("gal", "L"): 3.785412,
    ("oz", "g"): 28.349523,
    ("g", "oz"): 0.035274,
    ("h", "min"): 60.0,
    ("km", "m"): 1000.0,
    ("m", "cm"): 100.0,
}
_UNIT_NAMES = {
    "km": "kilometres",
    "mi": "miles",
    "kg": "kilograms",
    "lb": "pounds",
    "m": "metres",
    "ft": "feet",
    "in": "inches",
    "cm": "centimetres",
    "L": "litres",
    "gal": "US gallons",
    "oz": "ounces",
    "g": "grams",
    "h": "hours",
    "min": "minutes",
    "C": "degrees Celsius",
    "F": "degrees Fahrenheit",
    "K": "kelvin",
}


def convert_units(value: float, src: str, dst: str) -> float:
    """Converts ``value`` from unit ``src`` to ``dst`` (the generator's single source of truth)."""
    if (src, dst) == ("C", "F"):
        return value * 9 / 5 + 32
    if (src, dst) == ("F", "C"):
        return (value - 32) * 5 / 9
    if (src, dst) == ("C", "K"):
        return value + 273.15
    return value * UNIT_FACTORS[(src, dst)]


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _make_unit_conversion(r: random.Random) -> Example:
    pairs = [*UNIT_FACTORS, ("C", "F"), ("F", "C"), ("C", "K")]
    src, dst = r.choice(pairs)
    if src in ("C", "F"):
        value: float = r.randint(-40, 220) if src == "F" else r.randint(-30, 100)
    else:
        value = r.randint(1, 500) if r.random() < 0.6 else round(r.uniform(0.5, 100), 1)
    result = convert_units(value, src, dst)
    answer = f"{result:.2f}"
    v, a, b = _fmt_num(value), _UNIT_NAMES[src], _UNIT_NAMES[dst]
    user = r.choice(
        (
            f"Convert {v} {a} to {b}.",
            f"How many {b} are in {v} {a}?",
            f"What is {v} {a} in {b}? Round to two decimal places.",
            f"Express {v} {a} in {b}.",
        )
    )
    if (src, dst) == ("C", "F"):
        work = f"Use F = C * 9/5 + 32: {v} * 9/5 + 32 = {answer}."
    elif (src, dst) == ("F", "C"):
        work = f"Use C = (F - 32) * 5/9: ({v} - 32) * 5/9 = {answer}."
    elif (src, dst) == ("C", "K"):
        work = f"Use K = C + 273.15: {v} + 273.15 = {answer}."
    else:
        factor = _fmt_num(UNIT_FACTORS[(src, dst)])
        work = f"1 {src} = {factor} {dst}, so {v} {src} = {v} * {factor} = {answer} {dst}."
    assistant = f"{work}\nSo {v} {a} is about {answer} {b}."
    return user, assistant, {"value": value, "from": src, "to": dst, "answer": answer}


# --------------------------------------------------------------------------------------------------
# date_reasoning (also used for the `dates` query set)
# --------------------------------------------------------------------------------------------------


def _fmt_date(d: dt.date, style: int) -> str:
    if style == 0:
        return d.isoformat()
    if style == 1:
        return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _weekday(d: dt.date) -> str:
    return _WEEKDAYS[d.weekday()]


def solve_date_question(meta: dict[str, Any]) -> str:
    """Recomputes the answer of a date question from its ``meta`` (used by the generator and tests)."""
    start = dt.date.fromisoformat(meta["start"])
    kind, n = meta["kind"], meta.get("days", 0)
    if kind == "weekday_after":
        return _weekday(start + dt.timedelta(days=n))
    if kind == "weekday_before":
        return _weekday(start - dt.timedelta(days=n))
    if kind == "date_after":
        return (start + dt.timedelta(days=n)).isoformat()
    if kind == "date_before":
        return (start - dt.timedelta(days=n)).isoformat()
    if kind == "days_between":
        return str((dt.date.fromisoformat(meta["end"]) - start).days)
    if kind == "weekday_of":
        return _weekday(start)
    raise ValueError(f"unknown date question kind {kind!r}")


def _make_date_question(r: random.Random) -> Example:
    start = dt.date(1990, 1, 1) + dt.timedelta(days=r.randint(0, 40 * 365))
    style = r.randint(0, 2)
    d = _fmt_date(start, style)
    kind = r.choice(("weekday_after", "weekday_before", "date_after", "date_before", "days_between", "weekday_of"))
    n = r.randint(1, 400)
    meta: dict[str, Any] = {"kind": kind, "start": start.isoformat(), "days": n}
    iso, wd = start.isoformat(), _weekday(start)
    if kind in ("weekday_after", "weekday_before"):
        sign = 1 if kind == "weekday_after" else -1
        end = start + dt.timedelta(days=sign * n)
        word = "after" if sign > 0 else "before"
        user = r.choice(
            (
                f"What day of the week is it {n} days {word} {d}?",
                f"If today is {d}, what day of the week {'will it be in' if sign > 0 else 'was it'} {n} days"
                f"{'' if sign > 0 else ' ago'}?",
                f"Which weekday falls {n} days {word} {d}?",
            )
        )
        move = "forward" if sign > 0 else "back"
        work = (
            f"{iso} is a {wd}. {n} days is {n // 7} weeks and {n % 7} days, so the weekday moves {move} "
            f"{n % 7} days from {wd}. The date {n} days {word} is {end.isoformat()}, a {_weekday(end)}."
        )
    elif kind in ("date_after", "date_before"):
        sign = 1 if kind == "date_after" else -1
        end = start + dt.timedelta(days=sign * n)
        word = "after" if sign > 0 else "before"
        user = r.choice(
            (
                f"What is the date {n} days {word} {d}? Answer in YYYY-MM-DD format.",
                f"Give the date (YYYY-MM-DD) that is {n} days {word} {d}.",
                f"Count {n} days {'forward' if sign > 0 else 'back'} from {d}. Which date (YYYY-MM-DD) do you reach?",
            )
        )
        work = f"Counting {n} days {'forward' if sign > 0 else 'back'} from {iso} gives {end.isoformat()}."
    elif kind == "days_between":
        end = start + dt.timedelta(days=n)
        meta["end"] = end.isoformat()
        e = _fmt_date(end, r.randint(0, 2))
        user = r.choice(
            (
                f"How many days are there from {d} to {e}?",
                f"How many days after {d} is {e}?",
                f"Count the number of days between {d} and {e}.",
            )
        )
        work = f"From {iso} to {end.isoformat()} the difference is {n} days."
    else:
        meta.pop("days")
        user = r.choice(
            (
                f"What day of the week was {d}?",
                f"On which weekday did {d} fall?",
                f"Which day of the week is {d}?",
            )
        )
        work = f"{iso} is a {wd}."
    answer = solve_date_question(meta)
    meta["answer"] = answer
    return user, f"{work}\nThe answer is {answer}.", meta


# --------------------------------------------------------------------------------------------------
# boolean_logic
# --------------------------------------------------------------------------------------------------

_BoolNode = tuple  # ("lit", value, name | None) | ("not", child) | ("and" | "or", left, right)


def _bool_tree(r: random.Random, depth: int) -> _BoolNode:
    if depth == 0 or (depth < 3 and r.random() < 0.3):
        return ("lit", r.random() < 0.5, None)
    op = r.choice(("and", "or", "and", "or", "not"))
    if op == "not":
        return ("not", _bool_tree(r, depth - 1))
    return (op, _bool_tree(r, depth - 1), _bool_tree(r, depth - 1))


def _bool_render(node: _BoolNode, names: bool = False) -> str:
    kind = node[0]
    if kind == "lit":
        return node[2] if names and node[2] else str(node[1])
    if kind == "not":
        inner = _bool_render(node[1], names)
        return f"not ({inner})" if node[1][0] in ("and", "or") else f"not {inner}"
    left, right = (_bool_render(c, names) for c in node[1:])
    left = f"({left})" if node[1][0] in ("and", "or") else left
    right = f"({right})" if node[2][0] in ("and", "or") else right
    return f"{left} {kind} {right}"


def _bool_value(node: _BoolNode) -> bool:
    if node[0] == "lit":
        return node[1]
    if node[0] == "not":
        return not _bool_value(node[1])
    a, b = _bool_value(node[1]), _bool_value(node[2])
    return (a and b) if node[0] == "and" else (a or b)


def _bool_reduce(node: _BoolNode) -> _BoolNode:
    """Evaluates every operator whose operands are all literals (one simplification step)."""
    if node[0] == "lit":
        return node
    children = node[1:]
    if all(c[0] == "lit" for c in children):
        return ("lit", _bool_value(node), None)
    return (node[0], *(_bool_reduce(c) for c in children))


def _bool_assign_names(node: _BoolNode, table: dict[bool, list[str]], r: random.Random) -> _BoolNode:
    if node[0] == "lit":
        return ("lit", node[1], r.choice(table[node[1]]))
    return (node[0], *(_bool_assign_names(c, table, r) for c in node[1:]))


def _make_boolean_logic(r: random.Random) -> Example:
    tree = _bool_tree(r, r.randint(2, 3))
    while tree[0] == "lit":
        tree = _bool_tree(r, 3)
    value = _bool_value(tree)
    lines = []
    if r.random() < 0.3:
        letters = r.sample("pqrsxyz", 3)
        values = [True, False, r.random() < 0.5]
        r.shuffle(values)
        table: dict[bool, list[str]] = {True: [], False: []}
        for name, val in zip(letters, values, strict=True):
            table[val].append(name)
        tree = _bool_assign_names(tree, table, r)
        assign = ", ".join(f"{n} = {v}" for n, v in zip(letters, values, strict=True))
        user = f"Let {assign}. What is the value of `{_bool_render(tree, names=True)}`?"
        lines.append(f"Substituting the values: {_bool_render(tree)}")
    else:
        expr = _bool_render(tree)
        user = r.choice(
            (
                f"Evaluate the boolean expression: {expr}",
                f"What does `{expr}` evaluate to in Python?",
                f"Is the following expression True or False? {expr}",
            )
        )
        lines.append(expr)
    node = tree
    while node[0] != "lit":
        node = _bool_reduce(node)
        lines.append(f"= {_bool_render(node)}")
    if node[1] != value or eval(_bool_render(tree)) != value:
        raise AssertionError("boolean evaluation mismatch")
    steps = "\n".join(lines)
    return (
        user,
        f"{steps}\nThe expression is {value}.",
        {"expression": _bool_render(tree), "answer": str(value)},
    )


# --------------------------------------------------------------------------------------------------
# factual_qa
# --------------------------------------------------------------------------------------------------

_CAPITALS = (
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Portugal", "Lisbon"),
    ("Japan", "Tokyo"),
    ("China", "Beijing"),
    ("India", "New Delhi"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Brazil", "Brasília"),
    ("Argentina", "Buenos Aires"),
    ("Mexico", "Mexico City"),
    ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"),
    ("Nigeria", "Abuja"),
    ("Russia", "Moscow"),
    ("the United Kingdom", "London"),
    ("Ireland", "Dublin"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Poland", "Warsaw"),
    ("Greece", "Athens"),
    ("Turkey", "Ankara"),
    ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"),
    ("South Korea", "Seoul"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Colombia", "Bogotá"),
    ("Austria", "Vienna"),
    ("Hungary", "Budapest"),
    ("the Czech Republic", "Prague"),
    ("Morocco", "Rabat"),
    ("Ethiopia", "Addis Ababa"),
    ("New Zealand", "Wellington"),
    ("Cuba", "Havana"),
    ("Iceland", "Reykjavík"),
    ("the Philippines", "Manila"),
    ("Saudi Arabia", "Riyadh"),
    ("Iran", "Tehran"),
    ("Pakistan", "Islamabad"),
    ("Ukraine", "Kyiv"),
    ("Belgium", "Brussels"),
    ("Ghana", "Accra"),
    ("Senegal", "Dakar"),
)
_ELEMENTS = (
    ("hydrogen", "H", 1),
    ("helium", "He", 2),
    ("lithium", "Li", 3),
    ("carbon", "C", 6),
    ("nitrogen", "N", 7),
    ("oxygen", "O", 8),
    ("fluorine", "F", 9),
    ("neon", "Ne", 10),
    ("sodium", "Na", 11),
    ("magnesium", "Mg", 12),
    ("aluminium", "Al", 13),
    ("silicon", "Si", 14),
    ("phosphorus", "P", 15),
    ("sulfur", "S", 16),
    ("chlorine", "Cl", 17),
    ("argon", "Ar", 18),
    ("potassium", "K", 19),
    ("calcium", "Ca", 20),
    ("iron", "Fe", 26),
    ("cobalt", "Co", 27),
    ("nickel", "Ni", 28),
    ("copper", "Cu", 29),
    ("zinc", "Zn", 30),
    ("silver", "Ag", 47),
    ("tin", "Sn", 50),
    ("iodine", "I", 53),
    ("gold", "Au", 79),
    ("mercury", "Hg", 80),
    ("lead", "Pb", 82),
    ("uranium", "U", 92),
)
_PLANETS = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
_BOOKS = (
    ("Pride and Prejudice", "Jane Austen"),
    ("Nineteen Eighty-Four", "George Orwell"),
    ("Hamlet", "William Shakespeare"),
    ("Moby-Dick", "Herman Melville"),
    ("War and Peace", "Leo Tolstoy"),
    ("Don Quixote", "Miguel de Cervantes"),
    ("Frankenstein", "Mary Shelley"),
    ("The Great Gatsby", "F. Scott Fitzgerald"),
    ("One Hundred Years of Solitude", "Gabriel García Márquez"),
    ("Crime and Punishment", "Fyodor Dostoevsky"),
    ("On the Origin of Species", "Charles Darwin"),
    ("Jane Eyre", "Charlotte Brontë"),
    ("Wuthering Heights", "Emily Brontë"),
    ("Les Misérables", "Victor Hugo"),
    ("To Kill a Mockingbird", "Harper Lee"),
    ("The Divine Comedy", "Dante Alighieri"),
)
_POLYGONS = (
    ("triangle", 3),
    ("square", 4),
    ("pentagon", 5),
    ("hexagon", 6),
    ("heptagon", 7),
    ("octagon", 8),
    ("nonagon", 9),
    ("decagon", 10),
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _make_factual_qa(r: random.Random) -> Example:
    kind = r.choice(
        (
            "capital",
            "capital",
            "capital_of",
            "symbol",
            "element",
            "atomic",
            "planet",
            "planet_pos",
            "author",
            "polygon",
            "month",
        )
    )
    if kind == "capital":
        country, city = r.choice(_CAPITALS)
        user = r.choice(
            (
                f"What is the capital of {country}?",
                f"Name the capital city of {country}.",
                f"Which city is the capital of {country}?",
            )
        )
        return user, f"The capital of {country} is {city}.", {"kind": kind, "answer": city}
    if kind == "capital_of":
        country, city = r.choice(_CAPITALS)
        user = r.choice((f"{city} is the capital of which country?", f"Which country has {city} as its capital?"))
        return user, f"{city} is the capital of {country}.", {"kind": kind, "answer": country}
    if kind in ("symbol", "element", "atomic"):
        name, sym, z = r.choice(_ELEMENTS)
        if kind == "symbol":
            user = r.choice(
                (
                    f"What is the chemical symbol for {name}?",
                    f"Which symbol does {name} have on the periodic table?",
                )
            )
            return user, f"The chemical symbol for {name} is {sym}.", {"kind": kind, "answer": sym}
        if kind == "element":
            user = r.choice(
                (f"Which element has the chemical symbol {sym}?", f"Name the element whose symbol is {sym}.")
            )
            return user, f"{sym} is the symbol for {name}.", {"kind": kind, "answer": name}
        user = r.choice((f"What is the atomic number of {name}?", f"How many protons does an atom of {name} have?"))
        return user, f"{_cap(name)} has atomic number {z}.", {"kind": kind, "answer": str(z)}
    if kind in ("planet", "planet_pos"):
        i = r.randrange(8)
        if kind == "planet":
            user = r.choice(
                (
                    f"Which planet is the {_ORDINALS[i]} from the Sun?",
                    f"Name the {_ORDINALS[i]} planet from the Sun.",
                )
            )
            return (
                user,
                f"{_PLANETS[i]} is the {_ORDINALS[i]} planet from the Sun.",
                {"kind": kind, "answer": _PLANETS[i]},
            )
        user = r.choice(
            (
                f"What position from the Sun is {_PLANETS[i]}?",
                f"Counting from the Sun, which planet number is {_PLANETS[i]}?",
            )
        )
        return (
            user,
            f"{_PLANETS[i]} is planet number {i + 1} from the Sun.",
            {"kind": kind, "answer": str(i + 1)},
        )
    if kind == "author":
        book, author = r.choice(_BOOKS)
        user = r.choice((f"Who wrote {book}?", f"Who is the author of {book}?", f"Name the author of the book {book}."))
        return user, f"{book} was written by {author}.", {"kind": kind, "answer": author}
    if kind == "polygon":
        shape, sides = r.choice(_POLYGONS)
        user = r.choice((f"How many sides does a {shape} have?", f"A {shape} has how many sides?"))
        return user, f"A {shape} has {sides} sides.", {"kind": kind, "answer": str(sides)}
    m = r.randrange(12)
    user = r.choice(
        (
            f"How many days are in {_MONTHS[m]} in a non-leap year?",
            f"In a common (non-leap) year, how many days does {_MONTHS[m]} have?",
        )
    )
    return (
        user,
        f"{_MONTHS[m]} has {_MONTH_DAYS[m]} days in a non-leap year.",
        {"kind": kind, "answer": str(_MONTH_DAYS[m])},
    )


# --------------------------------------------------------------------------------------------------
# translation_rewriting
# --------------------------------------------------------------------------------------------------

_VERBS = (
    (
        "write",
        "writes",
        "wrote",
        "written",
        (("a letter", False), ("the report", False), ("two poems", True)),
    ),
    ("cook", "cooks", "cooked", "cooked", (("the soup", False), ("dinner", False), ("the vegetables", True))),
    (
        "paint",
        "paints",
        "painted",
        "painted",
        (("the fence", False), ("the walls", True), ("a portrait", False)),
    ),
    (
        "build",
        "builds",
        "built",
        "built",
        (("the bridge", False), ("a shed", False), ("the new houses", True)),
    ),
    ("clean", "cleans", "cleaned", "cleaned", (("the kitchen", False), ("the windows", True))),
    (
        "repair",
        "repairs",
        "repaired",
        "repaired",
        (("the bicycle", False), ("the old clocks", True), ("the roof", False)),
    ),
    ("deliver", "delivers", "delivered", "delivered", (("the parcels", True), ("the package", False))),
    ("sign", "signs", "signed", "signed", (("the contract", False), ("the forms", True))),
    ("bake", "bakes", "baked", "baked", (("the bread", False), ("the cakes", True), ("a pie", False))),
    ("design", "designs", "designed", "designed", (("the logo", False), ("the gardens", True))),
    ("wash", "washes", "washed", "washed", (("the dishes", True), ("the car", False))),
    ("open", "opens", "opened", "opened", (("the door", False), ("the gates", True))),
    ("find", "finds", "found", "found", (("the keys", True), ("the missing file", False))),
    ("draw", "draws", "drew", "drawn", (("a map", False), ("the diagrams", True))),
    ("choose", "chooses", "chose", "chosen", (("the winner", False), ("the colours", True))),
    ("send", "sends", "sent", "sent", (("the invitations", True), ("a reminder", False))),
    ("sell", "sells", "sold", "sold", (("the tickets", True), ("the old piano", False))),
    ("eat", "eats", "ate", "eaten", (("the apples", True), ("the sandwich", False))),
    ("take", "takes", "took", "taken", (("the photos", True), ("the last seat", False))),
    ("plant", "plants", "planted", "planted", (("the roses", True), ("a tree", False))),
)
_SUBJECTS = (
    ("the chef", False),
    ("Maria", False),
    ("the committee", False),
    ("our neighbours", True),
    ("the students", True),
    ("my brother", False),
    ("the engineers", True),
    ("a volunteer", False),
    ("the manager", False),
    ("Tom", False),
    ("the children", True),
    ("Ms. Lee", False),
)
_INFORMAL_CLAUSES = (
    "I can't make it to the {event} on {day}",
    "we're gonna finish the {thing} by {day}",
    "it's kinda hard to read the {thing}",
    "they don't wanna change the {thing}",
    "I'm not sure the {thing} is ready",
    "you won't need the {thing} on {day}",
    "she isn't coming to the {event}",
    "he didn't send the {thing} yet",
    "we haven't seen the {thing}",
    "I'll call you about the {event} on {day}",
    "the {thing} doesn't look right",
    "they're busy with the {event}",
    "it wasn't my idea to move the {event}",
    "I couldn't open the {thing}",
    "we'll need the {thing} by {day}",
    "let's talk about the {event} on {day}",
)
_FORMAL = (
    ("can't", "cannot"),
    ("won't", "will not"),
    ("don't", "do not"),
    ("doesn't", "does not"),
    ("didn't", "did not"),
    ("isn't", "is not"),
    ("wasn't", "was not"),
    ("haven't", "have not"),
    ("couldn't", "could not"),
    ("I'm", "I am"),
    ("we're", "we are"),
    ("they're", "they are"),
    ("it's", "it is"),
    ("I'll", "I will"),
    ("we'll", "we will"),
    ("let's", "let us"),
    ("gonna", "going to"),
    ("wanna", "want to"),
    ("kinda", "somewhat"),
    ("hey", "hello"),
    ("yeah", "yes"),
    ("thanks", "thank you"),
)
_PIG_WORDS = (
    "hello",
    "world",
    "apple",
    "string",
    "banana",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "orange",
    "smile",
    "eat",
    "green",
    "tree",
    "under",
    "river",
    "stone",
    "happy",
    "garden",
    "light",
    "music",
    "open",
    "school",
    "window",
    "train",
    "ice",
    "cream",
    "blue",
    "planet",
    "chair",
    "early",
    "morning",
)


def _formalise(text: str) -> str:
    for informal, formal in _FORMAL:
        text = re.sub(rf"(?<![\w']){re.escape(informal)}(?![\w'])", formal, text)
    return text


def _pig_latin_word(word: str) -> str:
    if word[0] in "aeiou":
        return word + "way"
    i = next(i for i, c in enumerate(word) if c in "aeiou")
    return word[i:] + word[:i] + "ay"


def _make_translation_rewriting(r: random.Random) -> Example:
    op = r.choice(("passive_past", "passive_present", "past_tense", "formal", "upper", "pig_latin"))
    base, third, past, participle, objects = r.choice(_VERBS)
    obj, obj_plural = r.choice(objects)
    subj, subj_plural = r.choice(_SUBJECTS)
    if op == "passive_past":
        source = f"{_cap(subj)} {past} {obj}."
        result = f"{_cap(obj)} {'were' if obj_plural else 'was'} {participle} by {subj}."
        user = r.choice(
            (f"Rewrite the sentence in the passive voice: {source}", f'Change to passive voice: "{source}"')
        )
    elif op == "passive_present":
        source = f"{_cap(subj)} {base if subj_plural else third} {obj}."
        result = f"{_cap(obj)} {'are' if obj_plural else 'is'} {participle} by {subj}."
        user = r.choice(
            (
                f"Rewrite the sentence in the passive voice: {source}",
                f'Put this sentence into the passive: "{source}"',
            )
        )
    elif op == "past_tense":
        source = f"{_cap(subj)} {base if subj_plural else third} {obj}."
        result = f"{_cap(subj)} {past} {obj}."
        user = r.choice(
            (
                f"Rewrite the sentence in the simple past tense: {source}",
                f'Change "{source}" to the past tense.',
            )
        )
    elif op == "formal":
        fill = {
            "event": r.choice(("meeting", "workshop", "party", "review", "conference")),
            "thing": r.choice(("report", "budget", "schedule", "contract", "slides", "invoice")),
            "day": r.choice(_WEEKDAYS[:5]),
        }
        first, second = (c.format(**fill) for c in r.sample(_INFORMAL_CLAUSES, 2))
        opener = r.choice(("hey, ", "yeah, ", "thanks, ", "", "", ""))
        informal = f"{opener}{first}{r.choice((' and ', ' but ', ', so '))}{second}."
        source, result = _cap(informal), _cap(_formalise(informal))
        user = r.choice(
            (
                f"Rewrite this message in a formal tone, expanding contractions and replacing slang: {source}",
                f'Make the following sentence formal (no contractions or slang): "{source}"',
            )
        )
    elif op == "upper":
        source = f"{_cap(subj)} {past} {obj} on {r.choice(_WEEKDAYS)}."
        result = source.upper()
        user = r.choice((f"Rewrite the sentence in all capital letters: {source}", f'Convert to uppercase: "{source}"'))
    else:
        words = [r.choice(_PIG_WORDS) for _ in range(r.randint(2, 5))]
        source = " ".join(words)
        result = " ".join(_pig_latin_word(w) for w in words)
        user = (
            f'Translate into Pig Latin: "{source}". Move the consonants before the first vowel of each word '
            'to its end and add "ay"; words that start with a vowel just get "way".'
        )
    return user, result, {"op": op, "source": source, "answer": result}


# --------------------------------------------------------------------------------------------------
# list_sorting
# --------------------------------------------------------------------------------------------------


def _fmt_median(values: list[int]) -> str:
    s = sorted(values)
    mid = len(s) // 2
    if len(s) % 2:
        return str(s[mid])
    total = s[mid - 1] + s[mid]
    return str(total // 2) if total % 2 == 0 else f"{total / 2:.1f}"


def _make_list_sorting(r: random.Random) -> Example:
    op = r.choice(("asc", "desc", "words", "words_desc", "min", "max", "median", "range", "by_length"))
    if op in ("words", "words_desc", "by_length"):
        items = r.sample(_WORDS + _PIG_WORDS, r.randint(4, 8))
        shown = ", ".join(items)
        if op == "words":
            out = sorted(items)
            user = r.choice(
                (
                    f"Sort these words alphabetically: {shown}",
                    f"Put the following words in alphabetical order: {shown}",
                )
            )
        elif op == "words_desc":
            out = sorted(items, reverse=True)
            user = f"Sort these words in reverse alphabetical order (Z to A): {shown}"
        else:
            out = sorted(items, key=lambda w: (len(w), w))
            user = f"Sort these words from shortest to longest, breaking ties alphabetically: {shown}"
        answer = ", ".join(out)
        return user, f"Sorted: {answer}", {"op": op, "items": items, "answer": answer}
    nums = [r.randint(-99, 99) for _ in range(r.randint(5, 10))]
    shown = ", ".join(map(str, nums)) if r.random() < 0.5 else str(nums)
    if op in ("asc", "desc"):
        out = sorted(nums, reverse=op == "desc")
        order = "ascending" if op == "asc" else "descending"
        user = r.choice(
            (
                f"Sort the numbers {shown} in {order} order.",
                f"Arrange these numbers in {order} order: {shown}",
            )
        )
        answer = ", ".join(map(str, out))
        return user, f"In {order} order: {answer}", {"op": op, "items": nums, "answer": answer}
    ordered = ", ".join(map(str, sorted(nums)))
    if op == "min":
        answer = str(min(nums))
        user = r.choice((f"What is the smallest number in {shown}?", f"Find the minimum of: {shown}"))
        work = f"Sorted: {ordered}. The smallest is {answer}."
    elif op == "max":
        answer = str(max(nums))
        user = r.choice((f"What is the largest number in {shown}?", f"Find the maximum of: {shown}"))
        work = f"Sorted: {ordered}. The largest is {answer}."
    elif op == "median":
        answer = _fmt_median(nums)
        user = r.choice((f"Find the median of {shown}.", f"What is the median of these numbers: {shown}?"))
        middle = "the middle value" if len(nums) % 2 else "the mean of the two middle values"
        work = f"Sorted: {ordered}. There are {len(nums)} numbers, so the median is {middle}: {answer}."
    else:
        answer = str(max(nums) - min(nums))
        user = r.choice((f"What is the range (maximum minus minimum) of {shown}?", f"Compute max - min for: {shown}"))
        work = f"The maximum is {max(nums)} and the minimum is {min(nums)}, so the range is {answer}."
    return user, work, {"op": op, "items": nums, "answer": answer}


# --------------------------------------------------------------------------------------------------
# json_formatting
# --------------------------------------------------------------------------------------------------

_CITIES = ("Oslo", "Lima", "Nairobi", "Kyoto", "Porto", "Denver", "Hanoi", "Quito", "Tallinn", "Perth")
_TAGS = ("new", "sale", "eco", "bestseller", "limited", "gift", "outdoor", "kids")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "a list of " + (", ".join(_describe(v) for v in value) if value else "nothing (empty)")
    if isinstance(value, dict):
        return "an object with " + ", ".join(f"{k} {_describe(v)}" for k, v in value.items())
    return str(value)


def _make_json_formatting(r: random.Random) -> Example:
    kind = r.choice(("person", "product", "book", "event"))
    name = r.choice(_NAMES)
    if kind == "person":
        fields = {
            "name": name,
            "age": r.randint(18, 90),
            "city": r.choice(_CITIES),
            "email": f"{name.lower()}{r.randint(1, 99)}@example.com",
            "is_member": r.random() < 0.5,
            "phone": None,
        }
    elif kind == "product":
        fields = {
            "product": f"{_cap(r.choice(_WORDS))} {r.choice(('lamp', 'mug', 'chair', 'kit', 'bag'))}",
            "price": round(r.randint(100, 9999) / 100, 2),
            "in_stock": r.random() < 0.5,
            "tags": r.sample(_TAGS, r.randint(0, 3)),
            "quantity": r.randint(0, 500),
        }
    elif kind == "book":
        book, author = r.choice(_BOOKS)
        fields = {
            "title": book,
            "author": author,
            "pages": r.randint(90, 1200),
            "read": r.random() < 0.5,
            "rating": r.randint(1, 5),
        }
    else:
        day = dt.date(2020, 1, 1) + dt.timedelta(days=r.randint(0, 2000))
        fields = {
            "event": f"{_cap(r.choice(_WORDS))} {r.choice(('meetup', 'festival', 'workshop', 'fair'))}",
            "date": day.isoformat(),
            "attendees": r.randint(5, 900),
            "confirmed": r.random() < 0.5,
            "location": {"city": r.choice(_CITIES), "venue": f"{r.choice(_NAMES)} Hall"},
        }
    keys = list(fields)
    chosen = [k for k in keys if k == keys[0] or r.random() < 0.75]
    obj = {k: fields[k] for k in chosen}
    style = r.randint(0, 2)
    if style == 0:
        desc = "\n".join(f"- {k}: {_describe(v)}" for k, v in obj.items())
    elif style == 1:
        desc = "; ".join(f"{k} = {_describe(v)}" for k, v in obj.items())
    else:
        desc = "The field " + ", the field ".join(f"`{k}` is {_describe(v)}" for k, v in obj.items()) + "."
    intro = r.choice(
        (
            "Convert the following fields into a JSON object (keep the order, 2-space indent):",
            "Write a JSON object with these key/value pairs, in this order:",
            "Format this record as JSON, keeping the keys in the given order:",
        )
    )
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    return (
        f"{intro}\n{desc}",
        f"```json\n{text}\n```",
        {"kind": kind, "answer": json.dumps(obj, ensure_ascii=False)},
    )


# --------------------------------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------------------------------

_FAMILY_MAKERS: dict[str, Callable[[random.Random], Example]] = {
    "arithmetic_word_problems": _make_word_problem,
    "python_functions": _make_python_function,
    "string_manipulation": _make_string_manipulation,
    "unit_conversion": _make_unit_conversion,
    "date_reasoning": _make_date_question,
    "boolean_logic": _make_boolean_logic,
    "factual_qa": _make_factual_qa,
    "translation_rewriting": _make_translation_rewriting,
    "list_sorting": _make_list_sorting,
    "json_formatting": _make_json_formatting,
}
_QUERY_MAKERS: dict[str, Callable[[random.Random], Example]] = {
    "math": _make_word_problem,
    "dates": _make_date_question,
}


def _unique_examples(
    make: Callable[[random.Random], Example], r: random.Random, count: int, taken: set[str]
) -> list[Example]:
    """Draws ``count`` examples whose user prompt is not in ``taken`` (which is updated)."""
    out: list[Example] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 100 * count:
            raise RuntimeError(f"could not draw {count} distinct prompts from {make.__name__}")
        user, assistant, meta = make(r)
        if user in taken:
            continue
        taken.add(user)
        out.append((user, assistant, meta))
    return out


def _check_python_row(meta: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(meta["code"], "<demo>", "exec"), namespace)
    for test in meta["tests"]:
        exec(test, namespace)


def generate_pool(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """Builds the demo candidate pool in memory.

    Args:
        seed: Master seed; each family draws from its own ``random.Random`` derived from it.

    Returns:
        Rows ``{"id", "source", "messages", "meta"}`` in a seeded shuffled order, with ids
        ``pool-000000`` upwards.

    Example:
        >>> rows = generate_pool()
        >>> rows[0]["id"], len(rows) >= 2400
        ('pool-000000', True)
    """
    taken: set[str] = set()
    drawn: list[tuple[str, Example]] = []
    for index, (family, count) in enumerate(FAMILY_COUNTS.items()):
        rng = random.Random(seed * 100 + index)
        for example in _unique_examples(_FAMILY_MAKERS[family], rng, count, taken):
            if family == "python_functions":
                _check_python_row(example[2])
            drawn.append((family, example))
    order = random.Random(seed)
    order.shuffle(drawn)
    rows = []
    for i, (family, (user, assistant, meta)) in enumerate(drawn):
        messages = []
        if order.random() < 0.1:
            messages.append({"role": "system", "content": order.choice(_SYSTEM_PROMPTS)})
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        rows.append({"id": f"pool-{i:06d}", "source": family, "messages": messages, "meta": meta})
    return rows


def generate_queries(
    pool: list[dict[str, Any]], seed: int = DEFAULT_SEED
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Builds the synthetic query splits (``math``, ``dates``), disjoint from ``pool`` and each other.

    Args:
        pool: Rows from :func:`generate_pool`; their user prompts are excluded from the queries.
        seed: Master seed (the same one the pool used).

    Returns:
        ``{task: {split: rows}}`` with rows ``{"id", "source", "messages", "answer", "meta"}``.

    Example:
        >>> queries = generate_queries(generate_pool())
        >>> len(queries["math"]["dev"]), len(queries["dates"]["test"])
        (50, 100)
    """
    taken = {m["content"] for row in pool for m in row["messages"] if m["role"] == "user"}
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for index, (task, sizes) in enumerate(QUERY_SIZES.items()):
        rng = random.Random(seed * 100 + 50 + index)
        out[task] = {}
        for split, size in sizes.items():
            rows = []
            for i, (user, assistant, meta) in enumerate(_unique_examples(_QUERY_MAKERS[task], rng, size, taken)):
                messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
                row = {"id": f"{task}-{split}-{i + 1:04d}", "source": task, "messages": messages}
                rows.append(row | {"answer": meta["answer"], "meta": meta})
            out[task][split] = rows
    return out


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def render_demo_files(seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Renders every bundled data file as text, keyed by its path relative to ``demo/data``.

    Example:
        >>> files = render_demo_files()
        >>> sorted(files)[:2]
        ['pool.jsonl', 'queries/dates/dev.jsonl']
    """
    pool = generate_pool(seed)
    files = {"pool.jsonl": _jsonl(pool)}
    for task, splits in generate_queries(pool, seed).items():
        for split, rows in splits.items():
            files[f"queries/{task}/{split}.jsonl"] = _jsonl(rows)
    return files


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def write_demo_data(data_dir: Path = DATA_DIR, seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Writes the bundled demo files atomically under ``data_dir`` and returns what was written.

    Example:
        >>> import tempfile
        >>> files = write_demo_data(Path(tempfile.mkdtemp()))
        >>> "pool.jsonl" in files
        True
    """
    files = render_demo_files(seed)
    for rel, text in files.items():
        _atomic_write(data_dir / rel, text)
    return files


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the bundled targetsel demo data.")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="data directory (default: the package's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="master seed")
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)
    if args.check:
        files = render_demo_files(args.seed)
        stale = [
            rel
            for rel, text in files.items()
            if not (args.out / rel).is_file() or (args.out / rel).read_text(encoding="utf-8") != text
        ]
        for rel in stale:
            print(f"stale: {args.out / rel}")
        print("up to date" if not stale else f"{len(stale)} file(s) differ; run python -m targetsel.demo.generate")
        return 1 if stale else 0
    files = write_demo_data(args.out, args.seed)
    for rel, text in files.items():
        print(f"{rel}: {text.count(chr(10))} rows, {len(text.encode('utf-8'))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
