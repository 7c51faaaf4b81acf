"""Field types for pydantic models whose failures read ``<field> must be ..., got ...``, and
:func:`validate_model`, which turns pydantic's ``ValidationError`` into one configuration-error line
naming the dotted field path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field, Strict, ValidationError, WrapValidator

from targetsel.errors import ConfigurationError, TargetselError

__all__ = [
    "FieldError",
    "Flag",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "described",
    "field_path",
    "one_of",
    "text",
    "validate_model",
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
        >>> from pydantic import TypeAdapter
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
        >>> from pydantic import TypeAdapter
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
