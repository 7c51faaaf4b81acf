"""Loading pools and query sets into one canonical chat schema, with validation and stable ids.

Accepted inputs:

* a local ``.jsonl`` / ``.json`` (optionally ``.gz``) file, a ``.parquet`` file, an ``.arrow`` file,
  or a directory written by ``datasets.Dataset.save_to_disk``;
* a registered real data set fetched into the cache with :func:`fetch` (``evals-mix``,
  ``gsm8k`` for its dev split, ``gsm8k:test``; see :mod:`~targetsel.data.real`);
* a name the ``datasets`` library resolves (``Harvard-DCML/tulu-v2-197K-processed``; needs network);
  ``name:config`` selects a config and ``--split`` a split.

Canonical schema: ``messages``, a list of ``{"role", "content"}`` turns with roles ``system``,
``user`` and ``assistant`` and at least one assistant turn. Rows in another shape are converted:
``prompt``/``completion``, ``prompts``/``labels`` (the paper's query sets) and Alpaca-style
``instruction``/``input``/``output``. Every original column is kept.

Modules: :mod:`~targetsel.data.load` (the entry points, by kind of source),
:mod:`~targetsel.data.read` (numbered rows from files), :mod:`~targetsel.data.messages` (the
canonical schema and its text), :mod:`~targetsel.data.validate` (rows, ids, the Arrow table) and
:mod:`~targetsel.data.example_set` (the :class:`ExampleSet`).

Example:
    >>> import json, tempfile, os
    >>> rows = [{"prompt": "2+2?", "completion": "4"}, {"instruction": "Say hi", "output": "hi"}]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "pool.jsonl")
    ...     _ = open(p, "w").write("\\n".join(json.dumps(r) for r in rows))
    ...     pool = load_pool(p)
    >>> len(pool), pool.messages(1)[0]["content"]
    (2, 'Say hi')
"""

from __future__ import annotations

from targetsel.data.example_set import ExampleSet
from targetsel.data.load import load_examples, load_pool, load_queries
from targetsel.data.messages import ROLES, TextTurns, normalize_row, render_text
from targetsel.data.real import fetch, list_data

__all__ = [
    "ROLES",
    "ExampleSet",
    "TextTurns",
    "fetch",
    "list_data",
    "load_examples",
    "load_pool",
    "load_queries",
    "normalize_row",
    "render_text",
]
