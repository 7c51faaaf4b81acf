"""What a plan is asked for: one typed :class:`PlanRequest`, and how planners are found.

A representation names its planner (``planner = "targetsel.plan.lm:plan_gradient"`` on the class,
a ``module:function`` reference resolved on use, so ``represent`` does not import ``plan``). A
planner is a function ``(pool, query, request, throughput) -> Plan`` marked with
:func:`modelled`, which says which of the representation's parameters its cost model reads.
A third-party representation plans the same way: its file holds the class and its planner.

Example:
    >>> req = PlanRequest(representation="lexical", params={"dim": 64}, calibrate=0)
    >>> req.checkpoints, req.views, planner_of("lexical").modelled[:2]
    (4, 1, ('dim', 'ngram'))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from targetsel.errors import ConfigurationError

if TYPE_CHECKING:
    from targetsel.plan.stages import Plan

__all__ = ["PlanRequest", "Planner", "modelled", "plan_representations", "planner_of"]


class Planner(Protocol):
    """``(pool, query, request, throughput) -> Plan``, with a ``modelled`` tuple of parameter names."""

    modelled: tuple[str, ...]

    def __call__(self, pool: Any, query: Any, request: PlanRequest, throughput: Any, /) -> Plan: ...


def modelled(*names: str) -> Callable[[Callable[..., Any]], Planner]:
    """Mark a planner with the representation parameters its cost model reads (others are logged unused).

    Example:
        >>> @modelled("dim")
        ... def plan_mine(pool, query, request, thr): ...
        >>> plan_mine.modelled
        ('dim',)
    """

    def mark(fn: Callable[..., Any]) -> Planner:
        fn.modelled = tuple(names)  # type: ignore[attr-defined]  # what makes fn a Planner (cast below)
        return cast(Planner, fn)

    return mark


def plan_representations() -> tuple[str, ...]:
    """Names of the registered representations that declare a planner, in registry order.

    Example:
        >>> plan_representations()
        ('embed', 'gradient', 'hidden', 'lexical')
    """
    import targetsel.represent  # noqa: F401  (registers the built-in representations)
    from targetsel.represent.base import REPRESENTATIONS

    return tuple(n for n in REPRESENTATIONS.names() if getattr(REPRESENTATIONS.get(n), "planner", None))


def planner_of(representation: str) -> Planner:
    """The planner function the representation declares.

    Raises:
        ConfigurationError: the representation is unknown or declares no planner.
    """
    if representation not in plan_representations():
        raise ConfigurationError(
            f"plan: representation must be one of {', '.join(plan_representations())}, got {representation!r}"
        )
    from targetsel.represent.base import REPRESENTATIONS

    module, _, func = str(REPRESENTATIONS.get(representation).planner).partition(":")
    return cast(Planner, getattr(importlib.import_module(module), func))


@dataclass(frozen=True)
class PlanRequest:
    """Everything a plan depends on besides the data: one object from the CLI to the planners.

    Attributes:
        representation: A representation that declares a planner (:func:`plan_representations`).
        model: Model name or path (default: the representation's).
        num_queries: Queries assumed for scoring when no query set is given.
        checkpoints: LESS warmup checkpoints (= warmup epochs; one store and one scoring pass each).
        params: The representation's parameters, as ``encode -p`` takes them (checked by
            :func:`targetsel.plan.plan_params`).
        shard_size: Rows per store shard, as the encode will run.
        warmup_fraction: Share of the pool the LESS warmup trains on.
        gpus, gpu, mfu, peak_tflops, bench: The named GPUs
            (:func:`targetsel.plan.measure.gpu_throughput`).
        calibrate: Examples timed through the representation on this machine (0: none).
    """

    representation: str = "gradient"
    model: str | None = None
    num_queries: int = 200
    checkpoints: int = 4
    params: dict[str, Any] = field(default_factory=dict)
    shard_size: int = 4096
    warmup_fraction: float = 0.05
    gpus: int = 1
    gpu: str = "h100"
    mfu: float | None = None
    peak_tflops: float | None = None
    bench: Path | None = None
    calibrate: int = 16

    @property
    def views(self) -> int:
        """Stores and scoring passes: the checkpoints for ``gradient``, else one."""
        return self.checkpoints if self.representation == "gradient" else 1

    def check(self, pool_rows: int) -> None:
        """Raise :class:`ConfigurationError` on the first setting out of range.

        Messages name the flag and the value as the user typed them.
        """
        from targetsel.store import check_feature_dtype

        params = self.params
        if "feature_dtype" in params:
            check_feature_dtype(params["feature_dtype"])
        positive = {
            "checkpoints": self.checkpoints,
            "batch_size": params.get("batch_size", 1),
            "shard_size": self.shard_size,
            "gpus": self.gpus,
            "num_queries": self.num_queries,
        }
        for name, value in positive.items():
            flag = f"--{name.replace('_', '-')}"
            if isinstance(value, bool) or not isinstance(value, int):  # ``batch_size=auto``: the plan needs a size
                raise ConfigurationError(f"plan: {flag} must be a positive integer, got {value!r}")
            if value <= 0:
                raise ConfigurationError(f"plan: {flag} must be positive, got {value}")
        max_length = params.get("max_length", 2)
        if max_length < 2:  # one prompt token and one token to predict, as tokenisation needs
            raise ConfigurationError(f"plan: --max-length must be at least 2, got {max_length}")
        if self.calibrate < 0:
            raise ConfigurationError(f"plan: --calibrate must be >= 0, got {self.calibrate}")
        if params.get("dim") is not None and params["dim"] <= 0:
            raise ConfigurationError(f"plan: --dim must be positive, got {params['dim']}")
        if pool_rows == 0:
            raise ConfigurationError("plan: the pool is empty")
