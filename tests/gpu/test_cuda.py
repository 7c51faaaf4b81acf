"""CUDA checks (``pytest -m gpu``; skipped without a CUDA device). Run by ``bench/device_check.sh``.

Each compares the CUDA path with the CPU path (or with itself) on the tiny test Llama.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from targetsel.represent.gradient import GradientRepresentation
from targetsel.train.checkpoints import find_checkpoints

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
ROOT = Path(__file__).resolve().parents[2]


def _rep(model_dir, ckpt, **kw) -> GradientRepresentation:
    opts = {"dim": 512, "max_length": 96, "batch_size": 4, "lora_r": 8, "lora_alpha": 32.0, **kw}
    return GradientRepresentation(str(model_dir), checkpoints=[ckpt], **opts)


def _rowcos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("role", ["candidate", "query"])
def test_fast_equals_exact_on_cuda(tiny_llama_dir, tiny_warmup_dir, tiny_pool, dtype, role) -> None:
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    rows = tiny_pool.select(range(12))
    exact = _rep(tiny_llama_dir, ckpt, method="exact", device="cuda", dtype=dtype).encode(rows, role=role).to_array()
    fast = _rep(tiny_llama_dir, ckpt, method="fast", device="cuda", dtype=dtype).encode(rows, role=role).to_array()
    assert _rowcos(exact, fast).min() >= 0.999


def test_cuda_features_equal_cpu_features(tiny_llama_dir, tiny_warmup_dir, tiny_pool) -> None:
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    rows = tiny_pool.select(range(12))
    cpu = _rep(tiny_llama_dir, ckpt, device="cpu").encode(rows).to_array()
    gpu = _rep(tiny_llama_dir, ckpt, device="cuda").encode(rows).to_array()
    assert _rowcos(cpu, gpu).min() >= 0.999


def test_two_cuda_encodes_give_identical_bytes(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path) -> None:
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    rows = tiny_pool.select(range(16))
    a = _rep(tiny_llama_dir, ckpt, device="cuda").encode(rows, store=tmp_path / "a")
    b = _rep(tiny_llama_dir, ckpt, device="cuda").encode(rows, store=tmp_path / "b")
    assert a.to_array().tobytes() == b.to_array().tobytes()


def test_hidden_on_cuda_equals_cpu(tiny_llama_dir, tiny_pool) -> None:
    from targetsel.represent.hidden import HiddenRepresentation

    rows = tiny_pool.select(range(12))
    cpu = HiddenRepresentation(str(tiny_llama_dir), device="cpu").encode(rows).to_array()
    gpu = HiddenRepresentation(str(tiny_llama_dir), device="cuda").encode(rows).to_array()
    assert _rowcos(cpu, gpu).min() >= 0.999


def test_scores_on_cuda_give_the_cpu_subset() -> None:
    from targetsel.score import score
    from targetsel.select import get_selector

    rng = np.random.default_rng(0)
    q = rng.normal(size=(20, 64)).astype(np.float32)
    c = rng.normal(size=(10_000, 64)).astype(np.float16)
    for method in ("round_robin", "doubly_greedy"):
        subsets = []
        for device in ("cpu", "cuda"):
            s = score(q, c, top_k=500, device=device)
            subsets.append(get_selector(method).rank(s, 300).indices.tolist())
        assert subsets[0] == subsets[1], method
    a = score(q, c, top_k=100, device="cuda", chunk_rows=4096)
    b = score(q, c, top_k=100, device="cuda", chunk_rows=16384)
    assert np.array_equal(a.topk_values, b.topk_values) and np.array_equal(a.topk_indices, b.topk_indices)


def test_select_cli_on_cuda_gives_the_cpu_subset(tmp_path) -> None:
    from targetsel.demo import demo_pool_path, demo_query_path

    outs = []
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        cmd = [
            sys.executable, "-m", "targetsel", "select", "--pool", str(demo_pool_path()),
            "--query", str(demo_query_path("math")), "-r", "lexical", "-b", "100", "-o", str(out),
            "--device", device, "--no-store",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append((out / "subset.jsonl").read_bytes())
    assert outs[0] == outs[1]


def test_torchrun_one_process_on_cuda(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path) -> None:
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    script = tmp_path / "enc.py"
    script.write_text(
        "import sys\n"
        "from targetsel.data import load_pool\nfrom targetsel.demo import demo_pool_path\n"
        "from targetsel.distributed import encode_sharded\n"
        "from targetsel.represent.gradient import GradientRepresentation\n"
        f"rep = GradientRepresentation({str(tiny_llama_dir)!r}, checkpoints=[{str(ckpt)!r}], dim=256, max_length=96,"
        " lora_r=8, lora_alpha=32.0, device='cuda')\n"
        "pool = load_pool(demo_pool_path()).select(range(12))\n"
        f"encode_sharded(rep, pool, role='candidate', store={str(tmp_path / 'store')!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "store").is_dir()


def test_compressed_stores_are_decoded_on_cuda() -> None:
    """int8 and 1-bit rows travel as stored and are decoded on the GPU: the scores equal those of
    the same rows decoded on the host and sent as float32."""
    from targetsel.score import score
    from targetsel.store import EncodedFeatures

    class HostDecoded:  # the compressed source without read_encoded: float32 rows travel
        def __init__(self, base):
            self.base, self.num_rows, self.dim, self.manifest = base, base.num_rows, base.dim, base.manifest

        def read_rows(self, start, stop):
            return self.base.read_rows(start, stop)

        def iter_chunks(self, chunk_rows):
            return self.base.iter_chunks(chunk_rows)

        def to_array(self):
            return self.base.to_array()

    rng = np.random.default_rng(1)
    q = rng.normal(size=(16, 1000)).astype(np.float32)
    x = rng.normal(size=(20_000, 1000)).astype(np.float32)
    for dtype in ("int8", "bit"):
        enc = EncodedFeatures.from_float(x, dtype)
        a = score(q, enc, top_k=200, device="cuda")
        b = score(q, HostDecoded(enc), top_k=200, device="cuda")
        assert np.array_equal(a.topk_values, b.topk_values) and np.array_equal(a.topk_indices, b.topk_indices), dtype
        assert np.array_equal(a.cand_max, b.cand_max), dtype


def test_torchrun_select_two_ranks_on_one_cuda_device(tmp_path) -> None:
    """Two ranks share one GPU (gloo carries the partial results): the subsets of one process."""
    from torchrun_launch import torchrun, write_pool

    pool, q, _ = write_pool(tmp_path / "data", 9000)

    def args(out, stores):
        return ["select", "--pool", str(pool), "--query", str(q), "-r", "lexical", "-p", "dim=64",
                "--method", "round_robin", "--top-k", "8", "--budgets", "100,250", "-o", str(out),
                "--store-dir", str(stores), "--device", "cuda", "--quiet"]  # fmt: skip

    two = torchrun(args(tmp_path / "two", tmp_path / "stores2"), 2)
    assert two.returncode == 0, two.stderr[-4000:]
    one = torchrun(args(tmp_path / "one", tmp_path / "stores1"), 1)
    assert one.returncode == 0, one.stderr[-4000:]
    for b in (100, 250):
        name = f"budget-{b}/subset.jsonl"
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
