"""Validation of user-given settings with pydantic, reported as one-line configuration errors.

Three things live here:

* Field types for the experiment config's pydantic models (:data:`PositiveInt`,
  :data:`NonNegativeInt`, :data:`PositiveFloat`, :data:`Flag`, :func:`one_of`) whose failures read
  ``<field> must be a positive integer, got 0``, and :func:`validate_model`, which runs a model and
  turns pydantic's ``ValidationError`` into one :class:`~targetsel.errors.ConfigurationError` line
  naming the dotted field path (``quantile.bins must be ...``).
* :class:`Section`, the base of the config's models (strict types, unknown keys named, a string
  shorthand), and :func:`resolve_path` for paths relative to the config file.
* :func:`validate_params`: the parameters a user gives a registered class (``--param``,
  ``--method-param``, a config's ``params:``) checked against the class's ``__init__`` signature.
  An unknown name lists the valid ones; a wrong type names the parameter and the expected type.
  Text is read as a number where the parameter is declared a number (``reg_m_query=inf``): the
  one place where a command-line or YAML string becomes ``float("inf")``.

Example:
    >>> class Toy:
    ...     def __init__(self, dim: int = 8, scale: float = 1.0) -> None: ...
    >>> validate_params(Toy, {"dim": 4, "scale": "inf"}, what="representation 'toy'")
    {'dim': 4, 'scale': inf}
    >>> validate_params(Toy, {"dims": 4}, what="representation 'toy'")
    Traceback (most recent call last):
    ...
    targetsel.errors.ConfigurationError: bad parameters for representation 'toy': unknown parameter 'dims'; valid ...
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    model_validator,
)

from targetsel.errors import ConfigurationError, MissingArtifactError, TargetselError

__all__ = [
    "FieldError",
    "Flag",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "Section",
    "base_folder",
    "described",
    "field_path",
    "one_of",
    "resolve_path",
    "text",
    "validate_model",
    "validate_params",
]

M = TypeVar("M", bound=BaseModel)


class FieldError(ValueError):
    """Raised inside a validator to blame a sub-field: ``FieldError("warmup", "only ...")``.

    :func:`validate_model` turns it into ``error(<model path>.<field>: <message>)``
    (``<path> must ...`` when the message starts with ``must``); ``error`` is
    :class:`ConfigurationError` unless given (e.g. :class:`~targetsel.errors.MissingArtifactError`
    for a file that does not exist). A plain ``ValueError`` blames the validated field itself.
    """

    def __init__(self, field: str, message: str, error: type[TargetselError] = ConfigurationError) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.error = error


def described(message: str) -> WrapValidator:
    """A pydantic validator that reports any failure of the type it annotates as ``message``.

    ``{got}`` in the message is replaced by the rejected value's ``repr``.

    Example:
        >>> class Cell(BaseModel):
        ...     seed: Annotated[int, Strict(), described("must be an integer, got {got}")] = 0
        >>> validate_model(Cell, {"seed": "x"})
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: seed must be an integer, got 'x'
    """

    def wrap(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(message.format(got=repr(value))) from None

    return WrapValidator(wrap)


#: A strictly positive ``int`` (``True`` and ``2.0`` are not integers).
PositiveInt = Annotated[int, Strict(), Field(gt=0), described("must be a positive integer, got {got}")]
#: A ``0, 1, 2, ...`` ``int``.
NonNegativeInt = Annotated[int, Strict(), Field(ge=0), described("must be a non-negative integer, got {got}")]
#: A strictly positive ``int`` or ``float`` (``inf`` allowed).
PositiveFloat = Annotated[float, Strict(), Field(gt=0), described("must be a positive number, got {got}")]
#: ``true`` or ``false``, nothing that merely converts to one.
Flag = Annotated[bool, Strict(), described("must be true or false")]


def one_of(*choices: str) -> Any:
    """A string field restricted to ``choices``: ``must be one of a, b, got 'c'``.

    Example:
        >>> TypeAdapter(one_of("budget", "quantile")).validate_python("budget")
        'budget'
    """
    return Annotated[Literal[choices], described(f"must be one of {', '.join(choices)}, got {{got}}")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("blank")
    return value


def text(message: str) -> Any:
    """A string field that must hold more than whitespace; any failure reads ``message``.

    Example:
        >>> TypeAdapter(text("must be a non-empty string")).validate_python("math")
        'math'
    """
    return Annotated[str, Strict(), AfterValidator(_not_blank), described(message)]


def field_path(*parts: str | int) -> str:
    """Dotted path of a location: ``("tasks", 0, "name")`` → ``tasks[0].name`` (empty parts skipped).

    Example:
        >>> field_path("representations[1]", "params"), field_path("budgets", 0), field_path("", "model")
        ('representations[1].params', 'budgets[0]', 'model')
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else str(part)
    return out


