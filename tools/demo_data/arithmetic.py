"""The ``arithmetic_word_problems`` family (also the ``math`` query set).

Twelve worded templates, each with its worked steps and the final ``#### answer``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tools.demo_data.common import NAMES, Example


def _wp_shopping(r: random.Random) -> tuple[str, list[str], int]:
    name, item = r.choice(NAMES), r.choice(("pencils", "stickers", "batteries", "markers", "candles"))
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
    name = r.choice(NAMES)
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
    name, food = r.choice(NAMES), r.choice(("cookies", "muffins", "rolls", "cupcakes", "scones"))
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
    name = r.choice(NAMES)
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
    name, friend = r.sample(NAMES, 2)
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
    name, item = r.choice(NAMES), r.choice(("shirt", "lamp", "backpack", "pair of shoes", "board game"))
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
    a, b = r.sample(NAMES, 2)
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
    name, crop = r.choice(NAMES), r.choice(("tomatoes", "peppers", "apples", "lemons", "plums"))
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
    name = r.choice(NAMES)
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
    name = r.choice(NAMES)
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
    name = r.choice(NAMES)
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
    teacher = r.choice(NAMES)
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


def make_word_problem(r: random.Random) -> Example:
    """One word problem: the question, its worked steps ending in ``#### answer``, and meta.

    Example:
        >>> import random
        >>> make_word_problem(random.Random(0))[1].splitlines()[-1].startswith("#### ")
        True
    """
    template = r.choice(_WORD_PROBLEMS)
    question, steps, answer = template(r)
    return (
        question,
        "\n".join([*steps, f"#### {answer}"]),
        {"template": template.__name__[1:], "answer": str(answer)},
    )
