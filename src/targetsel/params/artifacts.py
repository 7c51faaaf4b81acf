"""Reading back the files targetsel writes: parsed, validated by the artifact's own pydantic model,
and any failure reported as one line naming the file and the field.

Each artifact (``selection.json``, ``diagnosis.json``, a store manifest, an experiment cell's
``done.json``...) has one model in the module that writes it; the writer dumps it and the readers
validate with it through :func:`read_artifact` (a file) or :func:`check_artifact` (content already
in memory). A failure reads ``<file>: field '<dotted.path>': <what is wrong>; <what to do>``.

Example:
    >>> from pydantic import BaseModel, ConfigDict
    >>> class Done(BaseModel):
    ...     model_config = ConfigDict(strict=True)
    ...     digest: str
    >>> check_artifact(Done, {"digest": 5}, source="done.json", fix="delete the cell folder")
    Traceback (most recent call last):
    ...
    targetsel.errors.InvalidDataError: done.json: field 'digest': must be a string, got 5; delete the cell folder
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from targetsel.errors import InvalidDataError, MissingArtifactError, TargetselError
from targetsel.params.fields import _TYPE_WORDS, FieldError, field_path

__all__ = [
    "artifact_error",
    "check_artifact",
    "check_nested",
    "describe_validation_error",
    "read_artifact",
    "read_json_artifact",
]

M = TypeVar("M", bound=BaseModel)

#: pydantic's error kinds that are about a value's JSON type, in words (beyond the shared ones).
_ARTIFACT_TYPE_WORDS = {
    **_TYPE_WORDS,
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "missing": "missing",
    "extra_forbidden": "is not a key this targetsel writes",
}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_validation_error(exc: ValidationError) -> tuple[str, str]:
    """``(dotted field path, what is wrong)`` of a validation failure: the first missing key, else the
    first error. A :class:`~targetsel.params.FieldError` raised in a validator names its own field.

    Example:
        >>> from pydantic import BaseModel
        >>> class Point(BaseModel):
        ...     budget: int
        >>> try:
        ...     Point.model_validate({})
        ... except ValidationError as exc:
        ...     describe_validation_error(exc)
        ('budget', 'missing')
    """
    errors = exc.errors(include_url=False)
    err = next((e for e in errors if e["type"] == "missing"), errors[0])
    path = field_path(*err["loc"])
    kind = err["type"]
    if kind in ("value_error", "assertion_error"):
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            return field_path(path, cause.field), cause.message
        return path, str(cause)
    if kind in ("missing", "extra_forbidden"):
        return path, _ARTIFACT_TYPE_WORDS[kind]
    words = _ARTIFACT_TYPE_WORDS.get(kind) or str(err["msg"]).replace("Input should be", "must be")
    return path, f"{words}, got {_short(err['input'])}"


def artifact_error(
    exc: ValidationError, source: str | os.PathLike[str], fix: str, error: type[TargetselError] = InvalidDataError
) -> TargetselError:
    """One line for an artifact that failed its model: ``<file>: field '<path>': <what>; <fix>``.

    Example:
        >>> from pydantic import BaseModel
        >>> class Point(BaseModel):
        ...     budget: int
        >>> try:
        ...     Point.model_validate({"budget": "x"})
        ... except ValidationError as exc:
        ...     print(artifact_error(exc, "diagnosis.json", "run `targetsel diagnose` again"))
        diagnosis.json: field 'budget': must be an integer, got 'x'; run `targetsel diagnose` again
    """
    path, words = describe_validation_error(exc)
    where = f"field '{path}': " if path else ""
    return error(f"{source}: {where}{words}; {fix}")


def check_artifact(
    model: type[M],
    data: Any,
    *,
    source: str | os.PathLike[str],
    fix: str,
    error: type[TargetselError] = InvalidDataError,
) -> M:
    """``data`` (an artifact's parsed content) validated by ``model``; a failure is one ``error`` line.

    ``source`` names the file in the message; ``fix`` says what to do about it.
    """
    if not isinstance(data, dict):
        raise error(f"{source}: must be a JSON object, got {type(data).__name__}; {fix}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise artifact_error(exc, source, fix, error) from None


def read_json_artifact(path: str | os.PathLike[str], *, fix: str, what: str | None = None) -> Any:
    """The parsed JSON of the artifact at ``path``: a missing, unreadable, cut or non-UTF-8 file is one line.

    Args:
        path: The file.
        fix: What to do when it cannot be read (``re-run `targetsel select```).
        what: The artifact's name, for a missing file (default: the file's name).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise MissingArtifactError(f"{p}: no {what or p.name}; {fix}") from None
    except OSError as exc:
        raise InvalidDataError(f"{p}: cannot read the file ({exc.strerror or exc}); {fix}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDataError(f"{p}: not UTF-8 text (byte {exc.start}); {fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidDataError(
            f"{p}: not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}); {fix}"
        ) from None
    except RecursionError:
        raise InvalidDataError(f"{p}: JSON nested too deeply; {fix}") from None


def read_artifact(
    path: str | os.PathLike[str],
    model: type[M],
    *,
    fix: str,
    what: str | None = None,
    error: type[TargetselError] = InvalidDataError,
) -> M:
    """The artifact at ``path``, parsed and validated by ``model`` (:func:`read_json_artifact`,
    then :func:`check_artifact`)."""
    return check_artifact(model, read_json_artifact(path, fix=fix, what=what), source=path, fix=fix, error=error)


def check_nested(model: type[BaseModel], value: dict[str, Any]) -> dict[str, Any]:
    """``value`` checked by ``model`` but returned as written (its key order is the file's), for a
    field validator of an enclosing artifact model; a failure names the field inside ``value``.

    Example:
        >>> from pydantic import BaseModel, ConfigDict
        >>> class Inner(BaseModel):
        ...     model_config = ConfigDict(strict=True)
        ...     n: int
        >>> check_nested(Inner, {"n": 1, "z": 0})
        {'n': 1, 'z': 0}
    """
    try:
        model.model_validate(value)
    except ValidationError as exc:
        path, words = describe_validation_error(exc)
        raise FieldError(path, words) from None
    return value
