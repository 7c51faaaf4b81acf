"""targetsel.params: pydantic validation reported as one ConfigurationError line naming the field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pytest
from pydantic import BaseModel, Field, field_validator, model_validator

from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.params import (
    FieldError,
    Flag,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Section,
    field_path,
    one_of,
    resolve_path,
    validate_model,
    validate_params,
)


class Toy:
    """A class whose signature the validator reads."""

    def __init__(
        self,
        dim: int = 8,
        *,
        scale: float = 1.0,
        mode: Literal["a", "b"] = "a",
        model: str = "m",
        window: int | None = None,
        turns: int | str = 1,
        flag: bool = False,
        names: tuple[str, ...] = (),
        anything: Any = None,
    ) -> None:
        self.dim = dim


class NoInit:
    name = "plain"


def check(params: dict[str, Any]) -> dict[str, Any]:
    return validate_params(Toy, params, what="representation 'toy'")


# --------------------------------------------------------------------------------- validate_params
def test_valid_parameters_pass_unchanged() -> None:
    params = {"dim": 4, "scale": 2, "mode": "b", "window": None, "turns": "auto", "names": ["x"], "anything": object()}
    out = check(params)
    assert out == params and out is not params
    assert type(out["scale"]) is int  # no coercion: the class records what the user gave
    # numpy scalars and paths are checked as their Python equivalents, and passed on as given
    out = check({"dim": np.int64(3), "scale": np.float32(0.5), "model": Path("some/model")})
    assert isinstance(out["dim"], np.int64) and isinstance(out["model"], Path)


def test_unknown_parameter_names_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as err:
        check({"dims": 4})
    msg = str(err.value)
    assert msg == (
        "bad parameters for representation 'toy': unknown parameter 'dims'; "
        "valid parameters: anything, dim, flag, mode, model, names, scale, turns, window"
    )
    with pytest.raises(ConfigurationError, match=r"unknown parameters 'a', 'b';"):
        check({"b": 1, "a": 2, "dim": 3})
    with pytest.raises(ConfigurationError, match=r"^bad parameters for method 'plain': unknown parameter 'x'; "):
        validate_params(NoInit, {"x": 1}, what="method 'plain'")
    with pytest.raises(ConfigurationError, match="method 'plain' takes no parameters"):
        validate_params(NoInit, {"x": 1}, what="method 'plain'")
    assert validate_params(NoInit, {}, what="method 'plain'") == {}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"dim": "abc"}, "dim must be an integer, got 'abc'"),
        ({"dim": 4.0}, "dim must be an integer, got 4.0"),
        ({"dim": True}, "dim must be an integer, got True"),
        ({"scale": "fast"}, "scale must be a number, got 'fast'"),
        ({"scale": True}, "scale must be a number, got True"),
        ({"scale": "nan"}, "scale must be a number, got 'nan'"),
        ({"mode": "c"}, "mode must be one of 'a', 'b', got 'c'"),
        ({"model": 3}, "model must be a string, got 3"),
        ({"window": 0.5}, "window must be an integer or null, got 0.5"),
        ({"turns": 1.5}, "turns must be an integer or a string, got 1.5"),
        ({"flag": 1}, "flag must be true or false, got 1"),
        ({"names": "x"}, "names must be a list of strings, got 'x'"),
        ({"names": [1]}, "names must be a list of strings, got [1]"),
    ],
)
def test_wrong_type_names_the_parameter_and_the_expected_type(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        check(params)
    assert str(err.value) == f"bad parameters for representation 'toy': {expected}"
    assert "\n" not in str(err.value)


def test_number_text_is_read_as_a_number_only_for_number_parameters() -> None:
    out = check({"scale": "inf"})
    assert out["scale"] == math.inf and isinstance(out["scale"], float)
    assert check({"scale": "-inf"})["scale"] == -math.inf
    assert check({"scale": "1e-4"})["scale"] == 1e-4
    assert check({"scale": "Infinity"})["scale"] == math.inf
    assert check({"model": "inf"})["model"] == "inf"  # a string parameter keeps its text
    assert check({"turns": "1e3"})["turns"] == "1e3"  # int | str: a string is valid as it is
    assert check({"anything": "inf"})["anything"] == "inf"  # untyped: left alone
    with pytest.raises(ConfigurationError, match="dim must be an integer, got '3'"):
        check({"dim": "3"})  # only numbers parse from text, integers are not guessed


def test_signatures_of_the_builtin_classes_are_all_checkable() -> None:
    import targetsel.represent  # noqa: F401
    from targetsel.params import read_signature
    from targetsel.represent.base import REPRESENTATIONS
    from targetsel.select import SELECTORS

    for cls in [*REPRESENTATIONS.items(), *SELECTORS.items()]:
        sig = read_signature(cls[1])
        assert set(sig.adapters) == set(sig.names), cls  # every parameter has a type pydantic checks
        assert not sig.any_keyword, cls


# ---------------------------------------------------------------------------------- validate_model
class Quantile(Section):
    _none_is_default = True
    bins: PositiveInt = 5
    seed: NonNegativeInt = 0
    rate: PositiveFloat = 1.0
    focus: Flag = False

    @field_validator("bins")
    @classmethod
    def _two(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"must be at least 2 for a correlation, got {value}")
        return value


class Item(Section):
    _shorthand = "name"
    name: str
    size: PositiveInt = 1


class Doc(Section):
    model: str
    grid: Annotated[str, Field()] = "budget"
    kind: one_of("budget", "quantile") = "budget"  # type: ignore[valid-type]
    items: list[Item] = Field(default_factory=list)
    budgets: list[PositiveInt] = Field(default_factory=list)
    quantile: Quantile = Field(default_factory=Quantile)
    data: str | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _exists(cls, value: Any, info: Any) -> Any:
        return None if value is None else resolve_path(value, info)

    @model_validator(mode="after")
    def _cross(self) -> Doc:
        if self.kind == "quantile" and not self.items:
            raise FieldError("items", "the quantile kind needs at least one item")
        if self.model == "forbidden":
            raise ConfigurationError("model 'forbidden' is reserved")  # complete messages pass through
        return self


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": "m", "quantile": {"bins": 0}}, "quantile.bins must be a positive integer, got 0"),
        ({"model": "m", "quantile": {"bins": True}}, "quantile.bins must be a positive integer, got True"),
        ({"model": "m", "quantile": {"bins": 1}}, "quantile.bins must be at least 2 for a correlation, got 1"),
        ({"model": "m", "quantile": {"seed": -1}}, "quantile.seed must be a non-negative integer, got -1"),
        ({"model": "m", "quantile": {"rate": 0}}, "quantile.rate must be a positive number, got 0"),
        ({"model": "m", "quantile": {"focus": "yes"}}, "quantile.focus must be true or false"),
        (
            {"model": "m", "quantile": {"bin": 3}},
            "quantile: unknown key(s) ['bin']; valid keys: bins, focus, rate, seed",
        ),
        ({"model": "m", "quantile": 3}, "quantile: expected a mapping, got int"),
        ({"model": "m", "budgets": [5, 0]}, "budgets[1] must be a positive integer, got 0"),
        ({"model": "m", "budgets": 5}, "budgets must be a list"),
        ({"model": "m", "items": ["a", {"name": "b", "size": 0}]}, "items[1].size must be a positive integer, got 0"),
        ({"model": "m", "items": [{"size": 2}]}, "items[0]: missing required key 'name'"),
        ({"model": "m", "kind": "cube"}, "kind must be one of budget, quantile, got 'cube'"),
        ({"model": "m", "kind": "quantile"}, "items: the quantile kind needs at least one item"),
        ({"model": "forbidden"}, "model 'forbidden' is reserved"),
        ({"model": 3}, "model must be a string"),
        ({"budgets": [0]}, "config: missing required key 'model'"),  # a missing key is reported first
        ({"model": "m", "typo": 1}, "config: unknown key(s) ['typo']; valid keys: budgets, data, grid, items, "),
        ([1], "config: expected a mapping, got list"),
    ],
)
def test_model_errors_are_one_line_with_the_dotted_field(data: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        validate_model(Doc, data)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_prefix_context_shorthand_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^grid\.quantile\.bins must be a positive integer"):
        validate_model(Doc, {"model": "m", "quantile": {"bins": 0}}, prefix="grid")
    assert Quantile.parse(None).bins == 5 and Item.parse("x").name == "x"
    (tmp_path / "pool.jsonl").write_text("{}\n")
    doc = validate_model(Doc, {"model": "m", "data": "pool.jsonl"}, context={"base": tmp_path})
    assert doc.data == str(tmp_path / "pool.jsonl")
    with pytest.raises(MissingArtifactError, match=r"^data: .*nowhere\.jsonl does not exist$"):
        validate_model(Doc, {"model": "m", "data": "nowhere.jsonl"}, context={"base": tmp_path})
    with pytest.raises(ConfigurationError, match=r"^data must be a path string, got ''$"):
        validate_model(Doc, {"model": "m", "data": ""})


def test_field_path() -> None:
    assert field_path("tasks", 0, "name") == "tasks[0].name"
    assert field_path("", "model") == "model" and field_path() == ""
    assert field_path("representations[1]", "params") == "representations[1].params"


def test_plain_pydantic_models_work_too() -> None:
    class Plain(BaseModel):
        n: PositiveInt

    assert validate_model(Plain, {"n": 2}).n == 2
    with pytest.raises(ConfigurationError, match=r"^n must be a positive integer, got 0$"):
        validate_model(Plain, {"n": 0})
