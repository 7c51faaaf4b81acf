"""Tables and helpers every task family of the demo generator shares (names, months, words, the example type)."""

from __future__ import annotations

import random
from typing import Any

#: One generated example: (user prompt, assistant answer, meta).
Example = tuple[str, str, dict[str, Any]]

SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer accurately.",
    "You are a careful tutor who shows the steps.",
    "Answer the user's request precisely.",
)

NAMES = (
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

MONTHS = (
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
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def cap(text: str) -> str:
    """The text with its first character upper-cased (the rest unchanged).

    Example:
        >>> cap("hello World")
        'Hello World'
    """
    return text[:1].upper() + text[1:]


WORDS = (
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


def random_words(r: random.Random, n_lo: int = 2, n_hi: int = 5) -> list[str]:
    """Between ``n_lo`` and ``n_hi`` words drawn from :data:`WORDS` (with repetition).

    Example:
        >>> import random
        >>> all(w in WORDS for w in random_words(random.Random(0)))
        True
    """
    return [r.choice(WORDS) for _ in range(r.randint(n_lo, n_hi))]


def random_phrase(r: random.Random, n_lo: int = 2, n_hi: int = 5) -> str:
    """A space-joined :func:`random_words` phrase.

    Example:
        >>> import random
        >>> len(random_phrase(random.Random(0), 3, 3).split())
        3
    """
    return " ".join(random_words(r, n_lo, n_hi))
