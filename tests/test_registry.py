"""The one registry helper: lookup by name, unknown names list the valid ones, duplicates rejected."""

from __future__ import annotations

import pytest

from targetsel.errors import ConfigurationError
from targetsel.registry import Registry
from targetsel.represent.base import REPRESENTATIONS, register_representation
from targetsel.represent.projection import PROJECTORS, register_projector


def _named(name: str, label: str = "Thing") -> type:
    return type(label, (), {"name": name})


def test_register_get_names_and_mapping_reads() -> None:
    reg: Registry[type] = Registry("widget")
    b, a = _named("b", "B"), _named("a", "A")
    assert reg.register(b) is b and reg.register(a) is a  # usable as a decorator: returns the class
    assert reg.get("a") is a and reg["b"] is b
    assert reg.names() == ["a", "b"] and sorted(reg) == ["a", "b"] and len(reg) == 2
    assert "a" in reg and "c" not in reg and ["unhashable"] not in reg
    assert reg.items() == [("a", a), ("b", b)]
    assert reg.register(a) is a and len(reg) == 2  # the same class again: no-op
    with pytest.raises(KeyError):
        reg["c"]


def test_unknown_name_lists_the_valid_ones() -> None:
    reg: Registry[type] = Registry("widget")
    reg.register(_named("knob"))
    reg.register(_named("dial"))
    with pytest.raises(ConfigurationError, match=r"^unknown widget 'lever'; choose one of dial, knob$"):
        reg.get("lever")
    with pytest.raises(ConfigurationError, match="unknown widget"):
        reg.get(["not", "hashable"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"choose one of \(none registered\)"):
        Registry("gadget").get("x")


def test_duplicate_name_is_rejected_and_the_first_kept() -> None:
    reg: Registry[type] = Registry("selector")
    first = reg.register(_named("rr", "RoundRobin"))
    with pytest.raises(ConfigurationError, match=r"selector name 'rr' is registered twice \(RoundRobin and Other\)"):
        reg.register(_named("rr", "Other"))
    assert reg.get("rr") is first
    with pytest.raises(ConfigurationError, match="needs a non-empty string `name`"):
        reg.register(type("Nameless", (), {}))


def test_unregister_and_registered_remove_an_entry_cleanly() -> None:
    reg: Registry[type] = Registry("selector")
    a, b = _named("a", "A"), _named("b", "B")
    reg.register(a)
    assert reg.unregister("a") is a and "a" not in reg and len(reg) == 0
    with pytest.raises(ConfigurationError, match=r"^unknown selector 'a'; choose one of \(none registered\)$"):
        reg.unregister("a")
    with reg.registered(b) as held:
        assert held is b and reg.names() == ["b"]
    assert reg.names() == []
    with pytest.raises(RuntimeError), reg.registered(b):  # removed on the way out of an error too
        raise RuntimeError("boom")
    assert "b" not in reg
    reg.register(a)
    with reg.registered(a):  # registered before the block: still registered after it
        pass
    assert reg.get("a") is a
    with pytest.raises(ConfigurationError, match="registered twice"), reg.registered(_named("a", "Other")):
        pass
    assert reg.get("a") is a  # a clash leaves the first entry where it was


def test_representations_and_projectors_use_it() -> None:
    import targetsel.represent  # noqa: F401  (registers the built-ins)

    assert isinstance(REPRESENTATIONS, Registry) and isinstance(PROJECTORS, Registry)
    assert REPRESENTATIONS.names() == ["embed", "gradient", "hidden", "lexical"]
    assert PROJECTORS.names() == ["dense", "sparse"]
    lexical, sparse = REPRESENTATIONS["lexical"], PROJECTORS["sparse"]
    with pytest.raises(ConfigurationError, match="representation name 'lexical' is registered twice"):
        register_representation(_named("lexical", "MyLexical"))
    with pytest.raises(ConfigurationError, match="projector name 'sparse' is registered twice"):
        register_projector(_named("sparse", "MySparse"))
    assert REPRESENTATIONS["lexical"] is lexical and PROJECTORS["sparse"] is sparse
    assert register_representation(lexical) is lexical  # re-registering the same class is fine


def test_factories_name_the_valid_choices() -> None:
    from targetsel.represent import get_projector, get_representation

    with pytest.raises(ConfigurationError, match="unknown representation 'nope'; choose one of embed, gradient"):
        get_representation("nope")
    with pytest.raises(ConfigurationError, match="unknown projector 'nope'; choose one of dense, sparse"):
        get_projector("nope", dim=8)
