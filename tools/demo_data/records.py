"""The ``json_formatting`` family: a record described in words, answered as an ordered, indented JSON object."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from tools.demo_data.common import NAMES, WORDS, Example, cap
from tools.demo_data.facts import BOOKS

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


def make_json_formatting(r: random.Random) -> Example:
    """One record described in words, its JSON object in a fenced block, and meta.

    Example:
        >>> import json, random
        >>> _, answer, meta = make_json_formatting(random.Random(0))
        >>> json.loads(answer.strip("`").removeprefix("json")) == json.loads(meta["answer"])
        True
    """
    kind = r.choice(("person", "product", "book", "event"))
    name = r.choice(NAMES)
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
            "product": f"{cap(r.choice(WORDS))} {r.choice(('lamp', 'mug', 'chair', 'kit', 'bag'))}",
            "price": round(r.randint(100, 9999) / 100, 2),
            "in_stock": r.random() < 0.5,
            "tags": r.sample(_TAGS, r.randint(0, 3)),
            "quantity": r.randint(0, 500),
        }
    elif kind == "book":
        book, author = r.choice(BOOKS)
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
            "event": f"{cap(r.choice(WORDS))} {r.choice(('meetup', 'festival', 'workshop', 'fair'))}",
            "date": day.isoformat(),
            "attendees": r.randint(5, 900),
            "confirmed": r.random() < 0.5,
            "location": {"city": r.choice(_CITIES), "venue": f"{r.choice(NAMES)} Hall"},
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
