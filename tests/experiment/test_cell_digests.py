"""The settings digest of a finished cell is how a long experiment is resumed: it must not drift.

The digests below were computed with the code as it was before the mixture grid existed, on the
bundled example configs with the bundled demo data's folder written as ``<demo>`` (the digest
holds absolute paths; replacing that one folder keeps the pins independent of where the package
is installed). A change here would make every finished cell of a running experiment look
"computed with other settings" and stop the run: change the digest only with a reason and say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from targetsel.demo import demo_pool_path
from targetsel.experiment import ExperimentConfig, build_grid, load_config
from targetsel.experiment.cells import _Runner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO = str(Path(demo_pool_path()).parent)

PINNED = {
    "experiment_demo.yaml": {
        "math/zero-shot": "46d5143d62f80456",
        "math/random/b20-s0": "12fee2d6e4d5328f",
        "math/random/b60-s0": "e25ae4cefdd8f1b7",
        "math/embed-rr/b20-s0": "2c430a7f3ab31186",
        "math/embed-rr/b60-s0": "7cf079f66b43e075",
    },
    "quantile_smollm2.yaml": {
        "math/zero-shot": "0c8736b4d04061d5",
        "math/random/b32-s0": "15addea9dd15378b",
        "math/less-rr/q0-s0": "b80fc44587d299fd",
        "dates/rds-rr/q3-s0": "ceae721b7a59f1e5",
        "humaneval/zero-shot": "830ce67c966148f2",
    },
}


def _portable(cfg: ExperimentConfig) -> ExperimentConfig:
    """The config with the demo data's folder written ``<demo>`` (pool, query and test paths)."""
    cfg.pool = cfg.pool.replace(DEMO, "<demo>")
    for t in cfg.tasks:
        t.query = t.query.replace(DEMO, "<demo>") if t.query else None
        t.test = t.test.replace(DEMO, "<demo>") if t.test else None
    return cfg


def _digests(cfg: ExperimentConfig) -> dict[str, str]:
    runner = _Runner(cfg, Path("unused"), redo=False, hook=None, quiet=True)
    return {cell.key: runner.digest(cell) for cell in build_grid(cfg)}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_cells_keep_their_digests(name):
    digests = _digests(_portable(load_config(EXAMPLES / name)))
    assert {key: digests[key] for key in PINNED[name]} == PINNED[name]


def test_a_mixture_run_reuses_the_zero_shot_cells_and_keys_its_own_cells_by_the_mix():
    """Zero-shot cells do not depend on the grid; a mixture cell's digest holds every task and the mix."""
    raw = {"model": "smollm2-135m", "pool": "demo", "tasks": ["math", "dates"], "representations": ["lexical"],
           "algorithms": ["round_robin"], "budgets": [20]}  # fmt: skip
    budget = _digests(ExperimentConfig.from_dict(raw))
    mixture = _digests(ExperimentConfig.from_dict({**raw, "grid": "mixture"}))
    weighted = _digests(
        ExperimentConfig.from_dict({**raw, "grid": "mixture", "mixture": {"mix": "weights:math=2,dates=1"}})
    )
    assert mixture["math/zero-shot"] == budget["math/zero-shot"]
    assert mixture["dates/zero-shot"] == budget["dates/zero-shot"]
    assert weighted["mixture/lexical-rr/b20-s0"] != mixture["mixture/lexical-rr/b20-s0"]
    assert weighted["mixture/random/b20-s0"] == mixture["mixture/random/b20-s0"]  # Random reads no mix
    fewer = _digests(ExperimentConfig.from_dict({**raw, "grid": "mixture", "tasks": ["math", "humaneval"],
                                                 "evaluate": {"metrics": ["dev_loss"]}}))  # fmt: skip
    assert fewer["mixture/random/b20-s0"] != mixture["mixture/random/b20-s0"]  # other tasks, other cell
