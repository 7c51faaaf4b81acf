"""The parameters a user gives a registered class (``--param``, ``--method-param``, a config's
``params:``) checked against the class's ``__init__`` signature."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError

from targetsel.errors import ConfigurationError

__all__ = ["validate_params"]

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
