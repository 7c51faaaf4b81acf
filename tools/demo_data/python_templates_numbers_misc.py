"""``python_functions`` templates, second half: number, dictionary and mixed functions.

They come after the first half in draw order.
"""

from __future__ import annotations

import itertools
import math

from tools.demo_data.common import WORDS, cap, random_phrase, random_words
from tools.demo_data.python_helpers import (
    PyTemplate,
    collatz,
    fact,
    fib,
    first_above,
    interleave,
    is_power,
    is_prime,
    most_common,
    no_params,
    random_ints,
    random_scores,
)

#: The templates after :data:`~tools.demo_data.python_templates_lists_text.TEMPLATES_LISTS_TEXT` in draw order.
TEMPLATES_NUMBERS_MISC: tuple[PyTemplate, ...] = (
    PyTemplate(
        ("factorial", "fact", "product_up_to"),
        "n",
        "returns n! (the product 1 * 2 * ... * n) for a non-negative integer n, where 0! is 1",
        "    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
        no_params,
        lambda p: fact,
        lambda r, p: [(r.randint(0, 12),) for _ in range(3)],
    ),
    PyTemplate(
        ("fibonacci", "fib", "nth_fibonacci"),
        "n",
        "returns the n-th Fibonacci number F(n), where F(0) = 0, F(1) = 1 and F(n) = F(n - 1) + F(n - 2)",
        "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        no_params,
        lambda p: fib,
        lambda r, p: [(r.randint(0, 30),) for _ in range(3)],
    ),
    PyTemplate(
        ("is_prime", "prime_check", "check_prime"),
        "n",
        "returns True if the integer n is a prime number and False otherwise (numbers below 2 are not prime)",
        "    if n < 2:\n        return False\n    d = 2\n    while d * d <= n:\n        if n % d == 0:\n"
        "            return False\n        d += 1\n    return True",
        no_params,
        lambda p: is_prime,
        lambda r, p: [(r.randint(-3, 120),) for _ in range(3)],
    ),
    PyTemplate(
        ("gcd", "greatest_common_divisor", "highest_common_factor"),
        "a, b",
        "returns the greatest common divisor of two positive integers a and b",
        "    while b:\n        a, b = b, a % b\n    return a",
        no_params,
        lambda p: lambda a, b: max(d for d in range(1, min(a, b) + 1) if a % d == 0 and b % d == 0),
        lambda r, p: [(r.randint(2, 60) * (f := r.randint(1, 12)), r.randint(2, 60) * f) for _ in range(3)],
    ),
    PyTemplate(
        ("digit_sum", "sum_of_digits", "add_digits"),
        "n",
        "returns the sum of the decimal digits of the non-negative integer n",
        "    return sum(int(d) for d in str(n))",
        no_params,
        lambda p: lambda n: sum(int(d) for d in str(n)),
        lambda r, p: [(r.randint(0, 10**6),) for _ in range(3)],
    ),
    PyTemplate(
        ("power_sum", "sum_of_powers", "series_total"),
        "n",
        "returns 1**$k + 2**$k + ... + n**$k for a non-negative integer n (0 when n is 0)",
        "    return sum(i**$k for i in range(1, n + 1))",
        lambda r: {"k": r.randint(2, 4)},
        lambda p: lambda n: sum(i ** p["k"] for i in range(1, n + 1)),
        lambda r, p: [(r.randint(0, 15),) for _ in range(3)],
    ),
    PyTemplate(
        ("count_multiples", "multiples_up_to", "how_many_multiples"),
        "n",
        "returns how many integers from 1 to n inclusive are multiples of $k (n is non-negative)",
        "    return n // $k",
        lambda r: {"k": r.randint(2, 9)},
        lambda p: lambda n: sum(1 for i in range(1, n + 1) if i % p["k"] == 0),
        lambda r, p: [(r.randint(0, 200),) for _ in range(3)],
    ),
    PyTemplate(
        ("collatz_steps", "steps_to_one", "collatz_length"),
        "n",
        "returns the number of steps the Collatz process needs to reach 1 from a positive integer n: "
        "an even n is halved and an odd n becomes 3 * n + 1",
        "    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += "
        "1\n"
        "    return steps",
        no_params,
        lambda p: collatz,
        lambda r, p: [(r.randint(1, 100),) for _ in range(3)],
    ),
    PyTemplate(
        ("is_power_of", "power_check", "is_exact_power"),
        "n",
        "returns True if the positive integer n is a power of $k (1, $k, $k**2, ...) and False otherwise",
        "    while n % $k == 0:\n        n //= $k\n    return n == 1",
        lambda r: {"k": r.randint(2, 5)},
        lambda p: lambda n: is_power(n, p["k"]),
        lambda r, p: [(p["k"] ** r.randint(0, 6),), (r.randint(1, 300),), (p["k"] ** r.randint(1, 4) * 7,)],
    ),
    PyTemplate(
        ("invert_dict", "swap_keys_values", "reverse_mapping"),
        "mapping",
        "returns a new dictionary with the keys and values of `mapping` swapped (all values are distinct)",
        "    return {value: key for key, value in mapping.items()}",
        no_params,
        lambda p: lambda m: dict(zip(m.values(), m.keys(), strict=True)),
        lambda r, p: [({w: i for i, w in enumerate(r.sample(WORDS, r.randint(1, 5)))},) for _ in range(3)],
    ),
    PyTemplate(
        ("merge_counts", "add_dicts", "combine_totals"),
        "first, second",
        "merges two dictionaries of numbers into a new one, adding the values of keys that appear in both",
        "    merged = dict(first)\n    for key, value in second.items():\n"
        "        merged[key] = merged.get(key, 0) + value\n    return merged",
        no_params,
        lambda p: lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in [*a, *[k for k in b if k not in a]]},
        lambda r, p: [(random_scores(r), random_scores(r)) for _ in range(3)],
    ),
    PyTemplate(
        ("filter_scores", "passing_entries", "at_least"),
        "scores",
        "returns a dictionary with only the entries of `scores` whose value is at least $t",
        "    return {key: value for key, value in scores.items() if value >= $t}",
        lambda r: {"t": 10 * r.randint(3, 8)},
        lambda p: lambda s: {k: v for k, v in s.items() if v >= p["t"]},
        lambda r, p: [(random_scores(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("rank_keys", "keys_by_value", "leaderboard"),
        "scores",
        "returns the keys of `scores` sorted by value from highest to lowest, breaking ties alphabetically by key",
        "    return sorted(scores, key=lambda key: (-scores[key], key))",
        no_params,
        lambda p: lambda s: [k for _, k in sorted((-v, k) for k, v in s.items())],
        lambda r, p: [(random_scores(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("group_by_initial", "index_by_letter", "bucket_words"),
        "words",
        "returns a dictionary mapping each first letter to the list of words of `words` that start with it, "
        "keeping the input order",
        "    groups = {}\n    for word in words:\n        groups.setdefault(word[0], []).append(word)\n    "
        "return groups",
        no_params,
        lambda p: lambda ws: {w[0]: [x for x in ws if x[0] == w[0]] for w in ws},
        lambda r, p: [(random_words(r, 3, 7),) for _ in range(3)],
    ),
    PyTemplate(
        ("word_lengths", "length_map", "measure_words"),
        "words",
        "returns a dictionary mapping each word in `words` to its length",
        "    return {word: len(word) for word in words}",
        no_params,
        lambda p: lambda ws: {w: len(w) for w in ws},
        lambda r, p: [(random_words(r, 2, 6),) for _ in range(3)],
    ),
    PyTemplate(
        ("flatten", "flatten_once", "concat_lists"),
        "nested",
        "flattens a list of lists by one level, keeping the order of the elements",
        "    return [item for inner in nested for item in inner]",
        no_params,
        lambda p: lambda nested: list(itertools.chain.from_iterable(nested)),
        lambda r, p: [([random_ints(r, 0, 9, 0, 3) for _ in range(r.randint(1, 4))],) for _ in range(3)],
    ),
    PyTemplate(
        ("zip_to_dict", "pair_up", "make_lookup"),
        "keys, values",
        "builds a dictionary pairing each element of `keys` with the element of `values` at the same "
        "position; "
        "extra elements of the longer list are ignored",
        "    return dict(zip(keys, values))",
        no_params,
        lambda p: lambda ks, vs: {ks[i]: vs[i] for i in range(min(len(ks), len(vs)))},
        lambda r, p: [(r.sample(WORDS, r.randint(1, 4)), random_ints(r, 0, 99, 1, 5)) for _ in range(3)],
    ),
    PyTemplate(
        ("average", "mean_value", "rounded_mean"),
        "nums",
        "returns the mean of `nums` rounded to $d decimal places, or 0.0 for an empty list",
        "    if not nums:\n        return 0.0\n    return round(sum(nums) / len(nums), $d)",
        lambda r: {"d": r.randint(1, 3)},
        lambda p: lambda nums: round(sum(nums) / len(nums), p["d"]) if nums else 0.0,
        lambda r, p: [(random_ints(r),), (random_ints(r),), ([],)],
    ),
    PyTemplate(
        ("most_common", "mode", "most_frequent"),
        "items",
        "returns the most frequent element of the non-empty list `items`; when several elements are equally "
        "frequent it returns the smallest of them",
        "    counts = {}\n    for item in items:\n        counts[item] = counts.get(item, 0) + 1\n"
        "    best = max(counts.values())\n    return min(item for item, count in counts.items() if count == "
        "best)",
        no_params,
        lambda p: most_common,
        lambda r, p: [(random_ints(r, 0, 5, 3, 10),), (random_words(r, 3, 8),), (random_ints(r, 0, 5, 3, 10),)],
    ),
    PyTemplate(
        ("first_index_above", "find_first_greater", "index_of_first_large"),
        "nums",
        "returns the index of the first element of `nums` that is greater than $t, or -1 if there is none",
        "    for i, n in enumerate(nums):\n        if n > $t:\n            return i\n    return -1",
        lambda r: {"t": r.randint(10, 40)},
        lambda p: lambda nums: first_above(nums, p["t"]),
        lambda r, p: [(random_ints(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("count_uppercase", "capital_count", "num_capitals"),
        "text",
        "returns how many upper-case letters `text` contains",
        "    return sum(1 for c in text if c.isupper())",
        no_params,
        lambda p: lambda text: sum(1 for c in text if c.isupper()),
        lambda r, p: [
            (" ".join(w.upper() if r.random() < 0.3 else cap(w) for w in random_words(r)),) for _ in range(3)
        ],
    ),
    PyTemplate(
        ("reverse_each_word", "mirror_words", "flip_words"),
        "text",
        "returns `text` with the letters of every space-separated word reversed, keeping the words in place",
        '    return " ".join(word[::-1] for word in text.split(" "))',
        no_params,
        lambda p: lambda text: " ".join(w[::-1] for w in text.split(" ")),
        lambda r, p: [(random_phrase(r),) for _ in range(3)],
    ),
    PyTemplate(
        ("to_binary", "binary_string", "as_binary"),
        "n",
        "returns the binary representation of the non-negative integer n as a string without the '0b' prefix",
        "    return bin(n)[2:]",
        no_params,
        lambda p: lambda n: format(n, "b"),
        lambda r, p: [(r.randint(0, 1000),) for _ in range(3)],
    ),
    PyTemplate(
        ("sum_digits_in_text", "digit_total", "add_up_digits"),
        "text",
        "returns the sum of all digit characters that appear in `text`",
        "    return sum(int(c) for c in text if c.isdigit())",
        no_params,
        lambda p: lambda text: sum(int(c) for c in text if c.isdigit()),
        lambda r, p: [(f"{r.choice(WORDS)}{r.randint(0, 999)} {r.choice(WORDS)}{r.randint(0, 99)}",) for _ in range(3)],
    ),
    PyTemplate(
        ("count_long_words", "long_word_count", "words_longer_than"),
        "text",
        "returns how many whitespace-separated words of `text` have more than $n characters",
        "    return sum(1 for word in text.split() if len(word) > $n)",
        lambda r: {"n": r.randint(3, 6)},
        lambda p: lambda text: sum(1 for w in text.split() if len(w) > p["n"]),
        lambda r, p: [(random_phrase(r, 3, 7),) for _ in range(3)],
    ),
    PyTemplate(
        ("value_range", "spread", "max_minus_min"),
        "nums",
        "returns the difference between the largest and the smallest number in `nums`, or 0 for an empty list",
        "    if not nums:\n        return 0\n    return max(nums) - min(nums)",
        no_params,
        lambda p: lambda nums: max(nums) - min(nums) if nums else 0,
        lambda r, p: [(random_ints(r),), (random_ints(r),), ([],)],
    ),
    PyTemplate(
        ("interleave", "alternate", "weave_lists"),
        "a, b",
        "returns a list that alternates elements of `a` and `b` (starting with `a`); when one list runs out, "
        "the rest of the other list follows",
        "    result = []\n    for i in range(max(len(a), len(b))):\n        if i < len(a):\n            "
        "result.append(a[i])\n"
        "        if i < len(b):\n            result.append(b[i])\n    return result",
        no_params,
        lambda p: interleave,
        lambda r, p: [(random_ints(r, 0, 9, 0, 5), random_ints(r, 10, 99, 0, 5)) for _ in range(3)],
    ),
    PyTemplate(
        ("product", "multiply_all", "list_product"),
        "nums",
        "returns the product of all numbers in `nums` (1 for an empty list)",
        "    result = 1\n    for n in nums:\n        result *= n\n    return result",
        no_params,
        lambda p: math.prod,
        lambda r, p: [(random_ints(r, -5, 9, 0, 6),) for _ in range(3)],
    ),
    PyTemplate(
        ("zero_pad", "pad_number", "fixed_width"),
        "n",
        "returns the decimal string of the non-negative integer n padded on the left with zeros to at least "
        "$w characters",
        "    return str(n).zfill($w)",
        lambda r: {"w": r.randint(3, 8)},
        lambda p: lambda n: "0" * max(0, p["w"] - len(str(n))) + str(n),
        lambda r, p: [(r.randint(0, 10 ** r.randint(1, 6)),) for _ in range(3)],
    ),
    PyTemplate(
        ("is_sorted", "in_order", "non_decreasing"),
        "nums",
        "returns True if `nums` is sorted in non-decreasing order and False otherwise",
        "    return all(a <= b for a, b in zip(nums, nums[1:]))",
        no_params,
        lambda p: lambda nums: nums == sorted(nums),
        lambda r, p: [(sorted(random_ints(r)),), (random_ints(r),), (sorted(random_ints(r)),)],
    ),
    PyTemplate(
        ("count_vowels", "vowel_count", "num_vowels"),
        "text",
        "returns the number of vowels (a, e, i, o, u, in either case) in `text`",
        '    return sum(1 for c in text.lower() if c in "aeiou")',
        no_params,
        lambda p: lambda text: sum(text.lower().count(v) for v in "aeiou"),
        lambda r, p: [(cap(random_phrase(r)),) for _ in range(3)],
    ),
)
