"""The sections of an experiment config: representations, algorithms, tasks, quantile, mixture, diagnose.

Each is a pydantic model (:class:`targetsel.params.Section`: strict types, unknown keys named)
that validates itself on load, so a mistake fails before hours of other cells: a representation's
or algorithm's ``params`` are checked against its class, task files must exist. A bare string is
a section with only its ``name`` (``- lexical``). :mod:`targetsel.experiment.config` assembles them.

Example:
    >>> [AlgorithmSpec.parse(a).display for a in ("round_robin", {"name": "uot", "label": "OT"})]
    ['RR', 'OT']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator, model_validator

from targetsel.errors import ConfigurationError, TargetselError
from targetsel.params import (
    FieldError,
    Flag,
    NonNegativeInt,
    PositiveInt,
    Section,
    base_folder,
    described,
    resolve_path,
    text,
    validate_model,
    validate_params,
)

if TYPE_CHECKING:
    from targetsel.decontaminate import DecontaminationSettings
    from targetsel.registry import Registry
    from targetsel.represent.base import Representation
    from targetsel.select.mixture import MixSettings

__all__ = [
    "AlgorithmSpec",
    "DecontaminateSpec",
    "DiagnoseSpec",
    "MixtureSpec",
    "QuantileSpec",
    "RepresentationSpec",
    "TaskSpec",
    "algorithm_label",
    "method_label",
    "path_or_data",
    "representation_label",
]


def _label_of(registry: Registry[Any], name: str) -> str:
    """The ``label`` class attribute of the entry registered as ``name``; ``name`` upper-cased otherwise."""
    if name not in registry:  # a method of an older results file, or a plugin not loaded
        return name.upper()
    return getattr(registry[name], "label", None) or name.upper()


def representation_label(name: str) -> str:
    """The registered representation's ``label`` (``gradient`` → ``LESS``); an unknown name upper-cased.

    Example:
        >>> representation_label("hidden"), representation_label("bm25")
        ('RDS+', 'BM25')
    """
    import targetsel.represent  # noqa: F401  (registers the built-ins)
    from targetsel.represent.base import REPRESENTATIONS

    return _label_of(REPRESENTATIONS, name)


def algorithm_label(name: str) -> str:
    """The registered selector's ``label`` (``round_robin`` → ``RR``); an unknown name upper-cased.

    Example:
        >>> algorithm_label("knn_uniform"), algorithm_label("quantiles")
        ('KNN-U', 'RR')
    """
    import targetsel.select  # noqa: F401  (registers the built-ins)
    from targetsel.select.base import SELECTORS

    return _label_of(SELECTORS, name)


def method_label(representation: str, algorithm: str) -> str:
    """``REPR (ALGO)`` as in the paper, from the classes' ``label`` attributes.

    Example:
        >>> method_label("gradient", "round_robin"), method_label("hidden", "doubly_greedy")
        ('LESS (RR)', 'RDS+ (DG)')
    """
    return f"{representation_label(representation)} ({algorithm_label(algorithm)})"


if TYPE_CHECKING:  # the validated type below is built at run time; to mypy it is a string
    _TaskName = str
else:
    _TaskName = text("must be a non-empty string")
_PathText = Annotated[str | None, described("must be a path string, got {got}")]


class _Warmup(BaseModel):
    """A warmup mapping: ``fraction``, ``seed``, and (the extra keys) LESS warmup training settings."""

    model_config = ConfigDict(extra="allow", strict=True)
    fraction: Annotated[float, Strict(), Field(gt=0, le=1), described("must be in (0, 1], got {got}")] = 0.05
    seed: Annotated[int, Strict(), described("must be an integer, got {got}")] = 0


class RepresentationSpec(Section):
    """One representation of the grid: registry ``name``, its ``params``, optional display ``label``.

    ``params`` are checked against the representation's ``__init__`` on load. ``warmup``
    (``gradient`` only, when ``params`` name no ``checkpoints``): the LESS warmup the harness runs
    once on the experiment's pool before encoding, cached in ``OUT/warmup/``: ``fraction``
    (default 0.05), ``seed`` (default 0) and overrides of LESS's warmup training settings
    (:data:`targetsel.train.LESS_WARMUP`: r=128, alpha=512, 4 epochs, lr 2e-5, ...).

    Example:
        >>> RepresentationSpec.parse({"name": "lexical", "params": {"dim": 64}}).build().dim
        64
    """

    _shorthand = "name"
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    warmup: Annotated[dict[str, Any] | None, described("must be a mapping (fraction, seed, training settings)")] = None

    @field_validator("name", mode="before")
    @classmethod
    def _registered(cls, value: Any) -> Any:
        import targetsel.represent  # noqa: F401  (registers the built-ins)
        from targetsel.represent.base import REPRESENTATIONS

        try:
            REPRESENTATIONS.get(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RepresentationSpec:
        from targetsel.represent.base import REPRESENTATIONS

        if self.warmup is not None:
            if self.name != "gradient":
                raise FieldError("warmup", "only the gradient representation has a warmup")
            if "checkpoints" in self.params:
                raise ValueError("give params.checkpoints or warmup, not both")
            self.warmup_config()  # validates the settings now, not after hours of other cells
        try:
            self.params = validate_params(
                REPRESENTATIONS.get(self.name), self.params, what=f"representation {self.name!r}"
            )
        except ConfigurationError as exc:
            raise FieldError("params", str(exc)) from None
        return self

    @property
    def needs_warmup(self) -> bool:
        """A gradient representation without checkpoints: the harness runs LESS's warmup for it."""
        return self.name == "gradient" and "checkpoints" not in self.params

    def warmup_config(self) -> tuple[float, int, Any]:
        """``(fraction, seed, TrainConfig)`` of this representation's warmup."""
        from dataclasses import replace

        from targetsel.train import LESS_WARMUP

        warm = validate_model(_Warmup, self.warmup or {}, prefix="warmup")
        opts = dict(warm.model_extra or {})
        try:
            cfg = replace(LESS_WARMUP, **opts)
        except TypeError as exc:
            raise ConfigurationError(f"warmup: unknown training setting(s) in {sorted(opts)}: {exc}") from exc
        return float(warm.fraction), warm.seed, cfg

    @property
    def display(self) -> str:
        """The ``label:`` given, else the representation's own (``LESS``)."""
        return self.label or representation_label(self.name)

    def build(self, **extra: Any) -> Representation:
        """Instantiate the representation (``extra`` params, e.g. warmup ``checkpoints``, added)."""
        from targetsel.represent.base import get_representation

        try:
            return get_representation(self.name, **self.params, **extra)
        except TypeError as exc:
            raise ConfigurationError(f"representation {self.name!r}: bad params {self.params}: {exc}") from exc


