"""Command options generated from a settings dataclass: one option per field, its help the field's.

A settings class (e.g. :class:`~targetsel.train.TrainConfig`) describes each field in its
``metadata``:

* ``help``: the option's help text (required);
* ``flags``: the option's names (default ``--field-name``);
* ``switch``: for a ``bool`` field, the help of a flag that, given, sets the field to the opposite
  of its default (``--full`` for ``lora=True``).

A ``tuple[str, ...]`` field is one comma-separated option. :func:`settings_options` replaces one
parameter of a typer command by these options and hands the command the settings object built
from them, so several commands share one declaration and a new field reaches all of them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

import typer

__all__ = ["field_flags", "field_help", "settings_options"]


def field_flags(f: dataclasses.Field[Any]) -> tuple[str, ...]:
    """The option names of field ``f``: its ``flags`` metadata, else ``--name-with-dashes``.

    Example:
        >>> from targetsel.train import TrainConfig
        >>> [field_flags(f) for f in dataclasses.fields(TrainConfig)][:2]
        [('--full',), ('--lora-r',)]
    """
    return tuple(f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),))


def field_help(f: dataclasses.Field[Any]) -> str:
    """The help of field ``f``'s option: its ``switch`` text for a switch, else its ``help``.

    Example:
        >>> from targetsel.train import TrainConfig
        >>> field_help(dataclasses.fields(TrainConfig)[0])
        'Full fine-tuning instead of LoRA.'
    """
    return str(f.metadata.get("switch") or f.metadata["help"])


def _is_str_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple and typing.get_args(tp) == (str, ...)


def _parameter(f: dataclasses.Field[Any], tp: Any) -> inspect.Parameter:
    """The keyword parameter (annotation and ``typer.Option`` default) of field ``f`` of type ``tp``."""
    annotation: Any
    default: Any
    if "switch" in f.metadata:
        annotation, default = bool, False
    elif _is_str_tuple(tp):
        assert isinstance(f.default, tuple)  # the settings classes give every tuple field a default
        annotation, default = str, ",".join(f.default)
    else:
        annotation, default = tp, f.default
    option = typer.Option(default, *field_flags(f), help=field_help(f))
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def _value(f: dataclasses.Field[Any], tp: Any, given: Any) -> Any:
    """The field value of what the option received."""
    if "switch" in f.metadata:
        return (not f.default) if given else f.default
    if _is_str_tuple(tp):
        return tuple(t.strip() for t in given.split(",") if t.strip())
    return given


def settings_options(
    cls: type,
    *,
    into: str,
    omit: Collection[str] = (),
    parse: Mapping[str, Callable[[Any], Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command's parameter ``into`` becomes one option per field of dataclass ``cls``.

    The command is called with ``into=cls(**values)``; fields in ``omit`` get no option and keep
    their defaults. ``parse`` maps a field name to a check or conversion of its option's value
    (run before ``cls`` is built, e.g. to name the flag in an error).

    Example:
        >>> from dataclasses import dataclass, field
        >>> @dataclass
        ... class Fit:
        ...     epochs: int = field(default=2, metadata={"help": "Training epochs."})
        >>> @settings_options(Fit, into="fit")
        ... def fit_cmd(name: str = typer.Option("x", "--name"), fit: Fit = None) -> str:
        ...     return f"{name}: {fit.epochs}"
        >>> list(inspect.signature(fit_cmd).parameters)
        ['name', 'epochs']
        >>> fit_cmd(name="a", epochs=3)
        'a: 3'
    """
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name not in omit]
    checks = dict(parse or {})

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func, eval_str=True)
        clash = sorted({f.name for f in fields} & (set(sig.parameters) - {into}))
        if clash or into not in sig.parameters:
            raise TypeError(f"{func.__name__}: cannot put {cls.__name__} options at {into!r} (clash: {clash})")
        params: list[inspect.Parameter] = []
        for p in sig.parameters.values():
            if p.name == into:
                params.extend(_parameter(f, hints[f.name]) for f in fields)
            else:
                params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            values = {f.name: _value(f, hints[f.name], kwargs.pop(f.name)) for f in fields}
            for name, check in checks.items():
                values[name] = check(values[name])
            return func(**kwargs, **{into: cls(**values)})

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]  # what typer reads
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
