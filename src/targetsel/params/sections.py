"""The base of the config's pydantic models, and paths relative to the config file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from targetsel.errors import MissingArtifactError
from targetsel.params.fields import FieldError, validate_model

__all__ = ["Section", "base_folder", "resolve_path"]


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
