"""The settings digest of a finished cell is how a long experiment is resumed: it must not drift.

The digests below are pinned on the bundled example configs. Data files enter a digest by their
content (:func:`targetsel.hashing.content_key`), not their path, so the pins do not depend on where
the package or the data cache is. A change here makes every finished cell of a running experiment
look "computed with other settings" and stops the run: change the digest only with a reason and say so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from targetsel.experiment import ExperimentConfig, build_grid, load_config
from targetsel.experiment.cells import _Runner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PINNED = {
    "experiment_demo.yaml": {
        "math/zero-shot": "428e5c880a39eb95",
        "math/random/b20-s0": "8d7923401b20f80d",
        "math/random/b60-s0": "6145a8745cf8d5ee",
        "math/embed-rr/b20-s0": "d546d4bc5c8055b7",
        "math/embed-rr/b60-s0": "48f3499aa8dac5a0",
    },
    "quantile_smollm2.yaml": {
        "math/zero-shot": "99ea64546c7cac0d",
        "math/random/b32-s0": "24904da0d0d4af94",
        "math/less-rr/q0-s0": "cba036ac0e1769ab",
        "dates/rds-rr/q3-s0": "f4e70affdb36432a",
        "humaneval/zero-shot": "4708fb819db1a4ce",
    },
}


def _digests(cfg: ExperimentConfig) -> dict[str, str]:
    runner = _Runner(cfg, Path("unused"), redo=False, hook=None, quiet=True)
    return {cell.key: runner.digest(cell) for cell in build_grid(cfg)}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_cells_keep_their_digests(name):
    digests = _digests(load_config(EXAMPLES / name))
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


def test_moving_the_data_keeps_the_digests_and_editing_it_changes_them(tmp_path):
    """A run copied to another machine (another cache folder) keeps its finished cells."""
    raw = {"model": "smollm2-135m", "pool": "demo", "tasks": ["math"], "representations": ["lexical"],
           "algorithms": ["round_robin"], "budgets": [20]}  # fmt: skip
    here = _digests(ExperimentConfig.from_dict(raw))
    cfg = ExperimentConfig.from_dict(raw)
    for name in ("pool", "query", "test"):
        owner = cfg if name == "pool" else cfg.tasks[0]
        copy = tmp_path / name / Path(getattr(owner, name)).name
        copy.parent.mkdir()
        shutil.copyfile(getattr(owner, name), copy)
        setattr(owner, name, str(copy))
    assert _digests(cfg) == here
    with open(cfg.tasks[0].test, "a") as f:
        f.write("\n")
    edited = _digests(cfg)
    assert edited["math/lexical-rr/b20-s0"] != here["math/lexical-rr/b20-s0"]
    assert edited["math/zero-shot"] != here["math/zero-shot"]  # the test split is measured there too
