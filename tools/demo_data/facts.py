"""The ``factual_qa`` family: questions over small hand-written tables (capitals, elements, planets, books...)."""

from __future__ import annotations

import random

from tools.demo_data.common import MONTHS, Example, cap

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
BOOKS = (
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


#: Question kinds, drawn uniformly (``capital`` twice: capitals are the largest table).
_KINDS = (
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


def make_factual_qa(r: random.Random) -> Example:
    """One factual question over the tables of this module, its one-sentence answer, and meta.

    Example:
        >>> import random
        >>> make_factual_qa(random.Random(0))[2]["kind"] in _KINDS
        True
    """
    kind = r.choice(_KINDS)
    if kind in ("capital", "capital_of"):
        return _capital_question(r, kind)
    if kind in ("symbol", "element", "atomic"):
        return _element_question(r, kind)
    if kind in ("planet", "planet_pos"):
        return _planet_question(r, kind)
    return _table_question(r, kind)


def _capital_question(r: random.Random, kind: str) -> Example:
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
    country, city = r.choice(_CAPITALS)
    user = r.choice((f"{city} is the capital of which country?", f"Which country has {city} as its capital?"))
    return user, f"{city} is the capital of {country}.", {"kind": kind, "answer": country}


def _element_question(r: random.Random, kind: str) -> Example:
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
        user = r.choice((f"Which element has the chemical symbol {sym}?", f"Name the element whose symbol is {sym}."))
        return user, f"{sym} is the symbol for {name}.", {"kind": kind, "answer": name}
    user = r.choice((f"What is the atomic number of {name}?", f"How many protons does an atom of {name} have?"))
    return user, f"{cap(name)} has atomic number {z}.", {"kind": kind, "answer": str(z)}


def _planet_question(r: random.Random, kind: str) -> Example:
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


def _table_question(r: random.Random, kind: str) -> Example:
    if kind == "author":
        book, author = r.choice(BOOKS)
        user = r.choice((f"Who wrote {book}?", f"Who is the author of {book}?", f"Name the author of the book {book}."))
        return user, f"{book} was written by {author}.", {"kind": kind, "answer": author}
    if kind == "polygon":
        shape, sides = r.choice(_POLYGONS)
        user = r.choice((f"How many sides does a {shape} have?", f"A {shape} has how many sides?"))
        return user, f"A {shape} has {sides} sides.", {"kind": kind, "answer": str(sides)}
    m = r.randrange(12)
    user = r.choice(
        (
            f"How many days are in {MONTHS[m]} in a non-leap year?",
            f"In a common (non-leap) year, how many days does {MONTHS[m]} have?",
        )
    )
    return (
        user,
        f"{MONTHS[m]} has {_MONTH_DAYS[m]} days in a non-leap year.",
        {"kind": kind, "answer": str(_MONTH_DAYS[m])},
    )
