"""CPU batch sizing of the gradient representation: predicted memory against what the host has."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.represent.gradient import GradientRepresentation
from targetsel.represent.gradient.memory import cpu_batch_size, host_memory_limit
from targetsel.settings import MEMORY_ENV


def _encode(rep: GradientRepresentation, pool) -> None:
    rep.encode(pool, role="candidate")


def _working(rep: GradientRepresentation, batch: int) -> int:
    return next(v for k, v in rep._plans.items() if k[2] == batch)


def test_auto_picks_a_smaller_batch_under_a_smaller_budget(
    tiny_llama_dir: Path, tiny_pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = tiny_pool.select(range(12))
    big = GradientRepresentation(str(tiny_llama_dir), candidate_gradient="sgd", batch_size="auto", dim=64, device="cpu")
    monkeypatch.setenv(MEMORY_ENV, str(8 << 30))
    feats = big.encode(pool).to_array()
    assert big._auto_batch == 8
    w1, w2 = _working(big, 1), _working(big, 2)
    assert w1 < w2
    monkeypatch.setenv(MEMORY_ENV, str((w1 + w2) // 2))
    small = GradientRepresentation(
        str(tiny_llama_dir), candidate_gradient="sgd", batch_size="auto", dim=64, device="cpu"
    )
    again = small.encode(pool).to_array()
    assert small._auto_batch == 1
    assert abs(again - feats).max() < 1e-4 * (abs(feats).max() + 1e-12)  # the batch size changes no feature


@pytest.mark.parametrize("batch", ["auto", "8"])
def test_a_budget_too_small_is_one_line_and_writes_nothing(
    batch: str, tmp_path: Path, tiny_llama_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from targetsel.demo import demo_pool_path

    monkeypatch.setenv(MEMORY_ENV, str(1 << 20))
    before = sorted(tmp_path.rglob("*"))
    args = ["encode", str(demo_pool_path()), "-r", "gradient", "-m", str(tiny_llama_dir), "--quiet"]
    args += ["-p", "candidate_gradient=sgd", "-p", f"batch_size={batch}", "-p", "dim=64", "-s", str(tmp_path / "st")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("targetsel: error: one example of ")
    assert f"${MEMORY_ENV} applied" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_an_explicit_batch_that_cannot_fit_names_one_that_does(
    tmp_path: Path, tiny_llama_dir: Path, tiny_pool, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    pool = tiny_pool.select(range(12))
    probe = GradientRepresentation(str(tiny_llama_dir), candidate_gradient="sgd", batch_size=1, dim=64, device="cpu")
    probe.encode(pool)
    monkeypatch.setenv(MEMORY_ENV, str(_working(probe, 1) + 1))
    data = tmp_path / "pool.jsonl"
    data.write_text("".join(__import__("json").dumps(r) + "\n" for r in pool.rows()))
    before = sorted(tmp_path.rglob("*"))
    args = ["encode", str(data), "-r", "gradient", "-m", str(tiny_llama_dir), "--quiet", "-s", str(tmp_path / "st")]
    assert main([*args, "-p", "candidate_gradient=sgd", "-p", "batch_size=8", "-p", "dim=64"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "batch_size=8 at " in err and "use batch_size=1 or batch_size=auto" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_host_limit_keeps_headroom_and_honours_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from targetsel.represent.gradient import memory

    monkeypatch.delenv(MEMORY_ENV, raising=False)
    monkeypatch.setattr(memory, "available_host_memory", lambda: 10 << 30)
    assert host_memory_limit() == 8 << 30
    monkeypatch.setenv(MEMORY_ENV, str(1 << 30))
    assert host_memory_limit() == 1 << 30


def test_cgroup_limit_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    from targetsel.represent.gradient import memory

    monkeypatch.setattr(memory, "_meminfo_available", lambda: 64 << 30)
    monkeypatch.setattr(memory, "_cgroup_room", lambda: 2 << 30)
    assert memory.available_host_memory() == 2 << 30


def test_batch_one_that_cannot_fit_is_refused() -> None:
    from transformers import LlamaConfig

    from targetsel.errors import ConfigurationError
    from targetsel.lora import LoraSettings

    cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    with pytest.raises(ConfigurationError, match="one example of 64 tokens needs about"):
        cpu_batch_size(
            cfg,
            seq_len=64,
            loss_tokens=32,
            requested=None,
            largest=8,
            limit=1 << 20,
            dim=64,
            lora=LoraSettings(lora_r=4),
        )
