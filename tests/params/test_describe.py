"""targetsel.params.describe: parameter rows read from a class's signature and its docstring's Args."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from targetsel.params import read_signature
from targetsel.params.describe import (
    REQUIRED,
    compact_params,
    describe_component,
    describe_params,
    describe_registry,
    docstring_args,
    format_value,
)


class Base:
    """A base class.

    Args:
        dim: Output dimension.
        seed: Random seed.
    """

    name = "base"
    label = "BASE"

    def __init__(self, dim: int = 8, seed: int = 0) -> None:
        self.dim, self.seed = dim, seed


class Child(Base):
    """A child that documents one parameter again and adds two, one without help.

    More text that is not the summary.
    """

    name = "child"

    def __init__(
        self, dim: int = 16, seed: int = 0, *, mode: Literal["a", "b"] = "a", extra: float | None = None
    ) -> None:
        """Build it.

        Args:
            dim: Width of the output
                (a power of two).
            mode (str): ``a`` or ``b`` (see :func:`~targetsel.params.describe.format_value`).
        """
        super().__init__(dim, seed)


def test_docstring_args_sections_continuations_and_grouped_names() -> None:
    doc = """Summary.

    Args:
        x: First line
            second line.
        lo, hi: Shared text.
        **options: Passed on.

    Raises:
        ValueError: not an argument.

    Example:
        >>> f(x)
    """
    assert docstring_args(doc) == {
        "x": "First line second line.",
        "lo": "Shared text.",
        "hi": "Shared text.",
        "options": "Passed on.",
    }
    assert docstring_args(None) == {} and docstring_args("No sections.") == {}
    assert docstring_args("Args:\n        y: On the first line.\n    ") == {"y": "On the first line."}
    # an Args section ended by text at the margin
    assert docstring_args("S.\n\n    Arguments:\n        z: Zed.\n    Then prose.\n        w: not an arg") == {
        "z": "Zed."
    }


def test_rows_follow_the_signature_and_inherit_help_from_bases() -> None:
    rows = {p.name: p for p in describe_params(Child)}
    assert list(rows) == list(read_signature(Child).names) == ["dim", "seed", "mode", "extra"]
    assert rows["dim"].help == "Width of the output (a power of two)." and rows["dim"].default == 16
    assert rows["seed"].help == "Random seed."  # documented on the base only
    assert rows["mode"].help == "a or b (see format_value)." and rows["mode"].type == "one of 'a', 'b'"
    assert rows["extra"].help == "" and rows["extra"].type == "a number or null"
    assert rows["extra"].shown_default == "null" and not rows["extra"].required
    info = describe_component(Child)
    assert (info.name, info.label, info.undocumented) == ("child", "BASE", ["extra"])
    assert info.summary == "A child that documents one parameter again and adds two, one without help."
    assert info.qualname.endswith("test_describe.Child")


def test_required_parameters_and_json_rows() -> None:
    class Needs:
        def __init__(self, path: str, ratio: float = float("inf"), names: tuple[str, ...] = ("a",)) -> None: ...

    rows = describe_params(Needs)
    assert rows[0].default is REQUIRED and rows[0].required and rows[0].shown_default == "required"
    dumped = json.loads(json.dumps([r.to_dict() for r in rows]))  # strict JSON: no Infinity
    assert [d["default"] for d in dumped] == [None, "inf", ["a"]]
    assert [d["required"] for d in dumped] == [True, False, False]
    assert rows[2].type == "a list of strings"
    assert compact_params(Needs) == 'path=required, ratio=inf, names=["a"]'


@pytest.mark.parametrize(
    ("value", "shown"),
    [("auto", "auto"), ("", '""'), (0.01, "0.01"), (float("-inf"), "-inf"), (False, "false"), (None, "null"), (3, "3")],
)
def test_defaults_are_shown_as_typed_after_key_equals(value: object, shown: str) -> None:
    assert format_value(value) == shown


#: Built-in parameters whose docstring has no help line (none: keep it so).
UNDOCUMENTED: set[tuple[str, str, str]] = set()


def test_every_builtin_component_has_a_label_and_documented_parameters() -> None:
    import targetsel.represent  # (registers the built-ins)
    import targetsel.select  # noqa: F401
    from targetsel.represent.base import REPRESENTATIONS
    from targetsel.represent.projection import PROJECTORS
    from targetsel.select.base import SELECTORS

    missing = set()
    for kind, registry in (("representation", REPRESENTATIONS), ("selector", SELECTORS), ("projector", PROJECTORS)):
        for name, info in describe_registry(registry).items():
            assert "label" in vars(registry[name]), (kind, name)  # its own, not a base's
            assert info.summary, (kind, name)
            missing |= {(kind, name, p) for p in info.undocumented}
    assert missing <= UNDOCUMENTED, (
        f"parameters without an Args: line in their docstring: {sorted(missing - UNDOCUMENTED)}"
    )
