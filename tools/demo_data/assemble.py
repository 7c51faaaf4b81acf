"""Assembly of the demo files: every family drawn with its own seeded RNG, shuffled, rendered as JSONL.

Nothing here touches the disk unless :func:`write_demo_data` is called.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_write_text
from tools.demo_data.arithmetic import make_word_problem
from tools.demo_data.common import SYSTEM_PROMPTS, Example
from tools.demo_data.dates import make_date_question
from tools.demo_data.facts import make_factual_qa
from tools.demo_data.lists import make_list_sorting
from tools.demo_data.logic import make_boolean_logic
from tools.demo_data.python_functions import make_python_function
from tools.demo_data.records import make_json_formatting
from tools.demo_data.rewriting import make_translation_rewriting
from tools.demo_data.strings import make_string_manipulation
from tools.demo_data.units import make_unit_conversion

DEFAULT_SEED = 20260
#: The shipped data folder of ``targetsel.demo`` in this repository (``tools/`` sits beside ``src/``).
DATA_DIR = Path(__file__).resolve().parents[2] / "src" / "targetsel" / "demo" / "data"

#: Rows per pool family (the `source` label), in generation order.
FAMILY_COUNTS: dict[str, int] = {
    "arithmetic_word_problems": 260,
    "python_functions": 270,
    "string_manipulation": 240,
    "unit_conversion": 240,
    "date_reasoning": 260,
    "boolean_logic": 240,
    "factual_qa": 240,
    "translation_rewriting": 240,
    "list_sorting": 240,
    "json_formatting": 240,
}

#: Sizes of the synthetic query splits.
QUERY_SIZES: dict[str, dict[str, int]] = {"math": {"dev": 50, "test": 100}, "dates": {"dev": 50, "test": 100}}


_FAMILY_MAKERS: dict[str, Callable[[random.Random], Example]] = {
    "arithmetic_word_problems": make_word_problem,
    "python_functions": make_python_function,
    "string_manipulation": make_string_manipulation,
    "unit_conversion": make_unit_conversion,
    "date_reasoning": make_date_question,
    "boolean_logic": make_boolean_logic,
    "factual_qa": make_factual_qa,
    "translation_rewriting": make_translation_rewriting,
    "list_sorting": make_list_sorting,
    "json_formatting": make_json_formatting,
}
_QUERY_MAKERS: dict[str, Callable[[random.Random], Example]] = {
    "math": make_word_problem,
    "dates": make_date_question,
}


def _unique_examples(
    make: Callable[[random.Random], Example], r: random.Random, count: int, taken: set[str]
) -> list[Example]:
    """Draws ``count`` examples whose user prompt is not in ``taken`` (which is updated)."""
    out: list[Example] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 100 * count:
            raise RuntimeError(f"could not draw {count} distinct prompts from {make.__name__}")
        user, assistant, meta = make(r)
        if user in taken:
            continue
        taken.add(user)
        out.append((user, assistant, meta))
    return out


def _check_python_row(meta: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(meta["code"], "<demo>", "exec"), namespace)
    for test in meta["tests"]:
        exec(test, namespace)


def generate_pool(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """Builds the demo candidate pool in memory.

    Args:
        seed: Master seed; each family draws from its own ``random.Random`` derived from it.

    Returns:
        Rows ``{"id", "source", "messages", "meta"}`` in a seeded shuffled order, with ids
        ``pool-000000`` upwards.

    Example:
        >>> rows = generate_pool()
        >>> rows[0]["id"], len(rows) >= 2400
        ('pool-000000', True)
    """
    taken: set[str] = set()
    drawn: list[tuple[str, Example]] = []
    for index, (family, count) in enumerate(FAMILY_COUNTS.items()):
        rng = random.Random(seed * 100 + index)
        for example in _unique_examples(_FAMILY_MAKERS[family], rng, count, taken):
            if family == "python_functions":
                _check_python_row(example[2])
            drawn.append((family, example))
    order = random.Random(seed)
    order.shuffle(drawn)
    rows = []
    for i, (family, (user, assistant, meta)) in enumerate(drawn):
        messages = []
        if order.random() < 0.1:
            messages.append({"role": "system", "content": order.choice(SYSTEM_PROMPTS)})
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        rows.append({"id": f"pool-{i:06d}", "source": family, "messages": messages, "meta": meta})
    return rows


def generate_queries(
    pool: list[dict[str, Any]], seed: int = DEFAULT_SEED
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Builds the synthetic query splits (``math``, ``dates``), disjoint from ``pool`` and each other.

    Args:
        pool: Rows from :func:`generate_pool`; their user prompts are excluded from the queries.
        seed: Master seed (the same one the pool used).

    Returns:
        ``{task: {split: rows}}`` with rows ``{"id", "source", "messages", "answer", "meta"}``.

    Example:
        >>> queries = generate_queries(generate_pool())
        >>> len(queries["math"]["dev"]), len(queries["dates"]["test"])
        (50, 100)
    """
    taken = {m["content"] for row in pool for m in row["messages"] if m["role"] == "user"}
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for index, (task, sizes) in enumerate(QUERY_SIZES.items()):
        rng = random.Random(seed * 100 + 50 + index)
        out[task] = {}
        for split, size in sizes.items():
            rows = []
            for i, (user, assistant, meta) in enumerate(_unique_examples(_QUERY_MAKERS[task], rng, size, taken)):
                messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
                row = {"id": f"{task}-{split}-{i + 1:04d}", "source": task, "messages": messages}
                rows.append(row | {"answer": meta["answer"], "meta": meta})
            out[task][split] = rows
    return out


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def render_demo_files(seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Renders every bundled data file as text, keyed by its path relative to ``demo/data``.

    Example:
        >>> files = render_demo_files()
        >>> sorted(files)[:2]
        ['pool.jsonl', 'queries/dates/dev.jsonl']
    """
    pool = generate_pool(seed)
    files = {"pool.jsonl": _jsonl(pool)}
    for task, splits in generate_queries(pool, seed).items():
        for split, rows in splits.items():
            files[f"queries/{task}/{split}.jsonl"] = _jsonl(rows)
    return files


def write_demo_data(data_dir: Path = DATA_DIR, seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Writes the bundled demo files atomically under ``data_dir`` and returns what was written.

    Example:
        >>> import tempfile
        >>> files = write_demo_data(Path(tempfile.mkdtemp()))
        >>> "pool.jsonl" in files
        True
    """
    files = render_demo_files(seed)
    for rel, text in files.items():
        atomic_write_text(data_dir / rel, text)
    return files
