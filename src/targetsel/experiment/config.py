"""The experiment configuration: a YAML file loaded into validated dataclasses.

A config names one base model, one candidate pool, one or more target tasks, and the grid:
representations × algorithms × budgets × seeds (``grid: budget``) or representations × distance
quantiles × seeds (``grid: quantile``). Random and zero-shot baselines are always added. Relative
paths are resolved against the YAML file's folder; ``demo`` names the bundled demo data.

Example:
    >>> cfg = ExperimentConfig.from_dict({
    ...     "model": "smollm2-135m", "pool": "demo", "tasks": ["math"],
    ...     "representations": ["lexical"], "algorithms": ["round_robin"], "budgets": [20, 40]})
    >>> cfg.methods()
    ['LEXICAL (RR)']
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from targetsel.errors import ConfigurationError, MissingArtifactError

__all__ = [
    "ALGORITHM_LABELS",
    "GRID_TYPES",
    "REPRESENTATION_LABELS",
    "AlgorithmSpec",
    "DiagnoseSpec",
    "ExperimentConfig",
    "QuantileSpec",
    "RepresentationSpec",
    "TaskSpec",
    "load_config",
    "method_label",
]

GRID_TYPES = ("budget", "quantile")

#: Display names of representations in method labels, as in the paper.
REPRESENTATION_LABELS = {"gradient": "LESS", "hidden": "RDS+", "embed": "EMBED", "lexical": "LEXICAL"}
#: Display names of algorithms in method labels, as in the paper.
ALGORITHM_LABELS = {
    "round_robin": "RR",
    "doubly_greedy": "DG",
    "mean_sim": "MEAN",
    "uot": "UOT",
    "knn_uniform": "KNN-U",
    "knn_kde": "KNN-KDE",
    "quantiles": "RR",
}

#: The paper's fine-tuning setting (issue: 2 epochs, lr 2e-5, linear, 3% warmup, batch 128, wd 0).
PAPER_TRAIN = {
    "epochs": 2,
    "learning_rate": 2e-5,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.03,
    "effective_batch_size": 128,
    "weight_decay": 0.0,
}


def method_label(representation: str, algorithm: str) -> str:
    """``REPR (ALGO)`` as in the paper.

    Example:
        >>> method_label("gradient", "round_robin"), method_label("hidden", "doubly_greedy")
        ('LESS (RR)', 'RDS+ (DG)')
    """
    rep = REPRESENTATION_LABELS.get(representation, representation.upper())
    alg = ALGORITHM_LABELS.get(algorithm, algorithm.upper())
    return f"{rep} ({alg})"


def _where(ctx: str, key: str) -> str:
    return f"{ctx}.{key}" if ctx else key


def _check_keys(data: Any, allowed: set[str], ctx: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigurationError(f"{ctx or 'config'}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{ctx or 'config'}: unknown key(s) {unknown}; valid keys: {', '.join(sorted(allowed))}"
        )
    return data


def _pos_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{what} must be a positive integer, got {value!r}")
    return value


@dataclass
class RepresentationSpec:
    """One representation of the grid: registry ``name``, its ``params``, optional display ``label``.

    ``warmup`` (``gradient`` only, when ``params`` name no ``checkpoints``): the LESS warmup the
    harness runs once on the experiment's pool before encoding, cached in ``OUT/warmup/``:
    ``fraction`` (default 0.05), ``seed`` (default 0) and overrides of LESS's warmup training
    settings (:data:`targetsel.train.LESS_WARMUP`: r=128, alpha=512, 4 epochs, lr 2e-5, ...).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    warmup: dict[str, Any] | None = None

    @classmethod
    def parse(cls, data: Any, ctx: str) -> RepresentationSpec:
        if isinstance(data, str):
            data = {"name": data}
        d = _check_keys(data, {"name", "params", "label", "warmup"}, ctx)
        import targetsel.represent  # noqa: F401  (registers the built-ins)
        from targetsel.represent.base import REPRESENTATIONS

        if d.get("name") not in REPRESENTATIONS:
            raise ConfigurationError(
                f"{ctx}.name: unknown representation {d.get('name')!r}; "
                f"choose one of {', '.join(sorted(REPRESENTATIONS))}"
            )
        if not isinstance(d.get("params", {}), dict):
            raise ConfigurationError(f"{ctx}.params must be a mapping")
        warm = d.get("warmup")
        if warm is not None:
            if d["name"] != "gradient":
                raise ConfigurationError(f"{ctx}.warmup: only the gradient representation has a warmup")
            if not isinstance(warm, dict):
                raise ConfigurationError(f"{ctx}.warmup must be a mapping (fraction, seed, training settings)")
            if "checkpoints" in (d.get("params") or {}):
                raise ConfigurationError(f"{ctx}: give params.checkpoints or warmup, not both")
            spec = cls(d["name"], dict(d.get("params") or {}), d.get("label"), dict(warm))
            spec.warmup_config()  # validates the settings now, not after hours of other cells
            return spec
        return cls(d["name"], dict(d.get("params") or {}), d.get("label"))

    @property
    def needs_warmup(self) -> bool:
        """A gradient representation without checkpoints: the harness runs LESS's warmup for it."""
        return self.name == "gradient" and "checkpoints" not in self.params

    def warmup_config(self) -> tuple[float, int, Any]:
        """``(fraction, seed, TrainConfig)`` of this representation's warmup."""
        from dataclasses import replace

        from targetsel.train import LESS_WARMUP

        opts = dict(self.warmup or {})
        fraction, seed = opts.pop("fraction", 0.05), opts.pop("seed", 0)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ConfigurationError(f"warmup.fraction must be in (0, 1], got {fraction!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigurationError(f"warmup.seed must be an integer, got {seed!r}")
        try:
            cfg = replace(LESS_WARMUP, **opts)
        except TypeError as exc:
            raise ConfigurationError(f"warmup: unknown training setting(s) in {sorted(opts)}: {exc}") from exc
        return float(fraction), seed, cfg

    @property
    def display(self) -> str:
        return self.label or REPRESENTATION_LABELS.get(self.name, self.name.upper())

    def build(self, **extra: Any):
        """Instantiate the representation (``extra`` params, e.g. warmup ``checkpoints``, added)."""
        from targetsel.represent.base import get_representation

        try:
            return get_representation(self.name, **self.params, **extra)
        except TypeError as exc:
            raise ConfigurationError(f"representation {self.name!r}: bad params {self.params}: {exc}") from exc


@dataclass
class AlgorithmSpec:
    """One selection algorithm of the grid: registry ``name``, ``params``, optional ``label``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None

    @classmethod
    def parse(cls, data: Any, ctx: str) -> AlgorithmSpec:
        if isinstance(data, str):
            data = {"name": data}
        d = _check_keys(data, {"name", "params", "label"}, ctx)
        from targetsel.select.base import get_selector

        if d.get("name") in ("random", "quantiles"):
            raise ConfigurationError(
                f"{ctx}.name: {d['name']!r} is not a grid algorithm (random is always added; "
                "quantiles is `grid: quantile`)"
            )
        get_selector(str(d.get("name")), **dict(d.get("params") or {}))  # validates name and params
        return cls(d["name"], dict(d.get("params") or {}), d.get("label"))

    @property
    def display(self) -> str:
        return self.label or ALGORITHM_LABELS.get(self.name, self.name.upper())


@dataclass
class TaskSpec:
    """A target task: its query set (``dev``), optional held-out ``test`` split, answer format.

    ``query``/``test`` are file paths (relative to the config) or ``demo`` for the bundled demo
    task of the same ``name`` (``math``, ``dates``, ``humaneval``).
    """

    name: str
    query: str
    test: str | None = None
    answer_format: str | None = None

    @classmethod
    def parse(cls, data: Any, ctx: str, base: Path) -> TaskSpec:
        from targetsel.demo import DEMO_TASKS, demo_query_path

        if isinstance(data, str):
            data = {"name": data}
        d = _check_keys(data, {"name", "query", "test", "answer_format"}, ctx)
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{ctx}.name must be a non-empty string")
        query, test = d.get("query"), d.get("test")
        if query is None:
            if name not in DEMO_TASKS:
                raise ConfigurationError(
                    f"{ctx}: task {name!r} needs `query:` (a file); only {', '.join(DEMO_TASKS)} default to demo data"
                )
            query = "demo"
            test = "demo" if "test" not in d else test
        resolved = []
        for key, val, split in (("query", query, "dev"), ("test", test, "test")):
            if val is None:
                resolved.append(None)
            elif val == "demo":
                resolved.append(str(demo_query_path(name, split)))
            else:
                resolved.append(_resolve(val, base, _where(ctx, key)))
        if d.get("answer_format") is not None:
            from targetsel.evaluate.answers import ANSWER_FORMATS

            if d["answer_format"] not in ANSWER_FORMATS:
                raise ConfigurationError(f"{ctx}.answer_format must be one of {', '.join(ANSWER_FORMATS)}")
        return cls(name, resolved[0], resolved[1], d.get("answer_format"))


@dataclass
class QuantileSpec:
    """The quantile experiment: cut the RR order of the pool into ``bins`` quantiles, take ``per_bin`` of each."""

    bins: int = 5
    per_bin: int = 100
    focus: bool = False

    @classmethod
    def parse(cls, data: Any, ctx: str) -> QuantileSpec:
        d = _check_keys(data or {}, {"bins", "per_bin", "focus"}, ctx)
        spec = cls(**d)
        _pos_int(spec.bins, f"{ctx}.bins")
        _pos_int(spec.per_bin, f"{ctx}.per_bin")
        if spec.bins < 2:
            raise ConfigurationError(f"{ctx}.bins must be at least 2 for a correlation, got {spec.bins}")
        if not isinstance(spec.focus, bool):
            raise ConfigurationError(f"{ctx}.focus must be true or false")
        return spec


@dataclass
class DiagnoseSpec:
    """Per-cell diagnosis: subset–query distance in the cell's representation.

    Random cells (no representation of their own) are measured in ``representation`` (default:
    the grid's first one).
    """

    enabled: bool = True
    representation: str | None = None
    exact_limit: int = 3000

    @classmethod
    def parse(cls, data: Any, ctx: str) -> DiagnoseSpec:
        d = _check_keys(data or {}, {"enabled", "representation", "exact_limit"}, ctx)
        spec = cls(**d)
        _pos_int(spec.exact_limit, f"{ctx}.exact_limit")
        return spec


def _resolve(value: Any, base: Path, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a path string, got {value!r}")
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = base / p
    if not p.exists():
        raise MissingArtifactError(f"{what}: {p} does not exist")
    return str(p)


_TOP_KEYS = {
    "name",
    "model",
    "pool",
    "pool_limit",
    "pool_seed",
    "tasks",
    "grid",
    "representations",
    "algorithms",
    "budgets",
    "seeds",
    "quantile",
    "train",
    "evaluate",
    "diagnose",
    "output",
    "store_dir",
    "keep_models",
}


@dataclass
class ExperimentConfig:
    """A validated experiment.

    Attributes:
        name: Experiment name (used in the report title).
        model: Base model to fine-tune and evaluate (folder, built-in name or hub name).
        pool: Candidate pool path (``demo``: the bundled pool).
        pool_limit: Use a seeded random sample of this many pool rows (keeps CPU runs small).
        pool_seed: Seed of that sample.
        tasks: Target tasks.
        grid: ``budget`` or ``quantile``.
        representations: Representations of the grid.
        algorithms: Algorithms of the budget grid (the quantile grid uses round-robin).
        budgets: Budgets of the budget grid.
        seeds: Seeds (training seed, and random-selection seed).
        quantile: Quantile-grid settings.
        train: :class:`targetsel.train.TrainConfig` overrides on top of the paper's setting.
        evaluate: :class:`targetsel.evaluate.EvalConfig` settings.
        diagnose: :class:`DiagnoseSpec`.
        output: Output folder (relative to the config; the CLI's ``--output`` wins).
        store_dir: Feature-store cache (default ``<output>/stores``).
        keep_models: Keep trained adapters/models in the cell folders (else delete after evaluation).
    """

    model: str
    pool: str
    tasks: list[TaskSpec]
    representations: list[RepresentationSpec]
    name: str = "experiment"
    pool_limit: int | None = None
    pool_seed: int = 0
    grid: str = "budget"
    algorithms: list[AlgorithmSpec] = field(default_factory=list)
    budgets: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    quantile: QuantileSpec = field(default_factory=QuantileSpec)
    train: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    diagnose: DiagnoseSpec = field(default_factory=DiagnoseSpec)
    output: str | None = None
    store_dir: str | None = None
    keep_models: bool = True

    @classmethod
    def from_dict(cls, data: Any, *, base: str | os.PathLike[str] | None = None) -> ExperimentConfig:
        """Validate a parsed YAML mapping; relative paths resolve against ``base`` (default: cwd)."""
        root = Path(base) if base is not None else Path.cwd()
        d = _check_keys(data, _TOP_KEYS, "")
        for key in ("model", "pool", "tasks", "representations"):
            if key not in d:
                raise ConfigurationError(f"config: missing required key {key!r}")
        model = d["model"]
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError("model must be a model folder, built-in name or hub name")
        if not Path(model).is_absolute() and (root / model).exists():
            model = str(root / model)
        pool = d["pool"]
        if pool == "demo":
            from targetsel.demo import demo_pool_path

            pool = str(demo_pool_path())
        else:
            pool = _resolve(pool, root, "pool")
        grid = d.get("grid", "budget")
        if grid not in GRID_TYPES:
            raise ConfigurationError(f"grid must be one of {', '.join(GRID_TYPES)}, got {grid!r}")

        def items(key: str) -> list[Any]:
            v = d.get(key) or []
            if not isinstance(v, list):
                raise ConfigurationError(f"{key} must be a list")
            return v

        tasks = [TaskSpec.parse(t, f"tasks[{i}]", root) for i, t in enumerate(items("tasks"))]
        if not tasks:
            raise ConfigurationError("tasks: give at least one target task")
        if len({t.name for t in tasks}) != len(tasks):
            raise ConfigurationError("tasks: task names must be unique")
        reps = [RepresentationSpec.parse(r, f"representations[{i}]") for i, r in enumerate(items("representations"))]
        if not reps:
            raise ConfigurationError("representations: give at least one representation")
        if len({r.display for r in reps}) != len(reps):
            raise ConfigurationError("representations: display labels must be unique (set `label:` to tell them apart)")
        algos = [AlgorithmSpec.parse(a, f"algorithms[{i}]") for i, a in enumerate(items("algorithms"))]
        budgets = [_pos_int(b, f"budgets[{i}]") for i, b in enumerate(items("budgets"))]
        if grid == "budget":
            if not algos:
                raise ConfigurationError("algorithms: the budget grid needs at least one algorithm")
            if not budgets:
                raise ConfigurationError("budgets: the budget grid needs at least one budget")
        if len(set(budgets)) != len(budgets):
            raise ConfigurationError("budgets: values must be unique")
        seeds = d.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds:
            raise ConfigurationError("seeds must be a non-empty list of integers")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ConfigurationError(f"seeds must be non-negative integers, got {s!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigurationError("seeds: values must be unique")
        pool_limit = d.get("pool_limit")
        if pool_limit is not None:
            _pos_int(pool_limit, "pool_limit")
        pool_seed = d.get("pool_seed", 0)
        if isinstance(pool_seed, bool) or not isinstance(pool_seed, int) or pool_seed < 0:
            raise ConfigurationError(f"pool_seed must be a non-negative integer, got {pool_seed!r}")
        for key in ("train", "evaluate"):
            if not isinstance(d.get(key) or {}, dict):
                raise ConfigurationError(f"{key} must be a mapping of settings")
        cfg = cls(
            model=model,
            pool=pool,
            tasks=tasks,
            representations=reps,
            name=str(d.get("name", "experiment")),
            pool_limit=pool_limit,
            pool_seed=pool_seed,
            grid=grid,
            algorithms=algos,
            budgets=sorted(budgets),
            seeds=list(seeds),
            quantile=QuantileSpec.parse(d.get("quantile"), "quantile"),
            train=dict(d.get("train") or {}),
            evaluate=dict(d.get("evaluate") or {}),
            diagnose=DiagnoseSpec.parse(d.get("diagnose"), "diagnose"),
            output=str(root / d["output"]) if d.get("output") else None,
            store_dir=str(root / d["store_dir"]) if d.get("store_dir") else None,
            keep_models=bool(d.get("keep_models", True)),
        )
        if cfg.diagnose.representation is not None and cfg.diagnose.representation not in {r.name for r in reps}:
            raise ConfigurationError(
                f"diagnose.representation {cfg.diagnose.representation!r} is not one of the grid's representations"
            )
        cfg.train_config(0)  # validate train and evaluate settings now, not after hours of work
        cfg.eval_config(tasks[0])
        for t in tasks:
            fmt = cfg.eval_config(t).format_for(t.name)
            ev = cfg.eval_config(t)
            if fmt == "humaneval" and "true_metric" in ev.metrics and not ev.allow_code_execution:
                raise ConfigurationError(
                    f"task {t.name!r}: true_metric runs model-written code; set evaluate.allow_code_execution: "
                    "true (in a sandbox) or evaluate.metrics without true_metric"
                )
        return cfg

    def train_config(self, seed: int):
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

    def eval_config(self, task: TaskSpec):
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
            return [f"{r.display} (RR)" for r in self.representations]
        return [f"{r.display} ({a.display})" for r in self.representations for a in self.algorithms]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return json.loads(json.dumps(asdict(self), default=str))

    def digest(self, *parts: Any) -> str:
        """Stable hash of JSON-serialisable parts (used to key cells)."""
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate an experiment YAML file.

    Example:
        >>> load_config("examples/experiment_demo.yaml").grid  # doctest: +SKIP
        'budget'
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise MissingArtifactError(f"{p}: no such experiment config file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{p}: not valid YAML ({exc})") from exc
    try:
        return ExperimentConfig.from_dict(data, base=p.resolve().parent)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{p}: {exc}") from exc
