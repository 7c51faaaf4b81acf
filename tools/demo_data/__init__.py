"""Deterministic generator of the bundled demo pool and the synthetic demo query sets (a development tool).

The shipped package (``targetsel.demo``) holds only the generated files under
``src/targetsel/demo/data/``; this generator lives outside it, one module per task family
(:mod:`~tools.demo_data.arithmetic`, :mod:`~tools.demo_data.python_functions` with its templates
in two modules, :mod:`~tools.demo_data.strings`, :mod:`~tools.demo_data.units`,
:mod:`~tools.demo_data.dates`, :mod:`~tools.demo_data.logic`, :mod:`~tools.demo_data.facts`,
:mod:`~tools.demo_data.rewriting`, :mod:`~tools.demo_data.lists`, :mod:`~tools.demo_data.records`)
and :mod:`~tools.demo_data.assemble`, which draws and renders them.

Every example is built from hand-written templates and tables with a seeded ``random.Random``, and
every answer is computed by the generator itself (arithmetic, ``datetime``, executed reference
functions), so the data is correct by construction and byte-reproducible. From the repository root:

    python -m tools.demo_data            # rewrite src/targetsel/demo/data/ (same bytes)
    python -m tools.demo_data --check    # only compare; exit 1 when a file differs

Example:
    >>> from tools.demo_data import FAMILY_COUNTS, convert_units
    >>> len(FAMILY_COUNTS), convert_units(100, "C", "F")
    (10, 212.0)
"""

from __future__ import annotations

from tools.demo_data.assemble import (
    DATA_DIR,
    DEFAULT_SEED,
    FAMILY_COUNTS,
    QUERY_SIZES,
    generate_pool,
    generate_queries,
    render_demo_files,
    write_demo_data,
)
from tools.demo_data.dates import solve_date_question
from tools.demo_data.units import UNIT_FACTORS, convert_units

__all__ = [
    "DATA_DIR",
    "DEFAULT_SEED",
    "FAMILY_COUNTS",
    "QUERY_SIZES",
    "UNIT_FACTORS",
    "convert_units",
    "generate_pool",
    "generate_queries",
    "render_demo_files",
    "solve_date_question",
    "write_demo_data",
]
