"""Adding a representation with its cost model touches one file: the class names its planner.

The toy representation below is registered, planned and validated with nothing else changed:
``plan_representations`` lists it, ``targetsel plan``'s parameter checks read its signature, and
its planner is found from the ``module:function`` reference on the class.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from targetsel.data import ExampleSet, load_pool
from targetsel.demo import demo_pool_path
from targetsel.errors import ConfigurationError
from targetsel.plan import PlanRequest, make_plan, modelled, plan_representations
from targetsel.plan.stages import Plan, Work, finish_plan
from targetsel.represent.base import REPRESENTATIONS
from targetsel.represent.lexical import LexicalRepresentation


class CharRepresentation(LexicalRepresentation):
    """Character counts in ``dim`` buckets (a toy): the lexical encoder with another name and planner."""

    name = "toy-chars"
    planner = f"{__name__}:plan_chars"

    def __init__(self, dim: int = 32, scale: float = 1.0) -> None:
        super().__init__(dim=dim)
        self.scale = scale


@modelled("dim")
def plan_chars(pool: ExampleSet, query: ExampleSet | None, request: PlanRequest, thr: dict[str, Any]) -> Plan:
    chars = np.array([len(str(pool.messages(i))) for i in range(len(pool))], dtype=np.int64)
    work = Work(chars, np.zeros_like(chars), chars.astype(np.float64), np.zeros(len(chars)))
    cal = {"rate": 1e7, "load_seconds": 0.0, "source": "assumed", "unit": "char"}
    return finish_plan(
        "toy-chars", None, pool, work, None, request=request, params=0, lora_params=0,
        dim=request.params.get("dim", 32), feature_dtype="float32", views=1, cal=cal, thr=thr,
        vram=None, ram=None, warmup=None, settings={"shard_size": request.shard_size},
    )  # fmt: skip


@pytest.fixture
def toy() -> Iterator[None]:
    REPRESENTATIONS.register(CharRepresentation)
    try:
        yield
    finally:
        REPRESENTATIONS._entries.pop(CharRepresentation.name)


def test_a_new_representation_plans_through_its_own_file(toy: None) -> None:
    assert "toy-chars" in plan_representations()
    pool = load_pool(demo_pool_path()).select(range(12))
    plan = make_plan(pool, representation="toy-chars", params={"dim": 16}, shard_size=8)
    assert (plan.representation, plan.examples, plan.dim) == ("toy-chars", 12, 16)
    assert [s.name for s in plan.stages] == ["encode", "score", "select"]
    assert plan.store_bytes["float32"] > 12 * 16 * 4  # two shards of 16-wide float32 rows, with headers
    with pytest.raises(ConfigurationError, match="unknown parameter 'dims'"):
        make_plan(pool, representation="toy-chars", params={"dims": 16})
    with pytest.raises(ConfigurationError, match="scale must be"):
        make_plan(pool, representation="toy-chars", params={"scale": "big"})


def test_a_representation_without_a_planner_is_not_plannable(toy: None) -> None:
    pool = load_pool(demo_pool_path()).select(range(4))
    CharRepresentation.planner = None
    try:
        assert "toy-chars" not in plan_representations()
        with pytest.raises(ConfigurationError, match=r"plan: representation must be one of .*got .toy-chars."):
            make_plan(pool, representation="toy-chars")
    finally:
        CharRepresentation.planner = f"{__name__}:plan_chars"


def test_a_request_and_keywords_are_one_or_the_other() -> None:
    pool = load_pool(demo_pool_path()).select(range(4))
    with pytest.raises(TypeError, match="not both"):
        make_plan(pool, PlanRequest(representation="lexical"), calibrate=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dims'"):
        make_plan(pool, dims=3)
    plan = make_plan(pool, PlanRequest(representation="lexical", params={"dim": 8}, calibrate=0))
    same = make_plan(pool, representation="lexical", params={"dim": 8}, calibrate=0)
    assert (plan.store_bytes, plan.tokens, plan.settings) == (same.store_bytes, same.tokens, same.settings)
