"""Export a selection: the chosen pool rows (JSONL or Parquet) plus ``selection.json`` provenance.

Example:
    >>> import numpy as np, tempfile, os
    >>> from targetsel.data import ExampleSet
    >>> from targetsel.select import select
    >>> pool = ExampleSet.from_records([{"prompt": f"q{i}", "completion": "a"} for i in range(3)])
    >>> ranking = select(np.array([[0.1, 0.9, 0.5]]), "round_robin", budget=2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = export(pool, ranking, d)
    ...     sorted(os.listdir(d))
    ['selection.json', 'subset.jsonl']
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_path, atomic_write_text
from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.select.base import Ranking

logger = logging.getLogger(__name__)

__all__ = ["check_output_dir", "export", "selection_metadata"]

_FORMATS = ("jsonl", "parquet")


def check_output_dir(path: str | os.PathLike[str]) -> None:
    """Fail early, before any work, when ``path`` cannot become a writable directory.

    Raises:
        ConfigurationError: ``path`` or one of its ancestors is a file, or the nearest existing
            ancestor is not writable.
    """
    p = Path(path).absolute()
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigurationError(f"cannot write output to {p}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigurationError(f"cannot write output to {p}: {probe} is not writable")


def selection_metadata(
    pool: ExampleSet,
    ranking: Ranking,
    *,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``selection.json`` content: method, parameters, inputs and every pick.

    Example:
        >>> import numpy as np
        >>> from targetsel.select import select
        >>> pool = ExampleSet.from_records([{"prompt": "q", "completion": "a"}])
        >>> selection_metadata(pool, select(np.ones((1, 1)), "random", budget=1))["budget"]
        1
    """
    from targetsel._version import __version__

    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 7)

    picks = [
        {
            "rank": r,
            "index": int(i),
            "id": pool.ids[int(i)],
            "query_index": int(q) if q >= 0 else None,
            "score": num(s),
        }
        for r, (i, q, s) in enumerate(zip(ranking.indices, ranking.query_index, ranking.scores, strict=True))
    ]
    for name, values in ranking.extra.items():
        for p, v in zip(picks, values.tolist(), strict=True):
            p[name] = v
    meta: dict[str, Any] = {
        "method": ranking.method,
        "params": ranking.params,
        "budget": len(ranking),
        "pool": {"source": pool.source, "rows": len(pool), "fingerprint": pool.fingerprint},
        "queries": None
        if queries is None
        else {"source": queries.source, "rows": len(queries), "fingerprint": queries.fingerprint},
        "representation": provenance or {},
        "json_text_columns": pool.json_columns,
        "library_version": __version__,
        "picks": picks,
    }
    return meta


def export(
    pool: ExampleSet,
    ranking: Ranking,
    output: str | os.PathLike[str],
    *,
    format: str | None = None,
    queries: ExampleSet | None = None,
    provenance: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write the selected rows (in ranking order, every original column) and their provenance.

    Args:
        pool: The pool the ranking indexes.
        ranking: The selection (slice it to the budget first: ``ranking[:B]``).
        output: A directory (writes ``subset.<format>`` and ``selection.json`` in it) or a file
            path ending in ``.jsonl``/``.parquet`` (metadata goes to ``<stem>.selection.json``).
        format: ``jsonl`` or ``parquet``; inferred from a file path, default ``jsonl``.
        queries: The query set, recorded by source and fingerprint.
        provenance: Representation/scoring provenance (``Scores.provenance``).

    Returns:
        ``(subset_path, selection_json_path)``. Both are written atomically.
    """
    if ranking.n_candidates != len(pool):
        raise ConfigurationError(
            f"the ranking is over {ranking.n_candidates} candidates but the pool has {len(pool)} rows"
        )
    out = Path(output)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in _FORMATS:
        fmt = format or suffix
        data_path, meta_path = out, out.with_name(out.stem + ".selection.json")
    else:
        fmt = format or "jsonl"
        data_path, meta_path = out / f"subset.{fmt}", out / "selection.json"
    if fmt not in _FORMATS:
        raise ConfigurationError(f"export format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    check_output_dir(data_path.parent)
    try:
        data_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create output directory {data_path.parent}: {exc.strerror}") from exc

    meta = json.dumps(selection_metadata(pool, ranking, queries=queries, provenance=provenance), indent=1) + "\n"
    with atomic_path(data_path) as tmp:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in pool.rows(ranking.indices):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            # Parquet needs one type per column: free-form columns stay JSON text (listed in selection.json).
            pool.dataset.select([int(i) for i in ranking.indices]).to_parquet(str(tmp))
    atomic_write_text(meta_path, meta)
    logger.info("wrote %d rows to %s", len(ranking), data_path)
    return data_path, meta_path