class AlgorithmSpec(Section):
    """One selection algorithm of the grid: registry ``name``, ``params``, optional ``label``.

    The selector is built once on load, so unknown names and bad parameters fail then.

    Example:
        >>> AlgorithmSpec.parse({"name": "uot", "params": {"reg_m_query": "inf"}}).params
        {'reg_m_query': inf}
    """

    _shorthand = "name"
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _grid_algorithm(cls, value: Any) -> Any:
        if value in ("random", "quantiles"):
            raise ValueError(
                f"{value!r} is not a grid algorithm (random is always added; quantiles is `grid: quantile`)"
            )
        return value

    @model_validator(mode="after")
    def _buildable(self) -> AlgorithmSpec:
        import targetsel.select  # noqa: F401  (registers the built-ins)
        from targetsel.select.base import SELECTORS, get_selector

        if self.name in SELECTORS:
            self.params = validate_params(SELECTORS[self.name], self.params, what=f"method {self.name!r}")
        get_selector(self.name, **self.params)  # unknown names and the selector's own checks
        return self

    @property
    def display(self) -> str:
        """The ``label:`` given, else the selector's own (``RR``)."""
        return self.label or algorithm_label(self.name)


def path_or_data(value: Any, info: ValidationInfo, field: str = "") -> str:
    """:func:`~targetsel.params.resolve_path`, or the cached file of a registered data name
    (``evals-mix``, ``gsm8k``, ``gsm8k:test``) when no local path of that name exists (a local path wins).

    Example:
        >>> from types import SimpleNamespace
        >>> path_or_data("nowhere.jsonl", SimpleNamespace(context=None))
        Traceback (most recent call last):
        ...
        targetsel.params.fields.FieldError: ... does not exist
    """
    from targetsel.data.real import is_data_name, resolve_data

    if isinstance(value, str) and is_data_name(value.strip()):
        local = Path(os.path.expanduser(value))
        if not (local if local.is_absolute() else base_folder(info) / local).exists():
            try:
                return str(resolve_data(value.strip()))
            except TargetselError as exc:
                raise FieldError(field, str(exc), type(exc)) from None
    return resolve_path(value, info, field)


