"""``targetsel plan``: exact store bytes against real stores, the FLOP and header rules, the CLI.

The gradient and hidden plans run on the tiny random Llama of ``conftest`` (saved to a directory,
as a user's model would be); nothing downloads.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.data import load_pool
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.lora import LoraSettings
from targetsel.plan import make_plan, npy_header_bytes, store_file_bytes
from targetsel.plan.costs import ModelShapes, gradient_flops, model_shapes, padded_lengths


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))


def _pool_file(tmp_path: Path, n: int) -> Path:
    lines = Path(demo_pool_path()).read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _shard_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.iterdir() if p.suffix == ".npy")


@pytest.mark.parametrize(
    "shape,dtype", [((7, 3), "float16"), ((4096,), "float32"), ((3, 1024), "uint8"), ((5, 2), "int8")]
)
def test_npy_header_bytes_match_numpy_save(shape: tuple[int, ...], dtype: str) -> None:
    data = np.zeros(shape, dtype)
    buf = io.BytesIO()
    np.save(buf, data, allow_pickle=False)
    assert buf.tell() - data.nbytes == npy_header_bytes(shape, dtype)


def test_npy_header_bytes_of_a_large_shard(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"  # a sparse file: numpy writes the header and sets the size
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(4096, 8192))._mmap.close()
    assert path.stat().st_size == npy_header_bytes((4096, 8192), "float32") + 4096 * 8192 * 4


def test_store_bytes_equal_a_real_gradient_store(tmp_path: Path, tiny_llama_dir: Path) -> None:
    pool = _pool_file(tmp_path, 11)
    plan = make_plan(
        load_pool(pool),
        representation="gradient",
        model=str(tiny_llama_dir),
        checkpoints=1,
        params={"dim": 40, "batch_size": 4},
        shard_size=4,
        calibrate=0,
    )
    for dtype in ("float32", "int8"):  # float16 and bit: the lexical test below
        store = tmp_path / f"s-{dtype}"
        argv = [
            "encode",
            str(pool),
            "-r",
            "gradient",
            "-m",
            str(tiny_llama_dir),
            "--store",
            str(store),
            "--shard-size",
            "4",
            "--quiet",
            "-p",
            "dim=40",
            "-p",
            "candidate_gradient=sgd",
            "-p",
            "lora_r=8",
            "-p",
            f"feature_dtype={dtype}",
        ]
        assert main(argv) == 0
        assert _shard_bytes(store) == plan.store_bytes[dtype] == store_file_bytes(11, 40, dtype, shard_size=4), dtype


def test_store_bytes_equal_a_real_lexical_store_of_many_shards(tmp_path: Path) -> None:
    pool = _pool_file(tmp_path, 50)
    plan = make_plan(load_pool(pool), representation="lexical", params={"dim": 100}, shard_size=16, calibrate=0)
    for dtype in ("float16", "bit"):
        store = tmp_path / f"lex-{dtype}"
        argv = [
            "encode",
            str(pool),
            "-r",
            "lexical",
            "--store",
            str(store),
            "--shard-size",
            "16",
            "--quiet",
            "-p",
            "dim=100",
            "-p",
            f"feature_dtype={dtype}",
        ]
        assert main(argv) == 0
        assert _shard_bytes(store) == plan.store_bytes[dtype]


def test_gradient_plan_counts_tokens_params_and_stages(tiny_llama_dir: Path, tiny_tokenizer) -> None:
    from transformers import AutoConfig

    from targetsel.chat import tokenize_example

    pool = load_pool(demo_pool_path()).select(range(12))
    query = load_pool(demo_query_path("math")).select(range(3))
    plan = make_plan(
        pool,
        representation="gradient",
        model=str(tiny_llama_dir),
        query=query,
        checkpoints=2,
        params={"dim": 32, "batch_size": 4, "lora_r": 8, "lora_alpha": 32.0},
        calibrate=4,
        gpus=8,
        gpu="h100",
        mfu=0.5,
    )
    lengths = [
        len(tokenize_example(tiny_tokenizer, m, max_length=512, loss_tokens="assistant")["input_ids"])
        for m in pool.dataset["messages"]
    ]
    assert plan.tokens == sum(lengths) and plan.examples == 12 and plan.queries == 3
    shapes = model_shapes(AutoConfig.from_pretrained(tiny_llama_dir), lora=LoraSettings(lora_r=8, lora_alpha=32.0))
    assert (plan.params, plan.lora_params) == (shapes.params, shapes.lora_params)
    assert plan.lora_params == 2 * 8 * 4 * (64 + 64)  # two layers, q/k/v/o all 64 → 64
    assert [s.name for s in plan.stages] == ["warmup", "encode", "score", "select"]
    encode = plan.stage("encode")
    assert encode.seconds > 0 and encode.gpu_hours > 0
    assert encode.gpu_wall_seconds == pytest.approx(encode.gpu_hours * 3600 / 8)
    assert encode.gpu_hours == pytest.approx(encode.flops / (989e12 * 0.5) / 3600)
    assert plan.stage("score").flops == 2 * 3 * 12 * 32 * 2
    assert plan.calibration["examples"] == 4


def test_flops_follow_padding_and_loss_positions() -> None:
    shapes = ModelShapes(0, 1000, 10, 16, 2, 100)
    assert padded_lengths([3, 9, 4, 8], batch_size=2).tolist() == [4, 9, 4, 9]
    assert padded_lengths([3, 9, 4, 8], batch_size=2, shard_size=2).tolist() == [9, 9, 8, 8]
    one = gradient_flops(shapes, 8, 4)
    assert gradient_flops(shapes, np.array([8, 8]), np.array([4, 4])).tolist() == [one, one]
    assert gradient_flops(shapes, 8, 5) - one == 4 * 16 * 100  # one more loss position: the head forward + backward


@pytest.mark.parametrize("rep", ["hidden", "embed", "lexical"])
def test_plan_json_of_the_other_representations(
    rep: str, tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 8)
    argv = ["plan", "--pool", str(pool), "-r", rep, "--calibrate", "2", "--json"]
    if rep == "hidden":
        argv += ["-m", str(tiny_llama_dir)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("examples", "tokens", "params", "lora_params", "store_bytes", "stages"):
        assert key in out
    assert list(out["stages"]) == ["encode", "score", "select"]
    assert out["examples"] == 8 and out["tokens"] > 0 and out["lora_params"] == 0
    for stage in out["stages"].values():
        assert "seconds" in stage and "gpu_hours" in stage
    assert (out["stages"]["encode"]["gpu_hours"] is None) == (rep == "lexical")


def test_plan_table_and_json_on_the_cli(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 10)
    base = [
        "plan",
        "--pool",
        str(pool),
        "-m",
        str(tiny_llama_dir),
        "--checkpoints",
        "4",
        "--dim",
        "64",
        "--feature-dtype",
        "float16",
        "--calibrate",
        "0",
        "--gpus",
        "8",
        "--gpu",
        "a100",
    ]
    assert main([*base, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checkpoints"] == 4 and out["feature_dtype"] == "float16"
    assert (
        out["stages"]["encode"]["store_bytes"]
        == out["store_bytes"]["float16"]
        == 4 * store_file_bytes(10, 64, "float16")
    )
    assert out["gpu"]["peak_tflops"] == 312.0 and out["gpu"]["mfu_source"] == "stated default"
    assert set(out["stages"]) == {"warmup", "encode", "score", "select"}
    assert main([*base, "--quiet"]) == 0
    text = capsys.readouterr().out
    for word in ("warmup", "encode", "score", "select", "GPU time, sum", "wall, 8 GPU(s)", "float16 (chosen)", "A100"):
        assert word in text


def test_measured_mfu_from_a_gpu_bench_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "summary.json"
    bench.write_text(
        json.dumps({"gpu_bench_1b": {"device": "NVIDIA H100 80GB HBM3", "mfu": 0.47}, "pytest_gpu": "3 passed"})
    )
    pool = _pool_file(tmp_path, 5)
    argv = ["plan", "--pool", str(pool), "-r", "lexical", "--calibrate", "0", "--json", "--gpu-bench", str(bench)]
    assert main(argv) == 0
    gpu = json.loads(capsys.readouterr().out)["gpu"]
    assert gpu["mfu"] == 0.47 and "measured" in gpu["mfu_source"]
    assert main([*argv[:-2], "--gpu-bench", str(bench), "--gpu", "a100"]) == 0  # another device: the default
    assert json.loads(capsys.readouterr().out)["gpu"]["mfu"] == 0.40


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--gpu", "tpu9"], "--gpu must be one of h100,"),
        (["--checkpoints", "0"], "checkpoints must be positive"),
        (["--feature-dtype", "int4"], "--feature-dtype must be one of float32,"),
        (["-r", "bm25"], "--representation must be one of embed, gradient,"),
        (["--mfu", "1.5"], "MFU must be in (0, 1]"),
        (["--gpu-bench", "missing.json"], "no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 3)
    assert main(["plan", "--pool", str(pool), "-r", "lexical", "--calibrate", "0", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("targetsel: error:") and message in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool.jsonl"]  # nothing written


def test_missing_pool_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--pool", str(tmp_path / "nope.jsonl"), "-r", "lexical"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--max-length", "1", "plan: --max-length must be at least 2, got 1"),
        ("--max-length", "0", "plan: --max-length must be at least 2, got 0"),
        ("--num-queries", "0", "plan: --num-queries must be positive, got 0"),
        ("--batch-size", "-2", "plan: --batch-size must be positive, got -2"),
        ("--dim", "0", "plan: --dim must be positive, got 0"),
    ],
)
def test_range_messages_speak_of_the_value_typed(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 3)
    assert main(["plan", "--pool", str(pool), "-r", "lexical", "--calibrate", "0", flag, value]) == 2
    assert capsys.readouterr().err == f"targetsel: error: {message}\n"
    assert main(["plan", "--pool", str(pool), "-r", "lexical", "--calibrate", "0", "--max-length", "2", "--json"]) == 0


# ------------------------------------------------------------------ -p: the representation's parameters
@pytest.fixture
def _fixed_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured matmul rates replaced by a constant, so two plans of the same settings are equal."""
    import targetsel.plan.calibrate
    import targetsel.plan.stages

    for module in (targetsel.plan.stages, targetsel.plan.calibrate):
        monkeypatch.setattr(module, "matmul_flops_per_s", lambda *a, **k: 1e10)


