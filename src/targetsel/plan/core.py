"""The plan of a selection run: per stage, its work, bytes, memory and time, before running it.

:func:`make_plan` counts the pool's tokens for real, reads the model's shapes from its config on
the ``meta`` device, times a few real examples through the representation itself (the
calibration of this machine), and turns the FLOP counts of :mod:`targetsel.plan.costs` into
seconds here and GPU-hours on named GPUs (:func:`targetsel.plan.measure.gpu_throughput`).

Stages: ``warmup`` (LESS only: LoRA training on a seeded fraction of the pool, one checkpoint per
epoch), ``encode`` (features of the pool, and of the query set when one is given, per checkpoint),
``score`` (queries × candidates, per checkpoint) and ``select`` (one pass over the scores).

The pieces: :mod:`targetsel.plan.stages` (the :class:`Plan` and :class:`Stage` records and the
shared stages), :mod:`targetsel.plan.calibrate` (timing on this machine), the per-representation
planners in :mod:`targetsel.plan.lm` (gradient, hidden) and :mod:`targetsel.plan.encoders` (embed,
lexical), and :mod:`targetsel.plan.units` (human-readable figures).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.plan.measure import gpu_throughput
from targetsel.plan.request import Planner, PlanRequest, planner_of
from targetsel.plan.stages import PLAN_SETTINGS, Plan, Stage
from targetsel.plan.units import human_bytes, human_seconds

logger = logging.getLogger(__name__)

__all__ = [
    "PLAN_SETTINGS",
    "Plan",
    "PlanRequest",
    "Stage",
    "human_bytes",
    "human_seconds",
    "make_plan",
    "plan_params",
]


def plan_params(representation: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` checked as ``encode -p`` checks them, for the plan of ``representation``.

    Every name must be a parameter of the representation
    (:func:`~targetsel.params.validate_params`: unknown names and wrong types are one line each),
    except the plan settings :data:`~targetsel.plan.stages.PLAN_SETTINGS` (what ``--dim``,
    ``--batch-size``, ``--max-length`` and ``--feature-dtype`` set), which every plan takes: a
    representation without that parameter (``lexical`` has no batch size) leaves it unused.
    Parameters the planner does not model (``seed``, ``projector``) are logged as unused.

    Raises:
        ConfigurationError: an unknown representation or parameter, or a value of the wrong type.

    Example:
        >>> plan_params("lexical", {"dim": 64, "batch_size": 8})
        {'dim': 64, 'batch_size': 8}
        >>> plan_params("lexical", {"dims": 64})
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: bad parameters for representation 'lexical': unknown parameter 'dims'; ...
    """
    return _checked_params(representation, params, planner_of(representation))


def _checked_params(representation: str, params: Mapping[str, Any] | None, planner: Planner) -> dict[str, Any]:
    from targetsel.params import validate_params
    from targetsel.represent.base import REPRESENTATIONS

    cls = REPRESENTATIONS.get(representation)
    what = f"representation {representation!r}"
    own = set(inspect.signature(cls).parameters)
    given = dict(params or {})
    unused = {k: given.pop(k) for k in PLAN_SETTINGS if k in given and k not in own}
    for name, value in unused.items():
        if name != "feature_dtype" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigurationError(f"bad parameters for {what}: {name} must be an integer, got {value!r}")
    checked = validate_params(cls, given, what=what)
    ignored = sorted(k for k in checked if k not in planner.modelled)
    if ignored:
        logger.warning("plan: %s not modelled by the %s plan; left out", ", ".join(ignored), representation)
    return {**checked, **unused}


def make_plan(
    pool: ExampleSet,
    request: PlanRequest | None = None,
    *,
    query: ExampleSet | None = None,
    **settings: Any,
) -> Plan:
    """Plan warmup, encode, score and select for ``pool``, as ``request`` (or ``settings``) asks.

    Args:
        pool: The candidate pool (every row is tokenised).
        request: What to plan (:class:`PlanRequest`); or give its fields as keywords
            (``representation="lexical", params={"dim": 64}``).
        query: The query set (tokenised and its encode planned too), or ``None``: the request's
            ``num_queries`` queries are assumed for scoring only.

    ``params`` unset take the representation's defaults, except the batch size and maximum length of
    the ``gradient`` and ``hidden`` plans (:data:`~targetsel.plan.stages.PLAN_DEFAULTS`).
    ``gradient`` plans its LoRA adapter from ``lora_r``, ``lora_alpha`` and ``target_modules``
    (:class:`~targetsel.lora.LoraSettings`; default LESS's). With ``calibrate=0`` the model passes
    are assumed to run at 0.4 of a float32 matmul measured here.

    Raises:
        ConfigurationError: an unknown representation, parameter or GPU, or a setting out of range.

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> from targetsel.data import load_pool
        >>> p = make_plan(load_pool(demo_pool_path()).select(range(10)), representation="lexical",
        ...               params={"dim": 64}, calibrate=2)
        >>> p.examples, p.store_bytes["float32"]
        (10, 2688)
    """
    if request is not None and settings:
        raise TypeError("make_plan: give a PlanRequest or its fields as keywords, not both")
    try:
        request = request or PlanRequest(**settings)
    except TypeError as exc:  # an unknown keyword: the message names it
        raise TypeError(f"make_plan: {exc}") from None
    planner = planner_of(request.representation)
    request = replace(request, params=_checked_params(request.representation, request.params, planner))
    request.check(len(pool))
    thr = gpu_throughput(request.gpu, mfu=request.mfu, peak_tflops=request.peak_tflops, bench=request.bench)
    return planner(pool, query, request, thr)
