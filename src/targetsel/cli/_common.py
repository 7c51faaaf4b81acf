"""Options and helpers shared by several CLI verbs."""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    "check_choice",
    "check_dtype",
    "check_method",
    "check_model",
    "check_representation",
    "default_store_dir",
    "english_list",
    "load_data",
    "parse_device",
    "parse_query_targets",
    "parse_shard",
    "validate_method_params",
]

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars or summary tables.")


def check_choice(flag: str, value: str, choices: Iterable[str]) -> str:
    """``value`` when it is one of ``choices``, else one :class:`ConfigurationError` line listing them.

    Every flag with a closed set of values goes through here (or :func:`parse_device`) before any
    work, so a typo is refused instead of falling back to a default.

    Example:
        >>> check_choice("--format", "jsonl", ("jsonl", "parquet"))
        'jsonl'
        >>> check_choice("--format", "csv", ("jsonl", "parquet"))
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: --format must be jsonl or parquet, got 'csv'
    """
    valid = list(choices)
    if value not in valid:
        if len(valid) == 2:
            raise ConfigurationError(f"{flag} must be {valid[0]} or {valid[1]}, got {value!r}")
        raise ConfigurationError(f"{flag} must be one of {', '.join(valid[:-1])} or {valid[-1]}, got {value!r}")
    return value


def parse_device(value: str | None, flag: str = "--device") -> str | None:
    """``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (resolved), checked against this machine.

    ``None`` (the flag not given) stays ``None``: each verb keeps its own default. ``gpu``,
    ``CUDA`` or ``" cuda"`` are refused, and so is a CUDA device that torch does not see.

    Example:
        >>> parse_device("cpu"), parse_device(None)
        ('cpu', None)
    """
    from targetsel.models import resolve_device

    return None if value is None else resolve_device(value, what=flag)


def check_dtype(value: str, flag: str = "--dtype") -> str:
    """``--dtype`` of a model: ``float32``, ``bfloat16``/``bf16``, ``float16``/``fp16``, ``auto``...

    Example:
        >>> check_dtype("bf16")
        'bf16'
    """
    from targetsel.models import DTYPE_NAMES

    return check_choice(flag, value, DTYPE_NAMES)


def check_representation(name: str, flag: str = "--representation") -> str:
    """``name`` when it is a registered representation (embed, gradient, hidden, lexical).

    Example:
        >>> check_representation("lexical")
        'lexical'
    """
    import targetsel.represent  # noqa: F401  (registers the built-in representations)

    return check_choice(flag, name, sorted(REPRESENTATIONS))


def check_method(name: str, flag: str = "--method") -> str:
    """``name`` when it is a registered selection method.

    Example:
        >>> check_method("round_robin")
        'round_robin'
    """
    import targetsel.select  # noqa: F401  (registers the built-in selectors)
    from targetsel.select.base import SELECTORS

    return check_choice(flag, name, sorted(SELECTORS))


def apply_quiet(quiet: bool) -> None:
    set_quiet(quiet)


def load_data(path: str | Path, *, split: str | None = None, skip_invalid: bool = False) -> ExampleSet:
    """Load a pool or query set for the CLI (errors propagate as TargetselError)."""
    return load_examples(path, split=split, skip_invalid=skip_invalid)


def build_representation(name: str, **options: Any) -> Representation:
    """Instantiate a representation, passing only the options the user set (``device`` checked first)."""
    check_representation(name)
    if options.get("device") is not None:
        options["device"] = parse_device(str(options["device"]), flag="--param device")
    rep = get_representation(name, **{k: v for k, v in options.items() if v is not None})
    if options.get("model") is not None:
        check_model(str(options["model"]))
    return rep


def check_model(model: str) -> None:
    """Refuse, before any work, a model that is neither a folder, a built-in, cached nor downloadable.

    The bundled sentence-transformers model passes by its name. See
    :func:`targetsel.models.check_model_available`.

    Example:
        >>> import tempfile
        >>> check_model(tempfile.mkdtemp())  # a model folder
    """
    from targetsel.models import check_model_available
    from targetsel.represent.embed import DEFAULT_EMBED_MODEL

    if model != DEFAULT_EMBED_MODEL:
        check_model_available(model)


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
    from targetsel.fetching import cache_dir

    return cache_dir("stores")


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


_NAMED_QUERY = re.compile(r"([A-Za-z0-9_.-]+)=(.*)", re.DOTALL)


def parse_query_targets(query: list[str] | None) -> dict[str, Path] | Path | None:
    """``--query``: one bare path (one target, as always), or ``NAME=PATH`` entries (several targets).

    A value that exists as a file or folder is a path even when it holds ``=``. A bare ``--query``
    given again replaces the earlier one, as a single option always did; one ``NAME=PATH`` alone is
    that one path. Refused, as one :class:`ConfigurationError` line each: bare paths mixed with
    named ones, a name given twice, a name with no path (``math=``), one file under two names.

    Example:
        >>> parse_query_targets(["math=a.jsonl", "code=b.jsonl"])
        {'math': PosixPath('a.jsonl'), 'code': PosixPath('b.jsonl')}
        >>> parse_query_targets(["math=a.jsonl"]), parse_query_targets(None)
        (PosixPath('a.jsonl'), None)
        >>> parse_query_targets(["math=a.jsonl", "code=./a.jsonl"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: --query: targets 'math' and 'code' have the same query set ...
    """
    if not query:
        return None
    named: dict[str, Path] = {}
    bare: list[str] = []
    for q in query:
        m = _NAMED_QUERY.fullmatch(q)
        if m is None or Path(q).exists():
            bare.append(q)
            continue
        name, path = m.group(1), m.group(2).strip()
        if not path:
            raise ConfigurationError(f"--query {q} names no query set; give NAME=PATH (e.g. --query {name}=dev.jsonl)")
        if name in named:
            raise ConfigurationError(f"--query names target {name!r} twice; give each target one name")
        for other, seen in named.items():
            if seen.resolve() == Path(path).resolve():
                raise ConfigurationError(
                    f"--query: targets {other!r} and {name!r} have the same query set ({seen}); give it once"
                )
        named[name] = Path(path)
    if bare and named:
        raise ConfigurationError(
            f"--query {bare[0]} has no name: with several query sets give each as NAME=PATH "
            "(e.g. --query math=dev.jsonl)"
        )
    if bare:
        return Path(bare[-1])
    return named if len(named) > 1 else next(iter(named.values()))
