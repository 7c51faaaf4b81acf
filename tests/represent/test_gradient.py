"""LESS gradient features: Adam maths, optimizer-state mapping, fast = exact, projection, LR weights, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from targetsel.errors import ArtifactMismatchError, ConfigurationError, MissingArtifactError
from targetsel.represent.gradient import GradientRepresentation, adam_direction, transform_gradient
from targetsel.represent.projection import DenseProjector, SparseProjector, get_projector
from targetsel.train.checkpoints import (
    checkpoint_lr_weights,
    epoch_mean_learning_rates,
    find_checkpoints,
    load_adam_moments,
)


def _cos_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _rep(model_dir, ckpts=None, **kw) -> GradientRepresentation:
    opts = {"dim": 512, "max_length": 96, "batch_size": 4, "lora_r": 8, "lora_alpha": 32.0}
    opts.update(kw)
    return GradientRepresentation(str(model_dir), checkpoints=ckpts, **opts)


# ---------------------------------------------------------------------------- Adam maths
def test_adam_direction_matches_hand_computation():
    g, m, v = 0.5, 0.2, 0.04
    m2 = 0.9 * m + 0.1 * g  # 0.23
    v2 = 0.999 * v + 0.001 * g * g  # 0.040210
    expected = m2 / np.sqrt(v2 + 1e-8)
    got = adam_direction(torch.tensor([g]), torch.tensor([m]), torch.tensor([v]))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.23 / np.sqrt(0.04021001), rel=1e-9)


def test_adam_direction_broadcasts_over_a_batch():
    g = torch.randn(3, 2, 4)
    m, v = torch.randn(2, 4), torch.rand(2, 4)
    batched = adam_direction(g, m, v)
    for i in range(3):
        assert torch.allclose(batched[i], adam_direction(g[i], m, v))


def test_gradient_types():
    g = torch.tensor([-2.0, 0.0, 3.0])
    assert torch.equal(transform_gradient("sgd", g), g)
    assert torch.equal(transform_gradient("sign", g), torch.tensor([-1.0, 0.0, 1.0]))
    with pytest.raises(ConfigurationError):
        transform_gradient("adam", g)
    with pytest.raises(ConfigurationError):
        transform_gradient("adagrad", g)


# ---------------------------------------------------------------------------- optimizer state by name
def test_optimizer_state_maps_to_parameter_names(tiny_llama_dir, tiny_warmup_dir):
    ckpt = find_checkpoints(tiny_warmup_dir)[-1]
    rep = _rep(tiny_llama_dir, ckpt)
    loaded = rep._load(need_moments=True)
    names = json.loads((ckpt / "param_names.json").read_text())
    state = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)
    index = [i for g in state["param_groups"] for i in g["params"]]
    assert set(loaded.moments) == set(loaded.params)
    # a parameter picked by name gets exactly the moments stored at its optimizer index
    k = names.index(next(n for n in names if "layers.1.self_attn.v_proj.lora_B" in n))
    canon = "model.layers.1.self_attn.v_proj.lora_B.weight"
    assert torch.equal(loaded.moments[canon][0], state["state"][index[k]]["exp_avg"])
    assert torch.equal(loaded.moments[canon][1], state["state"][index[k]]["exp_avg_sq"])


def test_optimizer_state_mismatch_fails_loudly(tiny_llama_dir, tiny_warmup_dir, tmp_path):
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    params = dict(_rep(tiny_llama_dir, ckpt)._load(need_moments=False).params)
    # a parameter the optimizer never saw
    extra = dict(params, **{"model.layers.9.self_attn.q_proj.lora_A.weight": torch.zeros(8, 64)})
    with pytest.raises(ArtifactMismatchError, match="does not match"):
        load_adam_moments(ckpt, extra)
    # same names, other shapes (another LoRA rank)
    reshaped = {n: torch.zeros(p.shape[0] + 1, p.shape[1]) for n, p in params.items()}
    with pytest.raises(ArtifactMismatchError, match="shape"):
        load_adam_moments(ckpt, reshaped)
    # a checkpoint without optimizer state
    bare = tmp_path / "checkpoint-epoch-1"
    bare.mkdir()
    for f in ("adapter_config.json", "adapter_model.safetensors"):
        (bare / f).write_bytes((ckpt / f).read_bytes())
    with pytest.raises(MissingArtifactError, match=r"optimizer\.pt"):
        load_adam_moments(bare, params)


def test_adam_needs_a_checkpoint(tiny_llama_dir, tiny_pool):
    with pytest.raises(ConfigurationError, match="warmup"):
        _rep(tiny_llama_dir).encode(tiny_pool.select(range(2)), role="candidate")


# ---------------------------------------------------------------------------- fast path = exact path
@pytest.mark.parametrize(("role", "projector"), [("candidate", "sparse"), ("query", "sparse"), ("candidate", "dense")])
def test_fast_path_equals_exact_path(tiny_llama_dir, tiny_warmup_dir, tiny_pool, role, projector):
    ckpt = find_checkpoints(tiny_warmup_dir)[-1]
    rows = tiny_pool.select(range(10))  # different lengths: every batch is padded
    exact = _rep(tiny_llama_dir, ckpt, method="exact", projector=projector).encode(rows, role=role).to_array()
    fast = _rep(tiny_llama_dir, ckpt, method="fast", projector=projector, batch_size=4).encode(rows, role=role)
    fast = fast.to_array()
    assert np.abs(exact).max() > 0
    assert _cos_rows(exact, fast).min() >= 0.999
    np.testing.assert_allclose(fast, exact, rtol=1e-3, atol=1e-4 * np.abs(exact).max())


def test_fast_path_per_example_gradient_equals_parameter_gradient(tiny_llama_dir, tiny_warmup_dir, tiny_pool):
    """Without any projection: the hooked per-example gradient is the autograd parameter gradient."""

    class Identity(DenseProjector):
        def project_block(self, name, x):  # record the raw blocks instead of projecting
            self.seen.setdefault(name, []).append(x.clone())
            return torch.zeros((x.shape[0], self.dim))

    ckpt = find_checkpoints(tiny_warmup_dir)[-1]
    rows = tiny_pool.select(range(5))
    reps = {}
    for method in ("exact", "fast"):
        rep = _rep(tiny_llama_dir, ckpt, method=method, batch_size=5)
        rep._projector = Identity(dim=512)
        rep._projector.seen = {}
        rep.encode(rows, role="query")
        reps[method] = {n: torch.cat(v) for n, v in rep._projector.seen.items()}
    assert reps["exact"].keys() == reps["fast"].keys()
    for n in reps["exact"]:
        # the fast path orders a batch by length; restore row order by matching the exact rows
        e, f = reps["exact"][n], reps["fast"][n]
        assert e.shape == f.shape
    encs = GradientRepresentation._tokenize(rep, rep._load(False).tok, rows, 0, 5, "query")
    order = sorted(range(5), key=lambda i: (len(encs[i]["input_ids"]), i))
    for n in reps["exact"]:
        f = torch.empty_like(reps["fast"][n])
        f[order] = reps["fast"][n]
        torch.testing.assert_close(f, reps["exact"][n], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------- projection
def test_projector_is_deterministic_across_processes(tmp_path):
    x = torch.randn(3, 5000, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, torch, numpy as np\n"
        "from targetsel.represent.projection import get_projector\n"
        "x = torch.load(sys.argv[1])\n"
        "for kind in ('sparse', 'dense'):\n"
        "    y = get_projector(kind, dim=128, seed=7).project({'a': x, 'b': x[:, :77]})\n"
        "    np.save(sys.argv[2] + kind + '.npy', y.numpy())\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.pt"), str(tmp_path / "o-")], check=True)
    for kind in ("sparse", "dense"):
        here = get_projector(kind, dim=128, seed=7).project({"b": x[:, :77], "a": x}).numpy()
        assert np.array_equal(np.load(tmp_path / f"o-{kind}.npy"), here)
        other = get_projector(kind, dim=128, seed=8).project({"b": x[:, :77], "a": x}).numpy()
        assert not np.allclose(other, here)


def test_projector_does_not_depend_on_batch_split_or_cache():
    x = torch.randn(6, 3000, generator=torch.Generator().manual_seed(2))
    for proj in (SparseProjector(dim=64, seed=3), DenseProjector(dim=64, seed=3, tile_rows=500)):
        whole = proj.project({"w": x})
        parts = torch.cat([proj.project({"w": x[:2]}), proj.project({"w": x[2:]})])
        torch.testing.assert_close(whole, parts, rtol=1e-5, atol=1e-5)
    uncached = DenseProjector(dim=64, seed=3, tile_rows=500, cache_bytes=0).project({"w": x})
    assert torch.equal(uncached, DenseProjector(dim=64, seed=3, tile_rows=500).project({"w": x}))
    # the dense map is the same matrix however it is applied: rows of an identity input
    p = DenseProjector(dim=32, seed=5, tile_rows=7)
    eye = p.project({"w": torch.eye(20)})
    assert set(torch.unique(torch.round(eye * 32**0.5)).tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(eye.abs(), torch.full_like(eye, 32**-0.5))


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_projection_preserves_inner_products(kind):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(1, 20000, generator=g)
    x = base + 0.7 * torch.randn(40, 20000, generator=g)  # correlated rows, cosines spread around 0.67
    y = get_projector(kind, dim=2048, seed=1).project({"w": x[:, :12000], "v": x[:, 12000:]})
    true = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    est = torch.nn.functional.normalize(y, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    assert (true - est).abs().max() < 0.1


def test_encode_is_deterministic_across_shard_and_batch_sizes(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    rows = tiny_pool.select(range(9))
    a = _rep(tiny_llama_dir, ckpt, batch_size=4).encode(rows, store=tmp_path / "a", shard_size=3).to_array()
    b = _rep(tiny_llama_dir, ckpt, batch_size=2).encode(rows, store=tmp_path / "b", shard_size=9).to_array()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(a).max())
    c = _rep(tiny_llama_dir, ckpt, batch_size=4).encode(rows, store=tmp_path / "c", shard_size=3).to_array()
    assert np.array_equal(a, c)


# ---------------------------------------------------------------------------- checkpoints and LR weights
def test_epoch_mean_learning_rates_from_a_trainer_state():
    state = {
        "log_history": [
            {"epoch": 0.5, "learning_rate": 4e-5, "loss": 1.0},
            {"epoch": 1.0, "learning_rate": 2e-5, "loss": 1.0},
            {"epoch": 1.5, "learning_rate": 1e-5},
            {"epoch": 2.0, "learning_rate": 0.0},
            {"epoch": 2.0, "train_runtime": 3.0},
        ]
    }
    assert epoch_mean_learning_rates(state) == {1: pytest.approx(3e-5), 2: pytest.approx(0.5e-5)}


def test_checkpoint_weights_from_trainer_state(tiny_warmup_dir):
    ckpts = find_checkpoints(tiny_warmup_dir)
    assert [c.name for c in ckpts] == ["checkpoint-epoch-1", "checkpoint-epoch-2"]
    state = json.loads((ckpts[-1] / "trainer_state.json").read_text())
    rates = epoch_mean_learning_rates(state)
    w = checkpoint_lr_weights(ckpts)
    assert sum(w) == pytest.approx(1.0)
    assert w == pytest.approx([rates[1] / (rates[1] + rates[2]), rates[2] / (rates[1] + rates[2])])


def test_encode_for_scoring_weights_checkpoints(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    from targetsel.score import score

    rep = _rep(tiny_llama_dir, tiny_warmup_dir)
    assert len(rep.checkpoints) == 2
    rows, q = tiny_pool.select(range(6)), tiny_pool.select(range(30, 33))
    candidates = rep.encode_for_scoring(rows, role="candidate", store_dir=tmp_path)
    queries = rep.encode_for_scoring(q, role="query", store_dir=tmp_path)
    cand, qs, w = candidates.sources, queries.sources, candidates.weights
    assert len(cand) == len(qs) == 2 and w == queries.weights and sum(w) == pytest.approx(1.0)
    assert {s.manifest["params"]["checkpoint"]["name"] for s in cand} == {"checkpoint-epoch-1", "checkpoint-epoch-2"}
    assert cand[0].manifest["params"]["gradient_type"] == "adam" and qs[0].manifest["params"]["gradient_type"] == "sgd"
    s = score(qs, cand, weights=w).matrix
    manual = sum(wi * score([qi], [ci]).matrix for wi, qi, ci in zip(w, qs, cand, strict=True))
    np.testing.assert_allclose(s, manual, rtol=1e-5, atol=1e-6)


def test_encode_sharded_holds_one_checkpoint_model_at_a_time(
    tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path, monkeypatch
):
    from targetsel.distributed import encode_sharded

    rep = _rep(tiny_llama_dir, tiny_warmup_dir)
    loaded: list[int] = []
    real_encode = GradientRepresentation.encode

    def encode(self, *args, **kwargs):  # count the per-checkpoint copies holding a model meanwhile
        loaded.append(sum(1 for r in live if r._loaded is not None))
        return real_encode(self, *args, **kwargs)

    live: list[GradientRepresentation] = []
    real_for_checkpoint = GradientRepresentation.for_checkpoint

    def for_checkpoint(self, c):
        r = real_for_checkpoint(self, c)
        live.append(r)
        return r

    monkeypatch.setattr(GradientRepresentation, "encode", encode)
    monkeypatch.setattr(GradientRepresentation, "for_checkpoint", for_checkpoint)
    stores = encode_sharded(rep, tiny_pool.select(range(4)), role="candidate", store=tmp_path / "s")
    assert len(stores) == 2 and all(s.is_complete for s in stores)
    assert loaded == [0, 0]  # the first checkpoint's model was released before the second loaded
    assert all(r._loaded is None for r in live)


# ---------------------------------------------------------------------------- resume
def test_resume_after_interrupt_gives_identical_bytes(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    ckpt = find_checkpoints(tiny_warmup_dir)[0]
    rows = tiny_pool.select(range(8))
    full = _rep(tiny_llama_dir, ckpt).encode(rows, store=tmp_path / "full", shard_size=3)

    rep = _rep(tiny_llama_dir, ckpt)
    calls = {"n": 0}
    real = rep.encode_rows

    def flaky(examples, start, stop, role="candidate"):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(examples, start, stop, role)

    rep.encode_rows = flaky
    with pytest.raises(KeyboardInterrupt):
        rep.encode(rows, store=tmp_path / "resumed", shard_size=3)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("shard-*")) == ["shard-00000.npy"]
    resumed = _rep(tiny_llama_dir, ckpt).encode(rows, store=tmp_path / "resumed", shard_size=3)
    for i in range(full.num_shards):
        assert Path(full.shard_path(i)).read_bytes() == Path(resumed.shard_path(i)).read_bytes()


def test_store_mismatch_on_other_checkpoint(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    c1, c2 = find_checkpoints(tiny_warmup_dir)
    rows = tiny_pool.select(range(2))
    _rep(tiny_llama_dir, c1).encode(rows, store=tmp_path / "s")
    with pytest.raises(ArtifactMismatchError):
        _rep(tiny_llama_dir, c2).encode(rows, store=tmp_path / "s")


def test_fresh_lora_sgd_features(tiny_llama_dir, tiny_pool):
    rows = tiny_pool.select(range(3))
    a = _rep(tiny_llama_dir, candidate_gradient="sgd").encode(rows).to_array()
    b = _rep(tiny_llama_dir, candidate_gradient="sgd").encode(rows).to_array()
    assert np.array_equal(a, b) and np.abs(a).max() > 0
    assert os.environ.get("HF_HUB_OFFLINE") in (None, "1")


# ---------------------------------------------------------------------------- CLI and torchrun
def _write_rows(ds, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in ds.rows():
            fh.write(json.dumps({"id": row["id"], "messages": row["messages"]}) + "\n")
    return path


def _encode_args(model_dir, warm, rows, store) -> list[str]:
    return [
        "encode", str(rows), "-r", "gradient", "-m", str(model_dir), "--checkpoints", str(warm), "--store", str(store),
        "--shard-size", "2", "-p", "dim=256", "-p", "max_length=64", "-p", "batch_size=3", "--quiet",
    ]  # fmt: skip


def test_cli_encode_gradient_writes_one_store_per_checkpoint(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    from targetsel.cli import main
    from targetsel.store import FeatureStore

    rows = _write_rows(tiny_pool.select(range(5)), tmp_path / "rows.jsonl")
    assert main(_encode_args(tiny_llama_dir, tiny_warmup_dir, rows, tmp_path / "s")) == 0
    for name in ("checkpoint-epoch-1", "checkpoint-epoch-2"):
        fs = FeatureStore.open(tmp_path / "s" / name)
        assert fs.num_rows == 5 and fs.dim == 256 and fs.manifest["params"]["gradient_type"] == "adam"
    bad = ["encode", str(rows), "-r", "embed", "--checkpoints", str(tiny_warmup_dir), "--store", str(tmp_path / "e")]
    assert main(bad) == 2


def test_cli_select_gradient_with_checkpoints(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    from targetsel.cli import main

    pool = _write_rows(tiny_pool.select(range(8)), tmp_path / "pool.jsonl")
    query = _write_rows(tiny_pool.select(range(30, 32)), tmp_path / "q.jsonl")
    args = ["select", "--pool", str(pool), "--query", str(query), "-r", "gradient", "-m", str(tiny_llama_dir),
            "-p", f"checkpoints={tiny_warmup_dir}", "-p", "dim=128", "-p", "max_length=64", "-b", "4",
            "-o", str(tmp_path / "out"), "--store-dir", str(tmp_path / "stores"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    sel = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert len(sel["indices"] if "indices" in sel else sel["picks"]) >= 4
    assert len(list((tmp_path / "stores").iterdir())) == 4  # 2 checkpoints × (pool, query)


def test_torchrun_two_processes_fill_the_same_store(tiny_llama_dir, tiny_warmup_dir, tiny_pool, tmp_path):
    import socket

    rows = _write_rows(tiny_pool.select(range(7)), tmp_path / "rows.jsonl")
    env = dict(os.environ, OMP_NUM_THREADS="1", TARGETSEL_CACHE=str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "targetsel"]  # fmt: skip
    two = subprocess.run(
        [*torchrun, *_encode_args(tiny_llama_dir, tiny_warmup_dir, rows, tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, "-m", "targetsel", *_encode_args(tiny_llama_dir, tiny_warmup_dir, rows, tmp_path / "one")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    for name in ("checkpoint-epoch-1", "checkpoint-epoch-2"):
        a = sorted((tmp_path / "one" / name).glob("shard-*.npy"))
        b = sorted((tmp_path / "two" / name).glob("shard-*.npy"))
        assert [p.name for p in a] == [p.name for p in b] and len(a) == 4
        for pa, pb in zip(a, b, strict=True):
            assert pa.read_bytes() == pb.read_bytes(), f"{name}/{pa.name} differs"


@pytest.mark.parametrize("method", ["fast", "exact"])
def test_encode_progress_advances_batch_by_batch(tiny_llama_dir, tiny_pool, tmp_path, monkeypatch, method):
    """A shard's bar moves as batches finish, not once per shard; the rows add up exactly."""
    import targetsel.represent.base as base

    updates: list[int] = []

    class Bar:
        def update(self, n: int) -> None:
            updates.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(base, "progress", lambda **kw: Bar())
    rows = tiny_pool.select(range(6))
    rep = _rep(tiny_llama_dir, candidate_gradient="sgd", method=method, batch_size=2)
    rep.encode(rows, role="candidate", store=tmp_path / "s", shard_size=4096)
    assert sum(updates) == 6
    assert updates.count(0) <= 1 and len([u for u in updates if u]) == (3 if method == "fast" else 6)
