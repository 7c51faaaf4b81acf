"""LESS warmup: per-epoch checkpoints with adapter, optimizer and trainer state, usable by `gradient`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.errors import ConfigurationError
from targetsel.train import TrainConfig, find_checkpoints, warmup_indices


def test_train_config_validation():
    assert TrainConfig().gradient_accumulation_steps() == 128
    assert TrainConfig(effective_batch_size=128, per_device_batch_size=8).gradient_accumulation_steps(2) == 8
    for bad in (
        {"lora_r": 0},
        {"lora_dropout": 1.0},
        {"lr_scheduler": "warp"},
        {"effective_batch_size": 10, "per_device_batch_size": 4},
        {"dtype": "int8"},
        {"epochs": 0},
    ):
        with pytest.raises(ConfigurationError):
            TrainConfig(**bad)
    with pytest.raises(ConfigurationError, match="unknown"):
        TrainConfig.from_dict({"lora_rank": 3})


def test_warmup_subset_is_seeded():
    a = warmup_indices(1000, 0.05, seed=0)
    assert len(a) == 50 and a == sorted(set(a)) and a == warmup_indices(1000, 0.05, seed=0)
    assert a != warmup_indices(1000, 0.05, seed=1)
    with pytest.raises(ConfigurationError):
        warmup_indices(10, 0.0, seed=0)


def test_warmup_writes_per_epoch_checkpoints(tiny_warmup_dir, tiny_pool):
    ckpts = find_checkpoints(tiny_warmup_dir)
    assert [c.name for c in ckpts] == ["checkpoint-epoch-1", "checkpoint-epoch-2"]
    for c in ckpts:
        for f in (
            "adapter_model.safetensors",
            "adapter_config.json",
            "optimizer.pt",
            "scheduler.pt",
            "trainer_state.json",
            "param_names.json",
        ):
            assert (c / f).is_file(), f"{c.name} lacks {f}"
        state = json.loads((c / "trainer_state.json").read_text())
        assert any("learning_rate" in e for e in state["log_history"])
    cfg = json.loads((ckpts[0] / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and set(cfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    sub = json.loads((tiny_warmup_dir / "warmup_subset.json").read_text())
    assert sub["indices"] == warmup_indices(len(tiny_pool), 0.4, 0)
    assert (tiny_warmup_dir / "final" / "adapter_model.safetensors").is_file()


def test_gradient_representation_loads_warmup_checkpoints(tiny_llama_dir, tiny_warmup_dir, tiny_pool):
    from targetsel.represent import GradientRepresentation

    rep = GradientRepresentation(str(tiny_llama_dir), checkpoints=tiny_warmup_dir, dim=64, max_length=64)
    feats = [rep.for_checkpoint(c).encode(tiny_pool.select(range(3))).to_array() for c in rep.checkpoints]
    assert all(f.shape == (3, 64) and np.isfinite(f).all() and np.abs(f).max() > 0 for f in feats)
    assert not np.allclose(feats[0], feats[1])  # the epochs differ


def test_warmup_cli(tiny_llama_dir, tmp_path, capsys):
    from targetsel.demo import demo_pool_path

    out = tmp_path / "w"
    code = main(
        [
            "warmup",
            "--pool",
            str(demo_pool_path()),
            "--model",
            str(tiny_llama_dir),
            "--output",
            str(out),
            "--fraction",
            "0.004",
            "--epochs",
            "1",
            "--lora-r",
            "4",
            "--lora-alpha",
            "16",
            "--effective-batch-size",
            "4",
            "--per-device-batch-size",
            "2",
            "--max-length",
            "64",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert [c.name for c in find_checkpoints(out)] == ["checkpoint-epoch-1"]
    code = main(
        [
            "warmup",
            "--pool",
            str(demo_pool_path()),
            "--model",
            str(tiny_llama_dir),
            "--output",
            str(tmp_path / "x"),
            "--fraction",
            "2",
            "--quiet",
        ]
    )
    assert code == 2 and "fraction" in capsys.readouterr().err


@pytest.mark.slow
def test_smollm2_warmup_gradient_round_robin(tmp_path, monkeypatch, smollm2):
    """Real SmolLM2-135M (offline, from the cache): warmup → gradient features → round-robin."""
    from targetsel.data import load_pool, load_queries
    from targetsel.demo import RELEVANT_SOURCES, demo_pool_path, demo_query_path
    from targetsel.pipeline import run_selection
    from targetsel.represent import GradientRepresentation
    from targetsel.train import TrainConfig, warmup

    pool = load_pool(demo_pool_path())
    sources = pool.column("source")
    # a few dozen rows: 12 from the math family, 24 from the others
    math_rows = [i for i, s in enumerate(sources) if s in RELEVANT_SOURCES["math"]][:12]
    other_rows = [i for i, s in enumerate(sources) if s not in RELEVANT_SOURCES["math"]][:24]
    small = pool.select(sorted(math_rows + other_rows))
    queries = load_queries(demo_query_path("math", "dev")).select(range(4))
    cfg = TrainConfig(lora_r=16, lora_alpha=64.0, epochs=2, effective_batch_size=4, per_device_batch_size=2,
                      max_length=128, learning_rate=1e-4)  # fmt: skip
    ckpts = warmup("smollm2-135m", small, tmp_path / "warmup", fraction=0.25, seed=0, config=cfg, quiet=True)
    assert [c.name for c in ckpts] == ["checkpoint-epoch-1", "checkpoint-epoch-2"]
    rep = GradientRepresentation("smollm2-135m", checkpoints=ckpts, dim=1024, max_length=128, batch_size=4)
    result = run_selection(small, queries, rep, method="round_robin", budgets=[8], store_dir=tmp_path / "stores")
    picks = result.ranking.indices[:8]
    assert len(set(int(i) for i in picks)) == 8
    hits = sum(small.column("source")[int(i)] in RELEVANT_SOURCES["math"] for i in picks)
    assert hits >= 3, f"only {hits} of 8 picks are math rows (1/3 of the rows are math)"


def test_train_cli_lora_full_and_no_checkpoints(tiny_llama_dir, tiny_pool, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    with open(rows, "w", encoding="utf-8") as fh:
        for row in tiny_pool.select(range(8)).rows():
            fh.write(json.dumps({"messages": row["messages"]}) + "\n")
    common = ["--model", str(tiny_llama_dir), "--epochs", "1", "--effective-batch-size", "4",
              "--per-device-batch-size", "2", "--max-length", "64", "--quiet"]  # fmt: skip
    assert main(["train", str(rows), "--output", str(tmp_path / "lora"), *common]) == 0
    assert (tmp_path / "lora" / "final" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "lora" / "checkpoint-epoch-1" / "optimizer.pt").is_file()
    assert main(["train", str(rows), "--output", str(tmp_path / "full"), "--full", "--no-checkpoints", *common]) == 0
    final = tmp_path / "full" / "final"
    assert (final / "config.json").is_file() and any(final.glob("*.safetensors"))
    assert not (final / "adapter_config.json").exists()
    assert not list((tmp_path / "full").glob("checkpoint-epoch-*"))
    assert main(["train", str(rows), "--output", str(tmp_path / "bad"), "--lora-r", "0", *common]) == 2
    assert "lora_r" in capsys.readouterr().err