def _join(path: str, message: str) -> str:
    return f"{path} {message}" if message.startswith("must ") else f"{path}: {message}"


#: pydantic's own type errors, in our words.
_TYPE_WORDS = {
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "model_type": "must be a mapping",
}


def _error_line(err: Any, prefix: str) -> TargetselError:
    loc = tuple(err["loc"])
    path = field_path(prefix, *loc)
    kind = err["type"]
    if kind == "missing":
        return ConfigurationError(f"{field_path(prefix, *loc[:-1]) or 'config'}: missing required key {loc[-1]!r}")
    if kind in ("value_error", "assertion_error"):
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, TargetselError):  # already a complete message (e.g. from a registry)
            return cause
        if isinstance(cause, FieldError):
            return cause.error(_join(field_path(path, cause.field) or "config", cause.message))
        return ConfigurationError(_join(path or "config", str(cause)))
    words = _TYPE_WORDS.get(kind) or str(err["msg"]).replace("Input should be", "must be") + f", got {err['input']!r}"
    return ConfigurationError(f"{path or 'config'} {words}")


def validate_model(model: type[M], data: Any, *, prefix: str = "", context: dict[str, Any] | None = None) -> M:
    """Validate ``data`` with a pydantic ``model``; a failure is one :class:`ConfigurationError` line.

    The first missing key is reported first (as a hand-written loader checks required keys before
    values), otherwise pydantic's first error. ``prefix`` is the model's own path in a larger
    document (``representations[0]``).

    Example:
        >>> class Grid(BaseModel):
        ...     bins: PositiveInt = 5
        >>> validate_model(Grid, {"bins": 0}, prefix="quantile")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: quantile.bins must be a positive integer, got 0
    """
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = next((e for e in errors if e["type"] == "missing"), errors[0])
        raise _error_line(first, prefix) from None


class Section(BaseModel):
    """Base of the config's pydantic models: strict types, unknown keys rejected with the valid ones named.

    Class settings: ``_shorthand``: a bare string stands for ``{_shorthand: string}`` (a list item
    ``- lexical``); ``_none_is_default``: ``key: null`` means all defaults. ``context={"base": folder}``
    (see :func:`validate_model`) is the folder that :func:`resolve_path` resolves against.

    Example:
        >>> class Task(Section):
        ...     _shorthand = "name"
        ...     name: str
        >>> validate_model(Task, "math").name
        'math'
        >>> validate_model(Task, {"name": "math", "nmae": 1}, prefix="tasks[0]")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: tasks[0]: unknown key(s) ['nmae']; valid keys: name
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    _shorthand: ClassVar[str | None] = None
    _none_is_default: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if isinstance(data, str) and cls._shorthand:
            return {cls._shorthand: data}
        if data is None and cls._none_is_default:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; valid keys: {', '.join(sorted(cls.model_fields))}")
        return data

    @classmethod
    def parse(cls, data: Any, ctx: str = "", base: str | os.PathLike[str] | None = None) -> Any:
        """Validate one section of a document; ``ctx`` is its path there (``representations[0]``)."""
        return validate_model(cls, data, prefix=ctx, context={"base": None if base is None else Path(base)})


def resolve_path(value: Any, info: ValidationInfo, field: str = "") -> str:
    """An existing path from a validator: relative to ``info.context["base"]`` (default: cwd).

    Raises (as :class:`FieldError`, blaming ``field`` below the validated one) a
    :class:`ConfigurationError` for a blank or non-string value and a
    :class:`~targetsel.errors.MissingArtifactError` for a path that does not exist.

    Example:
        >>> from pydantic import field_validator
        >>> class Job(Section):
        ...     data: str
        ...     @field_validator("data", mode="before")
        ...     @classmethod
        ...     def _exists(cls, value, info):
        ...         return resolve_path(value, info)
        >>> validate_model(Job, {"data": "nowhere.jsonl"}, context={"base": Path("/")})
        Traceback (most recent call last):
        ...
        targetsel.errors.MissingArtifactError: data: /nowhere.jsonl does not exist
    """
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, f"must be a path string, got {value!r}")
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = base_folder(info) / p
    if not p.exists():
        raise FieldError(field, f"{p} does not exist", MissingArtifactError)
    return str(p)


def base_folder(info: ValidationInfo) -> Path:
    """The folder relative paths resolve against: ``context["base"]``, else the working directory.

    Example:
        >>> from types import SimpleNamespace
        >>> base_folder(SimpleNamespace(context={"base": Path("cfg")})).name
        'cfg'
        >>> base_folder(SimpleNamespace(context=None)) == Path.cwd()
        True
    """
    return (info.context or {}).get("base") or Path.cwd()


# --------------------------------------------------------------------------- parameters of classes
_WORDS: dict[Any, str] = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_ADAPTER_CONFIG = ConfigDict(strict=True, arbitrary_types_allowed=True)


def _describe(tp: Any) -> str:
    """Plain-words name of a type annotation (``int | None`` → ``an integer or null``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "null"
    if tp in _WORDS:
        return _WORDS[tp]
    if origin is Annotated:
        return _describe(args[0])
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(a) for a in args)
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def _accepts(tp: Any, kind: type) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_accepts(a, kind) for a in typing.get_args(tp))
    return tp is kind or tp is Any


