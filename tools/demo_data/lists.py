"""The ``list_sorting`` family: sorting, extremes, median and range of short lists of numbers or words."""

from __future__ import annotations

import random

from tools.demo_data.common import WORDS, Example
from tools.demo_data.rewriting import PIG_WORDS


def _fmt_median(values: list[int]) -> str:
    s = sorted(values)
    mid = len(s) // 2
    if len(s) % 2:
        return str(s[mid])
    total = s[mid - 1] + s[mid]
    return str(total // 2) if total % 2 == 0 else f"{total / 2:.1f}"


def make_list_sorting(r: random.Random) -> Example:
    """One list task (sort, extremes, median, range), its answer, and meta.

    Example:
        >>> import random
        >>> sorted(make_list_sorting(random.Random(0))[2])
        ['answer', 'items', 'op']
    """
    op = r.choice(("asc", "desc", "words", "words_desc", "min", "max", "median", "range", "by_length"))
    if op in ("words", "words_desc", "by_length"):
        items = r.sample(WORDS + PIG_WORDS, r.randint(4, 8))
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
