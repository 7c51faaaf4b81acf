"""The experiment configuration: a YAML file loaded into validated pydantic models.

A config names one base model, one candidate pool, one or more target tasks, and the grid:
representations × algorithms × budgets × seeds (``grid: budget``), representations × distance
quantiles × seeds (``grid: quantile``), or, with two or more tasks trained together on one subset
selected for all of them, representations × algorithms × budgets × seeds (``grid: mixture``, its
``mixture: {mix: ...}`` as ``--mix``). Random and zero-shot baselines are always added. Relative
paths are resolved against the YAML file's folder; ``demo`` names the bundled demo data.

Example:
    >>> cfg = ExperimentConfig.from_dict({
    ...     "model": "smollm2-135m", "pool": "demo", "tasks": ["math"],
    ...     "representations": ["lexical"], "algorithms": ["round_robin"], "budgets": [20, 40]})
    >>> cfg.methods()
    ['LEXICAL (RR)']
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, Strict, ValidationInfo, field_validator, model_validator

from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.experiment.specs import (
    AlgorithmSpec,
    DecontaminateSpec,
    DiagnoseSpec,
    MixtureSpec,
    QuantileSpec,
    RepresentationSpec,
    TaskSpec,
    algorithm_label,
    method_label,
    path_or_data,
)
from targetsel.params import (
    FieldError,
    Flag,
    NonNegativeInt,
    PositiveInt,
    Section,
    base_folder,
    described,
    one_of,
    text,
    validate_model,
)

if TYPE_CHECKING:
    from targetsel.evaluate import EvalConfig
    from targetsel.select.mixture import MixSettings
    from targetsel.train import TrainConfig

__all__ = [
    "GRID_TYPES",
    "AlgorithmSpec",
    "DiagnoseSpec",
    "ExperimentConfig",
    "MixtureSpec",
    "QuantileSpec",
    "RepresentationSpec",
    "TaskSpec",
    "load_config",
    "method_label",
]

GRID_TYPES = ("budget", "quantile", "mixture")

#: The paper's fine-tuning setting (issue: 2 epochs, lr 2e-5, linear, 3% warmup, batch 128, wd 0).
PAPER_TRAIN = {
    "epochs": 2,
    "learning_rate": 2e-5,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.03,
    "effective_batch_size": 128,
    "weight_decay": 0.0,
}


def _unique(values: list[Any], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(what)


if TYPE_CHECKING:  # the validated types below are built at run time; to mypy they are strings
    _ModelName = str
    _Grid = str
else:
    _ModelName = text("must be a model folder, built-in name or hub name")
    _Grid = one_of(*GRID_TYPES)
_Seeds = Annotated[
    list[Annotated[int, Strict(), Field(ge=0)]],
    Field(min_length=1),
    described("must be a non-empty list of non-negative integers, got {got}"),
]
_Settings = Annotated[dict[str, Any], described("must be a mapping of settings")]


class ExperimentConfig(Section):
    """A validated experiment (build it with :meth:`from_dict` or :func:`load_config`).

    Attributes:
        name: Experiment name (used in the report title).
        model: Base model to fine-tune and evaluate (folder, built-in name or hub name).
        pool: Candidate pool path (``demo``: the bundled pool).
        pool_limit: Use a seeded random sample of this many pool rows (keeps CPU runs small).
        pool_seed: Seed of that sample.
        tasks: Target tasks.
        grid: ``budget``, ``quantile`` or ``mixture`` (every task's queries share one subset per
            cell; one model, evaluated on every task).
        representations: Representations of the grid.
        algorithms: Algorithms of the budget and mixture grids (the quantile grid uses round-robin).
        budgets: Budgets of the budget and mixture grids (sorted).
        seeds: Seeds (training seed, and random-selection seed).
        quantile: Quantile-grid settings.
        mixture: Mixture-grid settings (:class:`MixtureSpec`; only with ``grid: mixture``).
        train: :class:`targetsel.train.TrainConfig` overrides on top of the paper's setting.
        evaluate: :class:`targetsel.evaluate.EvalConfig` settings.
        diagnose: :class:`DiagnoseSpec`.
        output: Output folder (relative to the config; the CLI's ``--output`` wins).
        store_dir: Feature-store cache (default ``<output>/stores``).
        keep_models: Keep trained adapters/models in the cell folders (else delete after evaluation).
        decontaminate: :class:`DecontaminateSpec`: the n-gram test that removes each task's
            leaked rows from the pool (default on, 13-grams); ``false`` turns it off.

    Example:
        >>> ExperimentConfig.from_dict({"model": "m", "pool": "demo", "tasks": ["math"], "representations": ["embed"],
        ...                             "algorithms": ["round_robin"], "budgets": [10], "quantile": {"bins": 1}})
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: quantile.bins must be at least 2 for a correlation, got 1
    """

    model: _ModelName
    pool: str
    tasks: list[TaskSpec]
    representations: list[RepresentationSpec]
    name: str = "experiment"
    pool_limit: PositiveInt | None = None
    pool_seed: NonNegativeInt = 0
    grid: _Grid = "budget"
    algorithms: list[AlgorithmSpec] = Field(default_factory=list)
    budgets: list[PositiveInt] = Field(default_factory=list)
    seeds: _Seeds = Field(default_factory=lambda: [0])
    quantile: QuantileSpec = Field(default_factory=QuantileSpec)
    mixture: MixtureSpec | None = None
    train: _Settings = Field(default_factory=dict)
    evaluate: _Settings = Field(default_factory=dict)
    diagnose: DiagnoseSpec = Field(default_factory=DiagnoseSpec)
    output: str | None = None
    store_dir: str | None = None
    keep_models: Flag = True
    decontaminate: DecontaminateSpec = Field(default_factory=DecontaminateSpec)

    @classmethod
    def from_dict(cls, data: Any, *, base: str | os.PathLike[str] | None = None) -> ExperimentConfig:
        """Validate a parsed YAML mapping; relative paths resolve against ``base`` (default: cwd)."""
        return validate_model(cls, data, context={"base": Path(base) if base is not None else Path.cwd()})

    @field_validator("model")
    @classmethod
    def _local_model(cls, value: str, info: ValidationInfo) -> str:
        local = base_folder(info) / value
        return str(local) if not Path(value).is_absolute() and local.exists() else value

    @field_validator("pool", mode="before")
    @classmethod
    def _pool_file(cls, value: Any, info: ValidationInfo) -> Any:
        if value == "demo":
            from targetsel.demo import demo_pool_path

            return str(demo_pool_path())
        return path_or_data(value, info)

    @field_validator("name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return str(value)

    @field_validator("tasks", "representations", "algorithms", "budgets", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        return value or []

    @field_validator("train", "evaluate", mode="before")
    @classmethod
    def _empty_mapping(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("output", "store_dir")
    @classmethod
    def _folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        return str(base_folder(info) / value) if value else None

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[TaskSpec]) -> list[TaskSpec]:
        if not value:
            raise ValueError("give at least one target task")
        _unique([t.name for t in value], "task names must be unique")
        return value

    @field_validator("representations")
    @classmethod
    def _representations(cls, value: list[RepresentationSpec]) -> list[RepresentationSpec]:
        if not value:
            raise ValueError("give at least one representation")
        _unique([r.display for r in value], "display labels must be unique (set `label:` to tell them apart)")
        return value

    @field_validator("budgets", "seeds")
    @classmethod
    def _distinct(cls, value: list[int], info: ValidationInfo) -> list[int]:
        _unique(value, "values must be unique")
        return sorted(value) if info.field_name == "budgets" else value

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.grid != "quantile":
            if not self.algorithms:
                raise FieldError("algorithms", f"the {self.grid} grid needs at least one algorithm")
            if not self.budgets:
                raise FieldError("budgets", f"the {self.grid} grid needs at least one budget")
        self._check_mixture()
        rep = self.diagnose.representation
        if rep is not None and rep not in {r.name for r in self.representations}:
            raise ConfigurationError(f"diagnose.representation {rep!r} is not one of the grid's representations")
        self.train_config(0)  # validate train and evaluate settings now, not after hours of work
        for t in self.tasks:
            ev = self.eval_config(t)
            if ev.format_for(t.name) == "humaneval" and "true_metric" in ev.metrics and not ev.allow_code_execution:
                raise ConfigurationError(
                    f"task {t.name!r}: true_metric runs model-written code; set evaluate.allow_code_execution: "
                    "true (in a sandbox) or evaluate.metrics without true_metric"
                )
        return self

    def _check_mixture(self) -> None:
        """The mixture settings: only with ``grid: mixture``, two tasks or more, weights naming the tasks."""
        if self.grid != "mixture":
            if self.mixture is not None:
                raise FieldError(
                    "mixture",
                    f"is read only with `grid: mixture` (grid is {self.grid!r}); remove it or set grid: mixture",
                )
            return
        names = [t.name for t in self.tasks]
        if len(names) < 2:
            raise FieldError("tasks", f"the mixture grid trains several tasks together: give at least 2, got {names}")
        mix = self.mix_settings()
        if mix.kind == "weights":
            unknown = [n for n in mix.weights if n not in names]
            missing = [n for n in names if n not in mix.weights]
            if unknown or missing:
                what = (
                    f"a weight for {unknown[0]!r}, which is not a task"
                    if unknown
                    else f"no weight for task {missing[0]!r}"
                )
                raise FieldError("mixture.mix", f"{what}; give one weight per task ({', '.join(names)})")

    def mix_settings(self) -> MixSettings:
        """How the tasks share each budget of the mixture grid (default ``equal``)."""
        return (self.mixture or MixtureSpec()).settings()

    def train_config(self, seed: int) -> TrainConfig:
        """The :class:`targetsel.train.TrainConfig` of a cell: the paper's setting, the config's overrides, ``seed``."""
        from targetsel.train import TrainConfig

        names = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(self.train) - names)
        if unknown:
            raise ConfigurationError(f"train: unknown setting(s) {unknown}; valid: {', '.join(sorted(names))}")
        if "seed" in self.train:
            raise ConfigurationError("train.seed: set seeds with the top-level `seeds:` list")
        settings = {**PAPER_TRAIN, "save_every_epoch": False, **self.train, "seed": seed}
        return TrainConfig(**settings)

    def eval_config(self, task: TaskSpec) -> EvalConfig:
        """The :class:`targetsel.evaluate.EvalConfig` of a task."""
        from targetsel.evaluate import EvalConfig

        data = dict(self.evaluate)
        if task.answer_format is not None:
            data["answer_format"] = task.answer_format
        if task.test is None and "metrics" not in data:
            data["metrics"] = ("dev_loss", "true_metric")
        return EvalConfig.from_dict(data)

    def methods(self) -> list[str]:
        """The ``REPR (ALGO)`` labels of the grid (without the baselines)."""
        if self.grid == "quantile":
            return [f"{r.display} ({algorithm_label('quantiles')})" for r in self.representations]
        return [f"{r.display} ({a.display})" for r in self.representations for a in self.algorithms]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``mixture`` only when set: other grids' ``config.json`` is as it was)."""
        out: dict[str, Any] = json.loads(
            json.dumps(self.model_dump(exclude={"mixture"} if self.mixture is None else None), default=str)
        )
        return out


def yaml_problem(exc: Exception) -> str:
    """The parser's short problem and where it is, on one line: ``line 2, column 2: expected ',' or ']'...``.

    Example:
        >>> import yaml
        >>> try:
        ...     yaml.safe_load("a: [1, 2\\nb: x\\n")
        ... except yaml.YAMLError as exc:
        ...     yaml_problem(exc)
        "line 2, column 2: expected ',' or ']', but got ':'"
    """
    if hasattr(exc, "position") and hasattr(exc, "reason"):  # yaml's ReaderError: a control character
        ch = exc.character  # type: ignore[attr-defined]  # a ReaderError's, as position and reason say
        label = f"#x{ch:04x}" if isinstance(ch, int) else repr(ch)
        return f"character {label} at offset {exc.position}: {exc.reason}"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate an experiment YAML file.

    Example:
        >>> load_config("examples/experiment_demo.yaml").grid  # doctest: +SKIP
        'budget'
    """
    import yaml

    p = Path(path)
    if p.is_dir():
        raise ConfigurationError(f"{p} is a folder; give the experiment's YAML file")
    if not p.is_file():
        raise MissingArtifactError(f"{p}: no such experiment config file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{p}: not a YAML text file (not UTF-8 at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{p}: not valid YAML ({yaml_problem(exc)})") from exc
    if data is None:
        raise ConfigurationError(f"{p}: the file is empty; see examples/experiment_demo.yaml for a config")
    try:
        return ExperimentConfig.from_dict(data, base=p.resolve().parent)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{p}: {exc}") from exc
