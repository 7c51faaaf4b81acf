"""The ``date_reasoning`` family (also the ``dates`` query set).

Weekday and date arithmetic, answered with ``datetime``.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from tools.demo_data.common import MONTHS, WEEKDAYS, Example


def _fmt_date(d: dt.date, style: int) -> str:
    if style == 0:
        return d.isoformat()
    if style == 1:
        return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


def solve_date_question(meta: dict[str, Any]) -> str:
    """Recomputes the answer of a date question from its ``meta`` (used by the generator and tests).

    Example:
        >>> solve_date_question({"kind": "date_after", "start": "2024-02-28", "days": 2})
        '2024-03-01'
    """
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


def make_date_question(r: random.Random) -> Example:
    """One date question (six kinds), its worked answer ending in ``The answer is ...``, and meta.

    Example:
        >>> import random
        >>> _, answer, meta = make_date_question(random.Random(0))
        >>> answer.endswith(f"The answer is {meta['answer']}.") and solve_date_question(meta) == meta["answer"]
        True
    """
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
