"""The gradient engine ready for large models: memory planned on the meta device, ``batch_size=auto``
under a simulated out-of-memory, loss at the loss positions only, and the device bench's CPU run
in an environment without ``datasets``, faiss or POT (as on offline GPU machines)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from targetsel.represent.gradient import GradientRepresentation, plan_memory
from targetsel.train.checkpoints import find_checkpoints

ROOT = Path(__file__).resolve().parents[2]


def _rep(model_dir, ckpt, **kw) -> GradientRepresentation:
    opts = {"dim": 256, "max_length": 96, "lora_r": 8, "lora_alpha": 32.0, **kw}
    return GradientRepresentation(str(model_dir), checkpoints=[ckpt], **opts)


def test_plan_memory_of_a_7b_config_on_the_meta_device() -> None:
    from transformers import LlamaConfig

    cfg = LlamaConfig(
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        attn_implementation="sdpa",
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plans = {b: plan_memory(cfg, batch_size=b, seq_len=2048, loss_tokens=1024) for b in (1, 2, 4)}
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 2**20, f"planning allocated {grown_kib / 2**20:.1f} GiB"  # a 7B model is 13 GB in bf16
    gib = 2**30
    # Llama-2-7B: 6.74B parameters in bf16, plus LoRA r=128 on q/k/v/o (32 layers × 4 × 128 × 8192)
    lora = 32 * 4 * 128 * (4096 + 4096)
    # (peft keeps the adapter in float32 under a bf16 model)
    assert plans[1]["weights"] == pytest.approx(2 * 6_738_415_616 + 4 * lora, rel=1e-4)
    assert plans[1]["moments"] == 8 * lora
    peaks = [plans[b]["peak"] for b in (1, 2, 4)]
    assert peaks[0] < peaks[1] < peaks[2]
    # activations grow linearly with the batch (one example of 2048 tokens: 8–20 GiB kept for backward)
    per_example = plans[2]["saved_activations"] - plans[1]["saved_activations"]
    assert 8 * gib < per_example < 20 * gib
    assert plans[4]["saved_activations"] - plans[2]["saved_activations"] == pytest.approx(2 * per_example, rel=0.02)
    assert plans[1]["peak"] < 40 * gib < plans[4]["peak"]
    assert plans[1]["logits"] == 1024 * 4096 * 2 + 1024 * 32000 * (2 + 4 + 4)
    assert plans[4]["logits"] == 4096 * 4096 * 2 + 2048 * 32000 * (2 + 4 + 4)  # one chunk of logits at a time


def test_auto_batch_size_halves_on_out_of_memory(tiny_llama_dir, tiny_warmup_dir, tiny_pool, monkeypatch) -> None:
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    rows = tiny_pool.select(range(10))
    ref = _rep(tiny_llama_dir, ckpt, batch_size=2).encode(rows).to_array()
    rep = _rep(tiny_llama_dir, ckpt, batch_size="auto")
    calls: list[int] = []
    real = GradientRepresentation._fast_batches

    def fake_oom(self, loaded, encs, kind, order, out, done, batch_size):
        calls.append((batch_size, done.rows))
        if batch_size > 2 and done.rows > 0:  # as torch says it on a GPU that is full, after one batch
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if batch_size > 2:  # the first batch fits, the second does not
            real(self, loaded, encs, kind, order[:batch_size], out, done, batch_size)
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real(self, loaded, encs, kind, order, out, done, batch_size)

    monkeypatch.setattr(GradientRepresentation, "_fast_batches", fake_oom)
    got = rep.encode(rows).to_array()
    # 8 fits once (rows 0-7 done), then OOM; 4 OOMs at row 8; 2 finishes from row 8 on
    assert calls == [(8, 0), (4, 8), (2, 8)] and rep._auto_batch == 2
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    # the size found is kept: the next rows start there
    calls.clear()
    rep.encode(tiny_pool.select(range(10, 14)))
    assert calls == [(2, 0)]
    # an out-of-memory error with the known size (e.g. longer rows) halves it again
    calls.clear()
    limit = {"max": 1}

    def smaller_oom(self, loaded, encs, kind, order, out, done, batch_size):
        calls.append((batch_size, done.rows))
        if batch_size > limit["max"]:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real(self, loaded, encs, kind, order, out, done, batch_size)

    monkeypatch.setattr(GradientRepresentation, "_fast_batches", smaller_oom)
    got = rep.encode(tiny_pool.select(range(14, 17))).to_array()
    assert calls == [(2, 0), (1, 0)] and rep._auto_batch == 1
    ref = _rep(tiny_llama_dir, ckpt, batch_size=1).encode(tiny_pool.select(range(14, 17))).to_array()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_batch_size_must_be_positive_or_auto(tiny_llama_dir) -> None:
    from targetsel.errors import ConfigurationError

    for bad in (0, -1, "big", 2.5, True):
        with pytest.raises(ConfigurationError, match="batch_size"):
            GradientRepresentation(str(tiny_llama_dir), batch_size=bad)


def test_loss_at_loss_positions_equals_full_logits_loss() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from targetsel.lmloss import example_loss

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    lm = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 97, (3, 12))
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    labels = ids.clone()
    labels[:, :5] = -100
    labels[1, 5:8] = -100
    labels[2, 9:] = -100
    got = example_loss(lm, ids, mask, labels)
    logits = lm(input_ids=ids, attention_mask=mask).logits.float()
    tok = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none")
    keep = (labels[:, 1:] != -100).float()
    want = (tok * keep).sum(1) / keep.sum(1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # in chunks of 4 loss positions, recomputed in the backward pass: same losses, same gradients
    grads = []
    for chunk in (4, 10_000):
        emb = lm.get_input_embeddings()(ids).detach().requires_grad_(True)
        loss = example_loss(lm, ids, mask, labels, inputs_embeds=emb, chunk_tokens=chunk)
        torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-6)
        grads.append(torch.autograd.grad(loss.sum(), emb)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)


BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("datasets", "faiss", "ot"):
            raise ImportError(f"{name} is blocked: not on the offline GPU stack")
        return None
sys.meta_path.insert(0, _Block())
import runpy
sys.argv = ["gpu_bench.py", *sys.argv[1:]]
runpy.run_path(%r, run_name="__main__")
"""


