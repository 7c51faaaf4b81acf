"""The ``boolean_logic`` family: random boolean expressions reduced step by step (checked against Python's ``eval``)."""

from __future__ import annotations

import random

from tools.demo_data.common import Example

_BoolNode = tuple  # ("lit", value, name | None) | ("not", child) | ("and" | "or", left, right)


def _bool_tree(r: random.Random, depth: int) -> _BoolNode:
    if depth == 0 or (depth < 3 and r.random() < 0.3):
        return ("lit", r.random() < 0.5, None)
    op = r.choice(("and", "or", "and", "or", "not"))
    if op == "not":
        return ("not", _bool_tree(r, depth - 1))
    return (op, _bool_tree(r, depth - 1), _bool_tree(r, depth - 1))


def _bool_render(node: _BoolNode, names: bool = False) -> str:
    kind = node[0]
    if kind == "lit":
        return node[2] if names and node[2] else str(node[1])
    if kind == "not":
        inner = _bool_render(node[1], names)
        return f"not ({inner})" if node[1][0] in ("and", "or") else f"not {inner}"
    left, right = (_bool_render(c, names) for c in node[1:])
    left = f"({left})" if node[1][0] in ("and", "or") else left
    right = f"({right})" if node[2][0] in ("and", "or") else right
    return f"{left} {kind} {right}"


def _bool_value(node: _BoolNode) -> bool:
    if node[0] == "lit":
        return node[1]
    if node[0] == "not":
        return not _bool_value(node[1])
    a, b = _bool_value(node[1]), _bool_value(node[2])
    return (a and b) if node[0] == "and" else (a or b)


def _bool_reduce(node: _BoolNode) -> _BoolNode:
    """Evaluates every operator whose operands are all literals (one simplification step)."""
    if node[0] == "lit":
        return node
    children = node[1:]
    if all(c[0] == "lit" for c in children):
        return ("lit", _bool_value(node), None)
    return (node[0], *(_bool_reduce(c) for c in children))


def _bool_assign_names(node: _BoolNode, table: dict[bool, list[str]], r: random.Random) -> _BoolNode:
    if node[0] == "lit":
        return ("lit", node[1], r.choice(table[node[1]]))
    return (node[0], *(_bool_assign_names(c, table, r) for c in node[1:]))


def make_boolean_logic(r: random.Random) -> Example:
    """One boolean expression to evaluate, its step-by-step reduction, and meta.

    Example:
        >>> import random
        >>> _, answer, meta = make_boolean_logic(random.Random(0))
        >>> answer.endswith(f"The expression is {meta['answer']}.")
        True
    """
    tree = _bool_tree(r, r.randint(2, 3))
    while tree[0] == "lit":
        tree = _bool_tree(r, 3)
    value = _bool_value(tree)
    lines = []
    if r.random() < 0.3:
        letters = r.sample("pqrsxyz", 3)
        values = [True, False, r.random() < 0.5]
        r.shuffle(values)
        table: dict[bool, list[str]] = {True: [], False: []}
        for name, val in zip(letters, values, strict=True):
            table[val].append(name)
        tree = _bool_assign_names(tree, table, r)
        assign = ", ".join(f"{n} = {v}" for n, v in zip(letters, values, strict=True))
        user = f"Let {assign}. What is the value of `{_bool_render(tree, names=True)}`?"
        lines.append(f"Substituting the values: {_bool_render(tree)}")
    else:
        expr = _bool_render(tree)
        user = r.choice(
            (
                f"Evaluate the boolean expression: {expr}",
                f"What does `{expr}` evaluate to in Python?",
                f"Is the following expression True or False? {expr}",
            )
        )
        lines.append(expr)
    node = tree
    while node[0] != "lit":
        node = _bool_reduce(node)
        lines.append(f"= {_bool_render(node)}")
    if node[1] != value or eval(_bool_render(tree)) != value:
        raise AssertionError("boolean evaluation mismatch")
    steps = "\n".join(lines)
    return (
        user,
        f"{steps}\nThe expression is {value}.",
        {"expression": _bool_render(tree), "answer": str(value)},
    )