class TaskSpec(Section):
    """A target task: its query set (``dev``), optional held-out ``test`` split, answer format.

    ``query``/``test`` are file paths (relative to the config), ``demo`` for the bundled demo
    task of the same ``name`` (``math``, ``dates``, ``humaneval``), or a fetched data name
    (``gsm8k`` = its dev split, ``gsm8k:test``; ``targetsel data fetch``). A task named after a
    fetched target (``gsm8k``, other than the demo tasks) defaults to its dev and test splits; a
    ``query`` that is a data name brings its ``test`` split and answer format unless they are
    given. After validation both are absolute paths (``query`` always set).

    Example:
        >>> TaskSpec.parse("math").query.endswith("dev.jsonl")
        True
    """

    _shorthand = "name"
    name: _TaskName
    query: _PathText = None
    test: _PathText = None
    answer_format: str | None = None

    @field_validator("answer_format", mode="before")
    @classmethod
    def _known_format(cls, value: Any) -> Any:
        from targetsel.evaluate.answers import ANSWER_FORMATS

        if value is not None and value not in ANSWER_FORMATS:
            raise ValueError(f"must be one of {', '.join(ANSWER_FORMATS)}")
        return value

    @model_validator(mode="after")
    def _files(self, info: ValidationInfo) -> TaskSpec:
        from targetsel.data.real import DATASETS, is_data_name
        from targetsel.data.real.base import parse_variant
        from targetsel.demo import DEMO_TASKS, demo_query_path

        if self.query is None:
            if self.name in DEMO_TASKS:
                self.query = "demo"
                if "test" not in self.model_fields_set:
                    self.test = "demo"
            elif self.name in DATASETS and DATASETS[self.name].kind == "target":
                self.query = self.name
            else:
                raise ValueError(
                    f"task {self.name!r} needs `query:` (a file or a fetched data name); only "
                    f"{', '.join(DEMO_TASKS)} default to demo data"
                )
        named = self.query != "demo" and ":" not in self.query and is_data_name(self.query)
        if named and not (base_folder(info) / os.path.expanduser(self.query)).exists():
            spec = parse_variant(self.query)[0]  # type: ignore[index]  # not None: is_data_name parsed it
            if "test" not in self.model_fields_set and spec.kind == "target":
                self.test = f"{self.query}:test"
            if self.answer_format is None:
                self.answer_format = spec.answer_format
        for key, split in (("query", "dev"), ("test", "test")):
            value = getattr(self, key)
            if value == "demo":
                setattr(self, key, str(demo_query_path(self.name, split)))
            elif value is not None:
                setattr(self, key, path_or_data(value, info, key))
        return self


