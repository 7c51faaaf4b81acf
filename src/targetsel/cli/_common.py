"""Options and helpers shared by several CLI verbs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from targetsel.data import ExampleSet, load_examples
from targetsel.errors import ConfigurationError
from targetsel.progress import set_quiet
from targetsel.represent.base import REPRESENTATIONS, Representation, get_representation

__all__ = [
    "QUIET",
    "build_representation",
    "default_store_dir",
    "english_list",
    "load_data",
    "parse_shard",
    "representation_choices",
    "validate_method_params",
]

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars or summary tables.")


def representation_choices() -> list[str]:
    import targetsel.represent  # noqa: F401

    return sorted(REPRESENTATIONS)


def apply_quiet(quiet: bool) -> None:
    set_quiet(quiet)


def load_data(path: str | Path, *, split: str | None = None, skip_invalid: bool = False) -> ExampleSet:
    """Load a pool or query set for the CLI (errors propagate as TargetselError)."""
    return load_examples(path, split=split, skip_invalid=skip_invalid)


def build_representation(name: str, **options: Any) -> Representation:
    """Instantiate a representation, passing only the options the user set."""
    return get_representation(name, **{k: v for k, v in options.items() if v is not None})


def representation_from_cli(
    name: str, model: str | None, params: list[str] | None, checkpoints: list[Path] | None = None
) -> Representation:
    """The representation described by ``-r``, ``--model``, ``--param k=v`` and ``--checkpoints``."""
    options = parse_options(params)
    if checkpoints:
        if name != "gradient":
            raise ConfigurationError("--checkpoints applies to --representation gradient only")
        options["checkpoints"] = [str(c) for c in checkpoints]
    return build_representation(name, model=model, **options)


def validate_method_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """``--method-param`` values checked against the selector's ``__init__`` before any work.

    An unknown parameter or a wrong type is one :class:`ConfigurationError` line naming it (and the
    valid ones); text given to a number parameter (``reg_m_query=inf``) becomes a number. An
    unknown method is left to :func:`targetsel.select.get_selector`, which names the valid ones.

    Example:
        >>> validate_method_params("uot", {"reg_m_query": "inf", "reg": 0.05})
        {'reg_m_query': inf, 'reg': 0.05}
    """
    import targetsel.select  # noqa: F401  (registers the built-in selectors)
    from targetsel.params import validate_params
    from targetsel.select.base import SELECTORS

    if method not in SELECTORS:
        return params
    return validate_params(SELECTORS[method], params, what=f"method {method!r}")


def english_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names for a sentence.

    Example:
        >>> english_list(["x.csv", "y.csv", "z.md"])
        'x.csv, y.csv and z.md'
    """
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def default_store_dir() -> Path:
    """Feature-store cache: ``$TARGETSEL_CACHE/stores`` or ``~/.cache/targetsel/stores``."""
    root = os.environ.get("TARGETSEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "targetsel")
    return Path(root) / "stores"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """Parse ``--shard i/n``."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigurationError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n <= 0 or not 0 <= i < n:
        raise ConfigurationError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return i, n


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """Parse repeated ``--param key=value`` options; values are read as JSON when they parse.

    Other values stay text; :func:`targetsel.params.validate_params` (run on every parameter set
    before a representation or selector is built) reads text such as ``inf`` as a number where the
    parameter is declared a number.

    Example:
        >>> parse_options(["seed=3", "name=abc", "ks=[1, 2]"])
        {'seed': 3, 'name': 'abc', 'ks': [1, 2]}
    """
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"expected key=value, got {item!r}")
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out
