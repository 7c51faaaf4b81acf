"""What a registered class says about itself: its label, and one row per user-settable parameter.

Everything comes from the class as written: the parameter names, types and defaults from its
``__init__`` signature (read once, by :func:`~targetsel.params.signature.read_signature`, the same
reading :func:`~targetsel.params.validate_params` checks against), the help of each parameter from
the ``Args:`` section of its Google-style docstring (the class docstring or ``__init__``'s; a
subclass inherits the help of the parameters it does not document again). The command line's help
pages, ``targetsel components`` and the README's tables are generated from these rows, so a
parameter is described where it is declared and nowhere else.

Example:
    >>> class Knob:
    ...     '''A knob.
    ...
    ...     Args:
    ...         turns: How far it turns
    ...             (whole turns).
    ...         unit: ``deg`` or ``rad``.
    ...     '''
    ...     name, label = "knob", "KNOB"
    ...     def __init__(self, turns: int = 1, unit: str = "deg", ratio: float = float("inf")) -> None: ...
    >>> [(p.name, p.type, p.shown_default, p.help) for p in describe_params(Knob)]  # doctest: +NORMALIZE_WHITESPACE
    [('turns', 'an integer', '1', 'How far it turns (whole turns).'), ('unit', 'a string', 'deg', 'deg or rad.'),
     ('ratio', 'a number', 'inf', '')]
    >>> compact_params(Knob)
    'turns=1, unit=deg, ratio=inf'
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from targetsel.params.signature import describe_type, read_signature

__all__ = [
    "REQUIRED",
    "ComponentInfo",
    "ParamInfo",
    "compact_params",
    "describe_component",
    "describe_params",
    "describe_registry",
    "docstring_args",
    "format_value",
]

#: The default of a parameter that has none (the user must give it).
REQUIRED: Any = inspect.Parameter.empty

_ARG_SECTIONS = ("Args", "Arguments", "Parameters")
# a section header of a Google-style docstring: "Args:", "Example:", "Raises:" on a line of its own
_HEADER = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
# an entry of the Args section: "name: text", "name (int): text", "a, b: text" (several names, one text)
_ENTRY = re.compile(r"^\*{0,2}(?P<names>\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?:\([^)]*\))?\s*:(?:\s+(?P<text>.*))?$")
# reStructuredText that reads badly on a terminal: ``code``, :role:`target` and :role:`text <target>`
_LITERAL = re.compile(r"``(.+?)``")
_ROLE = re.compile(r":[\w:.-]+:`(?:([^`<]*?)\s*<[^`>]*>|~?([^`]*?))`")


def _plain(text: str) -> str:
    """Docstring text as one plain line: markup of literals and cross-references dropped.

    Example:
        >>> _plain("On-disk layout (:mod:`targetsel.store.codecs`, ``bit``); see :func:`~a.b.run`.")
        'On-disk layout (targetsel.store.codecs, bit); see run.'
    """

    def role(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        target = m.group(2)
        return target.rsplit(".", 1)[-1] if m.group(0).split("`", 1)[1].startswith("~") else target

    text = _ROLE.sub(role, _LITERAL.sub(r"\1", text))
    return " ".join(text.split())


def docstring_args(doc: str | None) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: parameter name → its text on one line.

    Continuation lines are joined; an entry naming several parameters (``lora_r, lora_alpha:
    ...``) gives each of them the text; ``*`` and ``**`` are dropped from names.

    Example:
        >>> docstring_args('''Scale a vector.
        ...
        ...     Args:
        ...         x: The vector, shape ``(n,)``.
        ...         lo, hi: Bounds of the
        ...             result.
        ...
        ...     Returns:
        ...         The scaled vector.
        ...     ''')
        {'x': 'The vector, shape (n,).', 'lo': 'Bounds of the result.', 'hi': 'Bounds of the result.'}
    """
    if not doc:
        return {}
    if _HEADER.match(doc.lstrip().split("\n", 1)[0]):
        # "Args:" on the docstring's first line: keep its entries indented below it (cleandoc
        # measures the margin from the second line on)
        doc = "\n" + doc.lstrip()
    entries: list[tuple[list[str], list[str]]] = []
    inside, indent = False, None
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        depth = len(line) - len(line.lstrip())
        header = _HEADER.match(line)
        if header and depth == 0:
            inside, indent = header.group(1) in _ARG_SECTIONS, None
            continue
        if not inside or not stripped:
            continue
        if depth == 0:  # text back at the margin ends the section
            inside = False
            continue
        if indent is None:
            indent = depth
        entry = _ENTRY.match(stripped) if depth == indent else None
        if entry:
            names = [n.strip().lstrip("*") for n in entry.group("names").split(",")]
            entries.append((names, [entry.group("text") or ""]))
        elif entries:
            entries[-1][1].append(stripped)
    return {name: _plain(" ".join(text)) for names, text in entries for name in names}


def format_value(value: Any) -> str:
    """A parameter value as a user types it after ``key=`` (``--param``, ``--method-param``).

    Text as it is, numbers as Python prints them (``inf`` is read back as a number), ``true``,
    ``false``, ``null`` and lists as JSON.

    Example:
        >>> [format_value(v) for v in ("auto", 1e-4, float("inf"), None, True, ("q_proj", "v_proj"))]
        ['auto', '0.0001', 'inf', 'null', 'true', '["q_proj", "v_proj"]']
    """
    if value is REQUIRED:
        return "required"
    if isinstance(value, str):
        return value if value.strip() else json.dumps(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Sequence):
        return json.dumps(list(value), default=str)
    return str(value)


