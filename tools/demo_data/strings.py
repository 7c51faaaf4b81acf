"""The ``string_manipulation`` family: one string operation per prompt, answered by computing it."""

from __future__ import annotations

import random
from collections.abc import Callable

from tools.demo_data.common import Example, cap, random_words

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


def make_string_manipulation(r: random.Random) -> Example:
    """One string operation on a few random words, its computed result, and meta.

    Example:
        >>> import random
        >>> _, answer, meta = make_string_manipulation(random.Random(0))
        >>> answer == meta["answer"]
        True
    """
    op, prompts, fn = r.choice(_STRING_OPS)
    words = random_words(r, 1, 4)
    if op in ("lower", "swapcase", "title"):
        words = [w.upper() if r.random() < 0.4 else cap(w) if r.random() < 0.5 else w for w in words]
    s = " ".join(words)
    letters = [c for c in s.lower() if c.isalpha()]
    p = {"c": r.choice(letters), "a": r.choice(letters), "b": r.choice("xyz*-")}
    result = fn(s, p)
    user = r.choice(prompts).format(s=s, **p)
    used = {k: v for k, v in p.items() if "{" + k + "}" in "".join(prompts)}
    return user, result, {"op": op, "input": s, "params": used, "answer": result}