def test_gpu_bench_tiny_cpu_runs_without_datasets_faiss_or_pot(tmp_path) -> None:
    script = tmp_path / "run_blocked.py"
    script.write_text(BLOCKER % str(ROOT / "bench" / "gpu_bench.py"))
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(script), "--size", "tiny", "--device", "cpu", "--json", str(tmp_path / "r.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    keys = {
        "mfu",
        "mfu_vs_matmul",
        "tokens_per_s",
        "fast_over_exact_short",
        "fast_over_exact_long",
        "peak_gib",
        "batch_size",
        "score_over_matmul_gpu",
        "device",
        "dtype",
        "size",
    }
    assert keys <= set(result)
    assert result["device"] == "cpu" and result["size"] == "tiny" and result["score_over_matmul_gpu"] is None
    assert result["tokens_per_s"] > 0 and result["mfu"] > 0 and result["batch_size"] >= 1
    assert json.loads((tmp_path / "r.json").read_text())["size"] == "tiny"


def test_exact_index_add_is_order_independent_and_accurate() -> None:
    """The GPU projection's fixed-point scatter: any order of the values gives the same bits."""
    from targetsel.represent.projection import SparseProjector, exact_index_add

    torch.manual_seed(0)
    for nnz in (1, 3):
        proj = SparseProjector(dim=256, seed=2, nnz=nnz)
        x = torch.randn(3, 50_000) * torch.logspace(-6, 0, 50_000)  # magnitudes over six decades
        idx, sign = proj.table("blk", x.shape[1])
        ref = torch.zeros(3, 256, dtype=torch.float64)
        for k in range(nnz):
            ref.index_add_(1, idx[k], x.double() * sign[k].double())
        got = exact_index_add(x, idx, sign, 256)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), ref, rtol=1e-6, atol=1e-9)
        perm = torch.randperm(x.shape[1])
        assert torch.equal(exact_index_add(x[:, perm], idx[:, perm], sign[:, perm], 256), got)
        # the same map as the CPU path's float32 scatter
        torch.testing.assert_close(proj.project_block("blk", x).double(), ref, rtol=1e-4, atol=1e-5)