def _json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: lists for sequences, text for what JSON has no form of (``inf``)."""
    if value is REQUIRED:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return format_value(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Sequence):
        return [_json_value(v) for v in value]
    return format_value(value)


@dataclass(frozen=True)
class ParamInfo:
    """One user-settable parameter of a class.

    Attributes:
        name: Keyword name (``reg_m_query``).
        type: Its type in plain words (``a number``).
        default: The default value; :data:`REQUIRED` when the parameter has none.
        help: One line from the docstring's ``Args:`` section (empty when it has none).
    """

    name: str
    type: str
    default: Any
    help: str

    @property
    def required(self) -> bool:
        """The parameter has no default."""
        return self.default is REQUIRED

    @property
    def shown_default(self) -> str:
        """The default as the user would type it (``required`` when there is none)."""
        return format_value(self.default)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``name``, ``type``, ``default`` (``null`` when required), ``required``, ``help``."""
        return {
            "name": self.name,
            "type": self.type,
            "default": _json_value(self.default),
            "required": self.required,
            "help": self.help,
        }


def _documented(cls: type) -> dict[str, str]:
    """Parameter help from the ``Args:`` of ``cls`` and its bases (a subclass's own text first)."""
    found: dict[str, str] = {}
    for klass in reversed(inspect.getmro(cls) if isinstance(cls, type) else (cls,)):
        init = vars(klass).get("__init__") if isinstance(klass, type) else None
        for doc in (getattr(klass, "__doc__", None), getattr(init, "__doc__", None)):
            found.update(docstring_args(doc))
    return found


def describe_params(target: Any) -> list[ParamInfo]:
    """One :class:`ParamInfo` per keyword-settable parameter of ``target`` (a class: its ``__init__``).

    Example:
        >>> class Seeded:
        ...     def __init__(self, seed: int) -> None:
        ...         '''Args:
        ...             seed: Random seed.
        ...         '''
        >>> p = describe_params(Seeded)[0]
        >>> p.required, p.shown_default, p.to_dict()["help"]
        (True, 'required', 'Random seed.')
    """
    sig = read_signature(target)
    docs = _documented(target)
    return [
        ParamInfo(
            name,
            describe_type(sig.hints[name]) if name in sig.hints else "any value",
            sig.defaults.get(name, REQUIRED),
            docs.get(name, ""),
        )
        for name in sig.names
    ]


def compact_params(target: Any) -> str:
    """``name=default, ...`` of every parameter on one line (``-`` when there are none).

    Example:
        >>> class Plain:
        ...     pass
        >>> compact_params(Plain)
        '-'
    """
    return ", ".join(f"{p.name}={p.shown_default}" for p in describe_params(target)) or "-"


def _summary(cls: Any) -> str:
    """The first paragraph of the class's own docstring, on one line."""
    doc = vars(cls).get("__doc__") if isinstance(cls, type) else getattr(cls, "__doc__", None)
    return _plain(inspect.cleandoc(doc).split("\n\n", 1)[0]) if doc else ""


@dataclass(frozen=True)
class ComponentInfo:
    """A registered class described: what ``targetsel components`` prints for it.

    Attributes:
        name: Registry name (``uot``).
        label: Short name in method labels and reports (``UOT``).
        summary: First paragraph of the class docstring, on one line.
        qualname: ``module.Class`` of the implementation.
        params: Its user-settable parameters.
    """

    name: str
    label: str
    summary: str
    qualname: str
    params: list[ParamInfo] = field(default_factory=list)

    @property
    def undocumented(self) -> list[str]:
        """Names of the parameters whose docstring gives no help line."""
        return [p.name for p in self.params if not p.help]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``params`` as :meth:`ParamInfo.to_dict` rows)."""
        return {
            "label": self.label,
            "summary": self.summary,
            "class": self.qualname,
            "params": [p.to_dict() for p in self.params],
        }


def describe_component(cls: Any) -> ComponentInfo:
    """Describe a registered class (one with ``name`` and ``label`` class attributes).

    Example:
        >>> from targetsel.registry import Registry
        >>> class Dial:
        ...     '''Turns to a number.'''
        ...     name, label = "dial", "DIAL"
        ...     def __init__(self, stops: int = 12) -> None: ...
        >>> info = describe_component(Dial)
        >>> info.name, info.label, info.summary, info.undocumented
        ('dial', 'DIAL', 'Turns to a number.', ['stops'])
    """
    name = str(getattr(cls, "name", ""))
    return ComponentInfo(
        name=name,
        label=str(getattr(cls, "label", None) or name.upper()),
        summary=_summary(cls),
        qualname=f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', repr(cls))}",
        params=describe_params(cls),
    )


def describe_registry(entries: Mapping[str, Any]) -> dict[str, ComponentInfo]:
    """:func:`describe_component` of every entry of a registry (or any name → class mapping), by name."""
    return {name: describe_component(entries[name]) for name in sorted(entries)}
