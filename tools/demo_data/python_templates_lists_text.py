"""``python_functions`` templates, first half: list and string functions (order matters: it is the draw order)."""

from __future__ import annotations

from tools.demo_data.common import cap, random_phrase, random_words
from tools.demo_data.python_helpers import (
    IDENT_PARTS,
    PALINDROMES,
    PyTemplate,
    caesar,
    camel_to_snake,
    no_params,
    random_ints,
)

#: The first templates of the draw order (see :mod:`tools.demo_data.python_functions`).
TEMPLATES_LISTS_TEXT: tuple[PyTemplate, ...] = (
    PyTemplate(
        ("sum_divisible_by", "sum_multiples", "total_of_multiples"),
        "nums",
        "returns the sum of the numbers in `nums` that are divisible by $k",
        "    return sum(n for n in nums if n % $k == 0)",
        lambda r: {"k": r.randint(2, 7)},
        lambda p: lambda nums: sum(n for n in nums if n % p["k"] == 0),
        lambda r, p: [(random_ints(r, 0, 60),) for _ in range(3)],
    ),
    PyTemplate(
        ("scale_all", "multiply_each", "scaled"),
        "nums",
        "returns a new list with every element of `nums` multiplied by $k",
        "    return [n * $k for n in nums]",
        lambda r: {"k": r.choice((-3, -2, 2, 3, 4, 5, 7, 10))},
        lambda p: lambda nums: [n * p["k"] for n in nums],
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("count_above", "num_greater_than", "count_large"),
        "nums",
        "returns how many numbers in `nums` are strictly greater than $t",
        "    return sum(1 for n in nums if n > $t)",
        lambda r: {"t": r.randint(0, 25)},
        lambda p: lambda nums: sum(1 for n in nums if n > p["t"]),
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("keep_even", "even_numbers", "only_evens"),
        "nums",
        "returns a list of the even numbers in `nums`, in their original order",
        "    return [n for n in nums if n % 2 == 0]",
        no_params,
        lambda p: lambda nums: [n for n in nums if n % 2 == 0],
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("keep_odd", "odd_numbers", "only_odds"),
        "nums",
        "returns a list of the odd numbers in `nums`, in their original order",
        "    return [n for n in nums if n % 2 != 0]",
        no_params,
        lambda p: lambda nums: [n for n in nums if n % 2 != 0],
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("running_totals", "prefix_sums", "cumulative_sum"),
        "nums",
        "returns the running totals of `nums`: element i of the result is the sum of nums[0] through nums[i]",
        "    totals = []\n    current = 0\n    for n in nums:\n        current += n\n        "
        "totals.append(current)\n"
        "    return totals",
        no_params,
        lambda p: lambda nums: [sum(nums[: i + 1]) for i in range(len(nums))],
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("clip_values", "clamp_all", "bound_values"),
        "nums",
        "returns a new list where every number in `nums` is limited to the range [$lo, $hi] "
        "(smaller values become $lo and larger values become $hi)",
        "    return [min(max(n, $lo), $hi) for n in nums]",
        lambda r: {"lo": r.randint(-10, 5), "hi": r.randint(10, 30)},
        lambda p: lambda nums: [min(max(n, p["lo"]), p["hi"]) for n in nums],
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("differences", "consecutive_diffs", "step_changes"),
        "nums",
        "returns the differences between consecutive elements of `nums` (nums[i + 1] - nums[i]); "
        "a list with fewer than two elements gives an empty list",
        "    return [b - a for a, b in zip(nums, nums[1:])]",
        no_params,
        lambda p: lambda nums: [nums[i + 1] - nums[i] for i in range(len(nums) - 1)],
        lambda r, p: [(random_ints(r, n_lo=1),) for _ in range(3)],
    ),
    PyTemplate(
        ("unique_in_order", "dedupe", "remove_duplicates"),
        "items",
        "returns the elements of `items` without duplicates, keeping the first occurrence of each in the "
        "original order",
        "    seen = set()\n    result = []\n    for item in items:\n        if item not in seen:\n"
        "            seen.add(item)\n            result.append(item)\n    return result",
        no_params,
        lambda p: lambda items: list(dict.fromkeys(items)),
        lambda r, p: [(random_ints(r, 0, 6, 4, 10),), (random_words(r, 4, 8),), (random_ints(r, 0, 4, 3, 9),)],
    ),
    PyTemplate(
        ("chunk", "split_into_groups", "batched"),
        "items",
        "splits `items` into consecutive groups of $k elements and returns them as a list of lists; "
        "the last group may be shorter",
        "    return [items[i : i + $k] for i in range(0, len(items), $k)]",
        lambda r: {"k": r.randint(2, 4)},
        lambda p: lambda items: [items[i : i + p["k"]] for i in range(0, len(items), p["k"])],
        lambda r, p: [(random_ints(r, 0, 9, 2, 9),) for _ in range(3)],
    ),
    PyTemplate(
        ("rotate_left", "shift_left", "rotated"),
        "items",
        "returns `items` rotated left by $k positions (the first elements move to the end, wrapping around "
        "for short lists); an empty list stays empty",
        "    if not items:\n        return []\n    shift = $k % len(items)\n    return items[shift:] + items[:shift]",
        lambda r: {"k": r.randint(1, 5)},
        lambda p: lambda items: items[p["k"] % len(items) :] + items[: p["k"] % len(items)] if items else [],
        lambda r, p: [(random_ints(r, 0, 9, 2, 8),), (random_words(r, 2, 6),), ([],)],
    ),
    PyTemplate(
        ("second_largest", "runner_up", "second_max"),
        "nums",
        "returns the second largest distinct value in `nums`, or None if there are fewer than two distinct values",
        "    distinct = sorted(set(nums), reverse=True)\n    return distinct[1] if len(distinct) > 1 else None",
        no_params,
        lambda p: lambda nums: sorted(set(nums), reverse=True)[1] if len(set(nums)) > 1 else None,
        lambda r, p: [(random_ints(r),), (random_ints(r),), ([r.randint(1, 9)] * r.randint(1, 3),)],
    ),
    PyTemplate(
        ("word_counts", "count_words", "word_frequencies"),
        "text",
        "returns a dictionary mapping each word of `text` (split on whitespace and lower-cased) to the "
        "number "
        "of times it occurs",
        "    counts = {}\n    for word in text.lower().split():\n        counts[word] = counts.get(word, 0) "
        "+ 1\n"
        "    return counts",
        no_params,
        lambda p: lambda text: {w: text.lower().split().count(w) for w in text.lower().split()},
        lambda r, p: [
            (" ".join(w if r.random() < 0.7 else w.upper() for w in random_words(r, 3, 7)),) for _ in range(3)
        ],
    ),
    PyTemplate(
        ("char_frequency", "letter_counts", "count_chars"),
        "text",
        "returns a dictionary mapping each non-space character of `text` to the number of times it occurs, "
        "in order of first appearance",
        '    counts = {}\n    for c in text:\n        if c != " ":\n            counts[c] = counts.get(c, 0) '
        "+ 1\n"
        "    return counts",
        no_params,
        lambda p: lambda text: {c: text.count(c) for c in text if c != " "},
        lambda r, p: [(random_phrase(r, 1, 2),) for _ in range(3)],
    ),
    PyTemplate(
        ("is_palindrome", "reads_same_backwards", "palindrome_check"),
        "text",
        "returns True if `text` reads the same forwards and backwards when only letters and digits are kept "
        "and case is ignored, and False otherwise",
        "    cleaned = [c.lower() for c in text if c.isalnum()]\n    return cleaned == cleaned[::-1]",
        no_params,
        lambda p: (
            lambda text: [c.lower() for c in text if c.isalnum()] == [c.lower() for c in text if c.isalnum()][::-1]
        ),
        lambda r, p: [(r.choice(PALINDROMES),), (random_phrase(r),), (r.choice(PALINDROMES),)],
    ),
    PyTemplate(
        ("capitalize_words", "title_words", "capitalise_each"),
        "text",
        "returns `text` with the first letter of every space-separated word in upper case and the other "
        "letters "
        "in lower case",
        '    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" "))',
        no_params,
        lambda p: lambda text: " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" ")),
        lambda r, p: [(random_phrase(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("count_occurrences", "substring_count", "count_matches"),
        "text",
        'returns how many non-overlapping times the substring "$sub" occurs in `text`',
        "    return text.count($sub_repr)",
        lambda r: {"sub": r.choice(("an", "er", "on", "ar", "en", "le"))},
        lambda p: lambda text: text.count(p["sub"]),
        lambda r, p: [(random_phrase(r, 3, 6),) for _ in range(3)],
    ),
    PyTemplate(
        ("remove_vowels", "strip_vowels", "without_vowels"),
        "text",
        "returns `text` with all vowels (a, e, i, o, u, in either case) removed",
        '    return "".join(c for c in text if c.lower() not in "aeiou")',
        no_params,
        lambda p: lambda text: "".join(c for c in text if c.lower() not in "aeiou"),
        lambda r, p: [(cap(random_phrase(r)),) for _ in range(3)],
    ),
    PyTemplate(
        ("replace_char", "swap_character", "substitute_letter"),
        "text",
        "returns `text` with every occurrence of the character '$a' replaced by '$b'",
        "    return text.replace($a_repr, $b_repr)",
        lambda r: dict(zip(("a", "b"), r.sample("aeionrst*-_#", 2), strict=True)),
        lambda p: lambda text: text.replace(p["a"], p["b"]),
        lambda r, p: [(random_phrase(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("truncate", "shorten", "clip_text"),
        "text",
        "returns `text` unchanged if it has at most $n characters, and otherwise its first $n characters "
        'followed by "..."',
        '    if len(text) <= $n:\n        return text\n    return text[:$n] + "..."',
        lambda r: {"n": r.randint(5, 15)},
        lambda p: lambda text: text if len(text) <= p["n"] else text[: p["n"]] + "...",
        lambda r, p: [(random_phrase(r, 1, 4),) for _ in range(3)],
    ),
    PyTemplate(
        ("acronym", "initials", "make_acronym"),
        "phrase",
        "returns the acronym of `phrase`: the first letter of each word, upper-cased and joined together",
        '    return "".join(word[0].upper() for word in phrase.split())',
        no_params,
        lambda p: lambda phrase: "".join(w[0].upper() for w in phrase.split()),
        lambda r, p: [(random_phrase(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("caesar_shift", "shift_letters", "encode_caesar"),
        "text",
        "shifts every lowercase letter in `text` forward by $k places in the alphabet, wrapping from z back "
        "to a, "
        "and leaves all other characters unchanged",
        '    result = []\n    for c in text:\n        if "a" <= c <= "z":\n'
        '            result.append(chr((ord(c) - ord("a") + $k) % 26 + ord("a")))\n        else:\n'
        '            result.append(c)\n    return "".join(result)',
        lambda r: {"k": r.randint(1, 25)},
        lambda p: lambda text: caesar(text, p["k"]),
        lambda r, p: [(random_phrase(r, 1, 3) + r.choice(("", "!", "?", " 42")),) for _ in range(3)],
    ),
    PyTemplate(
        ("snake_to_camel", "to_camel_case", "camelize"),
        "identifier",
        'converts a snake_case identifier such as "max_value" into camelCase ("maxValue")',
        '    first, *rest = identifier.split("_")\n    return first + "".join(part.capitalize() for part in rest)',
        no_params,
        lambda p: lambda s: s.split("_")[0] + "".join(x.capitalize() for x in s.split("_")[1:]),
        lambda r, p: [("_".join(r.sample(IDENT_PARTS, r.randint(1, 4))),) for _ in range(3)],
    ),
    PyTemplate(
        ("camel_to_snake", "to_snake_case", "snakify"),
        "identifier",
        'converts a camelCase identifier such as "maxValue" into snake_case ("max_value")',
        '    chars = []\n    for c in identifier:\n        if c.isupper():\n            chars.append("_")\n'
        "            chars.append(c.lower())\n        else:\n            chars.append(c)\n    return "
        '"".join(chars)',
        no_params,
        lambda p: camel_to_snake,
        lambda r, p: [
            (
                (lambda parts: parts[0] + "".join(x.capitalize() for x in parts[1:]))(
                    r.sample(IDENT_PARTS, r.randint(1, 4))
                ),
            )
            for _ in range(3)
        ],
    ),
)