class QuantileSpec(Section):
    """The quantile experiment: cut the RR order of the pool into ``bins`` quantiles, take ``per_bin`` of each.

    Example:
        >>> QuantileSpec.parse({"bins": 4}).per_bin, QuantileSpec.parse(None).bins
        (100, 5)
    """

    _none_is_default = True
    bins: PositiveInt = 5
    per_bin: PositiveInt = 100
    focus: Flag = False

    @field_validator("bins")
    @classmethod
    def _correlation(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"must be at least 2 for a correlation, got {value}")
        return value


_MixText = Annotated[
    str, Strict(), described("must be equal, proportional, joint or weights:NAME=W,... (as --mix), got {got}")
]


class MixtureSpec(Section):
    """The mixture grid (``grid: mixture``): how the tasks' query sets share each budget.

    ``mix`` takes what ``targetsel select --mix`` takes: ``equal``, ``proportional`` (to query-set
    size), ``joint`` (the union of the query sets ranked as one) or ``weights:NAME=W,...`` (a weight
    for every task). That the weights name the config's tasks is checked with the whole config.

    Example:
        >>> MixtureSpec.parse({"mix": "weights:math=2,dates=1"}).settings().weights
        {'math': 2.0, 'dates': 1.0}
        >>> MixtureSpec.parse({"mix": "half"}, "mixture")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: mixture.mix must be one of equal, proportional, weights, joint ...
    """

    _none_is_default = True
    mix: _MixText = "equal"

    @field_validator("mix")
    @classmethod
    def _parses(cls, value: str) -> str:
        from targetsel.select.mixture import MixSettings

        try:
            MixSettings.parse(value)
        except ConfigurationError as exc:  # its words name the CLI flag; here the field is named
            raise ValueError(str(exc).replace("--mix ", "")) from None
        return value

    def settings(self) -> MixSettings:
        """The :class:`~targetsel.select.mixture.MixSettings` of ``mix``."""
        from targetsel.select.mixture import MixSettings

        return MixSettings.parse(self.mix)


class DecontaminateSpec(Section):
    """How every task's pool is decontaminated: the pool rows whose word n-grams overlap the task's
    query or test items (:mod:`targetsel.decontaminate`) are left out of every cell of the task,
    random included. ``decontaminate: false`` keeps them (e.g. to measure what leaking does).

    Example:
        >>> DecontaminateSpec.parse(False).settings() is None, DecontaminateSpec.parse({"ngram": 8}).settings().ngram
        (True, 8)
    """

    _none_is_default = True
    enabled: Flag = True
    ngram: PositiveInt = 13
    min_words: NonNegativeInt = 8
    template_items: NonNegativeInt = 5
    answers: Flag = True

    @model_validator(mode="before")
    @classmethod
    def _switch(cls, data: Any) -> Any:
        if isinstance(data, bool):
            return {"enabled": data}
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"must be true, false or a mapping of n-gram settings, got {data!r}")
        return data

    def settings(self) -> DecontaminationSettings | None:
        """The n-gram test's settings, ``None`` when off."""
        from targetsel.decontaminate import DecontaminationSettings

        if not self.enabled:
            return None
        return DecontaminationSettings(**self.model_dump(exclude={"enabled"}))

    def describe(self) -> dict[str, Any] | bool:
        """What a cell's digest records (``False`` when off)."""
        if not self.enabled:
            return False
        return self.model_dump(exclude={"enabled"})


class DiagnoseSpec(Section):
    """Per-cell diagnosis: subset–query distance in the cell's representation.

    Random cells (no representation of their own) are measured in ``representation`` (default:
    the grid's first one).

    Example:
        >>> DiagnoseSpec.parse({"exact_limit": 0}, "diagnose")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: diagnose.exact_limit must be a positive integer, got 0
    """

    _none_is_default = True
    enabled: Flag = True
    representation: str | None = None
    exact_limit: PositiveInt = 3000
