"""One name → class registry, used for representations, projectors and selectors.

A registry maps the ``name`` class attribute of each registered class to the class. Registering
a second class under a taken name is an error (two plugins must not silently replace each
other), and looking up an unknown name names the valid ones.

Example:
    >>> WIDGETS: Registry[type] = Registry("widget")
    >>> @WIDGETS.register
    ... class Knob:
    ...     name = "knob"
    >>> WIDGETS.get("knob").__name__, WIDGETS.names(), "knob" in WIDGETS
    ('Knob', ['knob'], True)
    >>> WIDGETS.get("dial")
    Traceback (most recent call last):
    ...
    targetsel.errors.ConfigurationError: unknown widget 'dial'; choose one of knob
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from targetsel.errors import ConfigurationError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes (or other objects with a ``name`` attribute) registered by name.

    It reads like a read-only mapping (``name in reg``, ``reg[name]``, ``sorted(reg)``,
    ``reg.items()``), but :meth:`get` raises on an unknown name instead of returning ``None``.

    Args:
        kind: What the entries are, as the error messages say it (``"representation"``).

    Example:
        >>> reg: Registry[type] = Registry("projector")
        >>> class Sparse:
        ...     name = "sparse"
        >>> reg.register(Sparse) is Sparse, len(reg), reg["sparse"] is Sparse
        (True, 1, True)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, obj: T) -> T:
        """Add ``obj`` under its ``name`` attribute; usable as a class decorator.

        Registering the same object again is a no-op (a module imported twice by a test runner).

        Raises:
            ConfigurationError: ``obj`` has no string ``name``, or another object holds the name.

        Example:
            >>> reg: Registry[type] = Registry("selector")
            >>> class A:
            ...     name = "a"
            >>> class B:
            ...     name = "a"
            >>> _ = reg.register(A)
            >>> reg.register(B)
            Traceback (most recent call last):
            ...
            targetsel.errors.ConfigurationError: selector name 'a' is registered twice (A and B); give one ...
        """
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{self.kind} {obj!r} needs a non-empty string `name` to be registered")
        held = self._entries.get(name)
        if held is not None and held is not obj:
            raise ConfigurationError(
                f"{self.kind} name {name!r} is registered twice ({_label(held)} and {_label(obj)}); "
                "give one of them another name"
            )
        self._entries[name] = obj
        return obj

    def unregister(self, name: str) -> T:
        """Remove the entry registered as ``name`` and return it (a plugin unloaded, a test's class).

        Raises:
            ConfigurationError: nothing is registered as ``name``.

        Example:
            >>> reg: Registry[type] = Registry("selector")
            >>> class A:
            ...     name = "a"
            >>> _ = reg.register(A)
            >>> reg.unregister("a") is A, "a" in reg
            (True, False)
            >>> reg.unregister("a")
            Traceback (most recent call last):
            ...
            targetsel.errors.ConfigurationError: unknown selector 'a'; choose one of (none registered)
        """
        obj = self.get(name)
        del self._entries[name]
        return obj

    @contextmanager
    def registered(self, obj: T) -> Iterator[T]:
        """Register ``obj`` for the ``with`` block only, then remove it again (tests, temporary plugins).

        An object that was already registered before the block stays registered after it.

        Example:
            >>> reg: Registry[type] = Registry("selector")
            >>> class B:
            ...     name = "b"
            >>> with reg.registered(B):
            ...     reg.names()
            ['b']
            >>> reg.names()
            []
        """
        held = self._entries.get(getattr(obj, "name", None)) is obj  # type: ignore[arg-type]  # T does not say entries have a name
        self.register(obj)
        try:
            yield obj
        finally:
            if not held and self._entries.get(obj.name) is obj:  # type: ignore[attr-defined]  # (as above)
                del self._entries[obj.name]  # type: ignore[attr-defined]  # (as above)

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises:
            ConfigurationError: ``unknown <kind> '<name>'; choose one of ...``.

        Example:
            >>> reg: Registry[int] = Registry("number")
            >>> reg.get("two")
            Traceback (most recent call last):
            ...
            targetsel.errors.ConfigurationError: unknown number 'two'; choose one of (none registered)
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name from a config file
            raise ConfigurationError(
                f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names()) or '(none registered)'}"
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted.

        Example:
            >>> Registry("thing").names()
            []
        """
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs in name order."""
        return sorted(self._entries.items())

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # unhashable
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"


def _label(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)
