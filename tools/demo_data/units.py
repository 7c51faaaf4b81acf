"""The ``unit_conversion`` family: conversions by factor table or temperature formula, rounded to two decimals."""

from __future__ import annotations

import random

from tools.demo_data.common import Example

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
    """Converts ``value`` from unit ``src`` to ``dst`` (the generator's single source of truth).

    Example:
        >>> convert_units(100, "C", "F"), convert_units(2, "km", "m")
        (212.0, 2000.0)
    """
    if (src, dst) == ("C", "F"):
        return value * 9 / 5 + 32
    if (src, dst) == ("F", "C"):
        return (value - 32) * 5 / 9
    if (src, dst) == ("C", "K"):
        return value + 273.15
    return value * UNIT_FACTORS[(src, dst)]


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def make_unit_conversion(r: random.Random) -> Example:
    """One unit conversion, its worked answer rounded to two decimals, and meta.

    Example:
        >>> import random
        >>> _, answer, meta = make_unit_conversion(random.Random(0))
        >>> meta["answer"] in answer
        True
    """
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
