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

__all__ = ["ParamSignature", "describe_type", "read_signature", "validate_params"]

_WORDS: dict[Any, str] = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_ADAPTER_CONFIG = ConfigDict(strict=True, arbitrary_types_allowed=True)
_PLURALS: dict[Any, str] = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}


def describe_type(tp: Any) -> str:
    """Plain-words name of a type annotation, as error messages and generated help say it.

    Example:
        >>> describe_type(int | None), describe_type(Literal["a", "b"]), describe_type(tuple[str, ...])
        ('an integer or null', "one of 'a', 'b'", 'a list of strings')
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "null"
    if tp in _WORDS:
        return _WORDS[tp]
    if origin is Annotated:
        return describe_type(args[0])
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(describe_type(a) for a in args)
    if tp is os.PathLike or origin is os.PathLike:
        return "a path"
    item = _item_type(tp)
    if item is not None:
        return "a list of " + _plural(item)
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def _item_type(tp: Any) -> Any:
    """``X`` of ``list[X]``, ``Sequence[X]`` or ``tuple[X, ...]``; ``None`` for other types."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    if origin in (list, Sequence) and len(args) == 1:
        return args[0]
    return None


def _plural(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_plural(a) for a in typing.get_args(tp))
    if tp is os.PathLike or typing.get_origin(tp) is os.PathLike:
        return "paths"
    return _PLURALS.get(tp) or f"values of type {describe_type(tp)}"


def _accepts(tp: Any, kind: type) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_accepts(a, kind) for a in typing.get_args(tp))
    return tp is kind or tp is Any


def _checkable(tp: Any) -> Any:
    """The annotation as checked: ``tuple[X, ...]`` as any sequence of X (YAML and JSON have only lists)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return Sequence[args[0]]  # type: ignore[valid-type]  # a type built at run time from the annotation
    return tp


class ParamSignature(typing.NamedTuple):
    """What :func:`read_signature` reads of a class's ``__init__`` (or a function's signature)."""

    names: tuple[str, ...]  # keyword-settable parameters, in signature order
    any_keyword: bool  # the signature has **kwargs
    hints: dict[str, Any]
    adapters: dict[str, TypeAdapter[Any]]  # absent: a type pydantic cannot check (left unchecked)
    defaults: dict[str, Any]  # absent: a required parameter


@functools.cache
def read_signature(target: Callable[..., Any]) -> ParamSignature:
    """The user-settable parameters of ``target`` (a class: its ``__init__``, ``self`` left out).

    Example:
        >>> class Knob:
        ...     def __init__(self, turns: int, *, label: str = "x") -> None: ...
        >>> sig = read_signature(Knob)
        >>> sig.names, sig.defaults
        (('turns', 'label'), {'label': 'x'})
    """
    func = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]  # read, not called
    if func is object.__init__:  # a class without an __init__ of its own takes no parameters
        return ParamSignature((), False, {}, {}, {})
    params = list(inspect.signature(func).parameters.values())
    if isinstance(target, type):
        params = params[1:]  # self
    settable = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = tuple(p.name for p in settable)
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
    defaults = {p.name: p.default for p in settable if p.default is not p.empty}
    return ParamSignature(names, any(p.kind is p.VAR_KEYWORD for p in params), hints, adapters, defaults)


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
    sig = read_signature(target)
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
                f"bad parameters for {what}: {name} must be {describe_type(hint)}, got {out[name]!r}"
            ) from None
    return out
