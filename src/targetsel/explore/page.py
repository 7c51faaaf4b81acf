"""Render the explorer page: one self-contained HTML file (Jinja2 template, inline CSS and JS, data as JSON).

The page needs no server and no network: styles, script and data are all inside the file. The data
travels in a ``<script type="application/json">`` block; ``<``, ``>`` and ``&`` are written as
JSON ``\\u`` escapes, so no text in a conversation (``</script>``, ``<!--``) can end the block
early, and ``JSON.parse`` restores them unchanged.

Example:
    >>> html = render_page({"header": {"method": "random", "budgets": [1]}, "note": "</script>"})
    >>> html.startswith("<!doctype html>"), "</script>\\"" in html, "\\\\u003c/script" in html
    (True, False, True)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_write_text
from targetsel.data import ExampleSet, load_examples
from targetsel.errors import ConfigurationError
from targetsel.explore.load import find_diagnosis, find_selection, page_data, recorded_path
from targetsel.export import SELECTION_FILE, check_output_dir
from targetsel.export.layout import EXPLORE_PAGE

logger = logging.getLogger(__name__)

__all__ = ["embed_json", "load_query_sets", "render_page", "write_page", "write_page_file"]

_TEMPLATES = "templates"
# (str.replace per character: ~50x faster than str.translate on a 30 MB page)
_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def embed_json(data: Any) -> str:
    """``data`` as compact JSON that is safe inside an HTML ``<script>`` element.

    Example:
        >>> embed_json({"t": "</script><b>&"})
        '{"t":"\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
        >>> json.loads(embed_json({"t": "</script>"}))["t"]
        '</script>'
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in _ESCAPES:
        text = text.replace(char, escape)
    return text


def _asset(name: str) -> str:
    # one name per joinpath: Python 3.10's Traversable takes a single child
    return resources.files("targetsel.explore").joinpath(_TEMPLATES).joinpath(name).read_text(encoding="utf-8")


def render_page(data: dict[str, Any]) -> str:
    """The HTML page for :func:`targetsel.explore.page_data`'s dict.

    The header is rendered by the template (readable without JavaScript); the charts, the
    per-query picks and the search are drawn by the inline script from the embedded data.
    """
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("targetsel.explore", _TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("explore.html.j2")
    return template.render(
        h=data.get("header") or {},
        notes=data.get("notes") or [],
        d=data.get("decontamination"),
        t=data.get("targets"),
        data_json=Markup(embed_json(data)),
        style=Markup(_asset("explore.css")),
        script=Markup(_asset("explore.js")),
    )


def write_page_file(html: str, output: str | os.PathLike[str]) -> Path:
    """Write the page atomically (a reader never sees half a page).

    Raises:
        ConfigurationError: ``output`` is a folder, or its folder cannot be written.
    """
    out = Path(output)
    if out.is_dir():
        raise ConfigurationError(f"{out} is a folder; pass a file name for the page, e.g. -o {out / EXPLORE_PAGE}")
    check_output_dir(out.parent)
    atomic_write_text(out, html)
    logger.info("wrote %s (%.1f MB)", out, len(html.encode("utf-8")) / 1e6)
    return out


def write_page(
    selection: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    pool: ExampleSet | str | os.PathLike[str] | None = None,
    queries: ExampleSet | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    by: str = "source",
    diagnosis: dict[str, Any] | str | os.PathLike[str] | None = None,
    split: str | None = None,
    budgets: Sequence[int] | None = None,
) -> Path:
    """Write the explorer page of a selection folder; returns the page's path.

    Args:
        selection: A selection folder (or its ``selection.json``), see :func:`find_selection`.
        output: The HTML file (default ``explore.html`` in the selection folder).
        pool: The pool (an :class:`ExampleSet` or a path); default: the one recorded in
            ``selection.json`` when it is still readable, else the page shows the subset alone.
        queries: The query set, likewise, for the query texts; for a selection of several targets
            ``{name: query set or path}``, default each target's set recorded in ``selection.json``.
        by: Column the composition counts by.
        diagnosis: A diagnosis (``Diagnosis.to_dict()``, or a ``diagnosis.json`` path or folder);
            default: a ``diagnosis.json`` found in the selection folder, if any.
        split: Split of a ``datasets`` directory given as ``pool`` / ``queries``.
        budgets: The budgets to mark on the page (default: the ``budget-<B>/`` folders found, or
            the selection's budget); each is a prefix of the selection's picks.

    Example:
        >>> import tempfile, numpy as np
        >>> from targetsel.export import export
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a", "source": "s"} for i in range(3)])
        >>> d = tempfile.mkdtemp()
        >>> _ = export(pool, select(np.array([[0.1, 0.9, 0.5]]), budget=2), d)
        >>> write_page(d, pool=pool).name
        'explore.html'
    """
    sel = find_selection(selection)
    if budgets is not None:
        sel.budgets = sorted({int(b) for b in budgets if 0 < int(b) <= len(sel.meta["picks"])}) or sel.budgets
    out = Path(output) if output is not None else sel.default_page_path()
    if out.is_dir():
        raise ConfigurationError(f"{out} is a folder; pass a file name for the page, e.g. -o {out / EXPLORE_PAGE}")
    check_output_dir(out.parent)
    pool_set = _examples(pool, sel.meta, "pool", split)
    query_set = load_query_sets(queries, sel.meta, split)
    diag = diagnosis if isinstance(diagnosis, dict) else find_diagnosis(sel, diagnosis)
    data = page_data(sel, pool=pool_set, queries=query_set, by=by, diagnosis=diag)
    return write_page_file(render_page(data), out)


def _examples(given: Any, meta: dict[str, Any], key: str, split: str | None) -> ExampleSet | None:
    if isinstance(given, ExampleSet):
        return given
    path = Path(given) if given is not None else recorded_path(meta, key)
    return None if path is None else load_examples(path, split=split)


def load_query_sets(given: Any, meta: dict[str, Any], split: str | None = None) -> Any:
    """The query set(s) of a selection's page: ``given`` (a set or path; ``{name: set or path}`` for a
    selection of several targets), else the recorded one, or ``None`` where it is no longer readable.

    Returns:
        An :class:`ExampleSet` or ``None`` for a selection of one target; ``{name: ExampleSet or
        None}`` for one of several targets.

    Raises:
        ConfigurationError: one query set given for a selection of several targets, or several for
            a selection of one.

    Example:
        >>> load_query_sets(None, {"queries": {"source": "<memory>"}}) is None
        True
    """
    block = meta.get("targets")
    if block is None:
        if isinstance(given, Mapping):
            if len(given) != 1:
                raise ConfigurationError("this selection has one target; give one query set (--query PATH)")
            given = next(iter(given.values()))
        return _examples(given, meta, "queries", split)
    if isinstance(given, Mapping):
        return {name: _examples(es, meta, "queries", split) for name, es in given.items()}
    if given is not None:
        names = ", ".join(t["name"] for t in block["targets"])
        raise ConfigurationError(
            f"this selection has several targets ({names}): give each query set as --query NAME=PATH, or none "
            f"to read them from {SELECTION_FILE}"
        )
    # each target's entry records its query set's ``source`` as the ``queries`` block of one target does
    return {t["name"]: _examples(None, {"queries": t}, "queries", split) for t in block["targets"]}
