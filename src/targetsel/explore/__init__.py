"""The selection explorer: one self-contained HTML page of what a selection picked, and for which query.

``targetsel explore SELECTION_DIR`` (or ``targetsel select --html``) writes it. The page shows the
header of the selection (method, representation, model, budgets, pool and query sizes,
fingerprints), the composition of the subset against the pool by ``source`` (or another column)
with a budget slider, the subset–query distance against random subsets when a diagnosis exists,
and per query its text and the candidates it chose, in order, with scores; each pick opens its
full conversation, and a search box filters the picks. A selection of several targets adds a
Targets panel and a target selector: every view then shows one target's picks, queries,
composition and distances (:mod:`targetsel.explore.targets`), or all of them. It reads only what the
selection wrote (plus the pool and query files it records): nothing is recomputed unless a diagnosis
is asked for.

Example:
    >>> from targetsel.explore import write_page
    >>> write_page("selection/", "selection/explore.html")  # doctest: +SKIP
    PosixPath('selection/explore.html')
"""

from __future__ import annotations

from targetsel.explore.load import PAGE_FORMAT, Selection, find_diagnosis, find_selection, page_data, recorded_path
from targetsel.explore.page import embed_json, load_query_sets, render_page, write_page, write_page_file

__all__ = [
    "PAGE_FORMAT",
    "Selection",
    "embed_json",
    "find_diagnosis",
    "find_selection",
    "load_query_sets",
    "page_data",
    "recorded_path",
    "render_page",
    "write_page",
    "write_page_file",
]