def _plan_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures("_fixed_rates")
def test_old_flags_and_p_give_the_same_plan(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 6)
    base = ["plan", "--pool", str(pool), "-m", str(tiny_llama_dir), "--calibrate", "0", "--checkpoints", "2"]
    flags = ["--dim", "48", "--batch-size", "2", "--max-length", "100", "--feature-dtype", "int8"]
    params = ["-p", "dim=48", "-p", "batch_size=2", "-p", "max_length=100", "-p", "feature_dtype=int8"]
    old = _plan_json([*base, *flags], capsys)
    assert old["dim"] == 48 and old["feature_dtype"] == "int8" and old["settings"]["batch_size"] == 2
    assert _plan_json([*base, *params], capsys) == old
    assert _plan_json([*base, *flags[:4], *params[4:], "-p", "dim=48"], capsys) == old  # mixed, agreeing
    lexical = ["plan", "--pool", str(pool), "-r", "lexical", "--calibrate", "0"]
    assert _plan_json([*lexical, "--dim", "64"], capsys) == _plan_json([*lexical, "-p", "dim=64"], capsys)


@pytest.mark.usefixtures("_fixed_rates")
def test_p_sets_the_lora_adapter_of_the_gradient_plan(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 4)
    base = ["plan", "--pool", str(pool), "-m", str(tiny_llama_dir), "--calibrate", "0"]
    default = _plan_json(base, capsys)
    assert (default["settings"]["lora_r"], default["settings"]["lora_alpha"]) == (128, 512.0)
    assert default["lora_params"] == 2 * 128 * 4 * (64 + 64)  # two layers, q/k/v/o all 64 → 64
    small = _plan_json([*base, "-p", "lora_r=8", "-p", "lora_alpha=32", "-p", 'target_modules=["q_proj"]'], capsys)
    assert (small["settings"]["lora_r"], small["settings"]["lora_alpha"]) == (8, 32)
    assert small["lora_params"] == 2 * 8 * (64 + 64)
    assert small["stages"]["encode"]["peak_vram_bytes"] < default["stages"]["encode"]["peak_vram_bytes"]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--dim", "64", "-p", "dim=32"], "--dim 64 and -p dim=32 disagree; give the value once"),
        (["-p", "dims=64"], "bad parameters for representation 'lexical': unknown parameter 'dims'; valid parameters:"),
        (["-p", "dim=wide"], "bad parameters for representation 'lexical': dim must be an integer, got 'wide'"),
        (["-p", "batch_size=many"], "bad parameters for representation 'lexical': batch_size must be an integer"),
        (["-p", "feature_dtype=int4"], "feature"),
        (["-p", "dim=0"], "plan: --dim must be positive, got 0"),
        (["-p", "dim"], "expected key=value, got 'dim'"),
    ],
)
def test_bad_p_is_one_line_exit_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 3)
    assert main(["plan", "--pool", str(pool), "-r", "lexical", "--calibrate", "0", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("targetsel: error: ") and message in err and err.count("\n") == 1, err


def test_batch_size_auto_cannot_be_planned(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool_file(tmp_path, 3)
    argv = ["plan", "--pool", str(pool), "-m", str(tiny_llama_dir), "--calibrate", "0", "-p", "batch_size=auto"]
    assert main(argv) == 2
    assert "plan: --batch-size must be a positive integer, got 'auto'" in capsys.readouterr().err


def test_parameters_the_plan_does_not_model_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    from targetsel.plan import plan_params

    with caplog.at_level("WARNING", logger="targetsel.plan.core"):
        assert plan_params("gradient", {"seed": 3, "lora_r": 8}) == {"seed": 3, "lora_r": 8}
    assert "seed not modelled by the gradient plan" in caplog.text
    assert plan_params("lexical", {"max_length": 64}) == {"max_length": 64}  # a plan setting lexical has no use for