def _checkable(tp: Any) -> Any:
    """The annotation as checked: ``tuple[X, ...]`` as any sequence of X (YAML and JSON have only lists)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return Sequence[args[0]]  # type: ignore[valid-type]
    return tp


class _Signature(typing.NamedTuple):
    names: tuple[str, ...]  # keyword-settable parameters
    any_keyword: bool  # the signature has **kwargs
    hints: dict[str, Any]
    adapters: dict[str, TypeAdapter[Any]]  # absent: a type pydantic cannot check (left unchecked)


@functools.cache
def _signature(target: Callable[..., Any]) -> _Signature:
    func = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    if func is object.__init__:  # a class without an __init__ of its own takes no parameters
        return _Signature((), False, {}, {})
    params = list(inspect.signature(func).parameters.values())
    if isinstance(target, type):
        params = params[1:]  # self
    names = tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # an annotation that does not resolve at run time: check names only
        hints = {}
    adapters = {}
    for name in names:
        if name in hints:
            # a type pydantic has no schema for leaves that one parameter unchecked
            with contextlib.suppress(Exception):
                adapters[name] = TypeAdapter(_checkable(hints[name]), config=_ADAPTER_CONFIG)
    return _Signature(names, any(p.kind is p.VAR_KEYWORD for p in params), hints, adapters)


def _as_checked(value: Any) -> Any:
    """What the type check sees: numpy scalars as Python numbers, paths as strings."""
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _read_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) or text.strip().lower().lstrip("+-") in ("inf", "infinity") else None


def validate_params(target: Callable[..., Any], params: Mapping[str, Any], *, what: str) -> dict[str, Any]:
    """Check ``params`` against ``target``'s signature (a class: its ``__init__``) before calling it.

    Strict types: ``True`` is not an integer, ``2.0`` is not an integer, ``"3"`` is not a number;
    an ``int`` is a valid ``float``. A string is read as a number (``inf``, ``-inf``, ``1e-4``)
    where the parameter is declared a number and not a string. Values otherwise pass unchanged
    (the class records what the user gave), so this only ever rejects or parses text.

    Args:
        target: A class or function.
        params: Keyword arguments the user gave.
        what: How the error names the target: ``"representation 'lexical'"``, ``"method 'uot'"``.

    Returns:
        A copy of ``params`` with numeric text of number parameters parsed.

    Raises:
        ConfigurationError: ``bad parameters for <what>: unknown parameter 'x'; valid parameters:
            ...`` or ``bad parameters for <what>: <name> must be <type>, got <value>``.

    Example:
        >>> class Knob:
        ...     def __init__(self, turns: int = 1) -> None: ...
        >>> validate_params(Knob, {"turns": "abc"}, what="knob")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: bad parameters for knob: turns must be an integer, got 'abc'
    """
    sig = _signature(target)
    unknown = sorted(set(params) - set(sig.names)) if not sig.any_keyword else []
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        valid = f"valid parameters: {', '.join(sorted(sig.names))}" if sig.names else f"{what} takes no parameters"
        raise ConfigurationError(
            f"bad parameters for {what}: unknown parameter{plural} {', '.join(map(repr, unknown))}; {valid}"
        )
    out = dict(params)
    for name, value in params.items():
        hint = sig.hints.get(name, Any)
        if isinstance(value, str) and _accepts(hint, float) and not _accepts(hint, str):
            number = _read_number(value)
            out[name] = value if number is None else number
        adapter = sig.adapters.get(name)
        if adapter is None:
            continue
        try:
            adapter.validate_python(_as_checked(out[name]))
        except ValidationError:
            raise ConfigurationError(
                f"bad parameters for {what}: {name} must be {_describe(hint)}, got {out[name]!r}"
            ) from None
    return out
