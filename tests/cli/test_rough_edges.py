"""Small things a new user hits first: --version, help without type placeholders on flags, the
built-in model's file found where installing puts it, the report's closing sentence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.cli._common import english_list


def _command_paths() -> list[list[str]]:
    import typer.main

    from targetsel.cli import app

    def walk(cmd, prefix: list[str]) -> list[list[str]]:
        out = [prefix]
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            out += walk(sub, [*prefix, name])
        return out

    return walk(typer.main.get_command(app), [])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from targetsel._version import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"targetsel {__version__}"


def test_no_help_page_shows_a_bool_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    paths = _command_paths()
    assert ["plan"] in paths and len(paths) > 10
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "<bool>" not in out, path
        assert "--help" in out
    main(["encode", "--help"])
    assert "--skip-invalid " in capsys.readouterr().out  # the flag is still listed


def test_flags_still_parse_after_the_help_change(tmp_path: Path) -> None:
    pool = tmp_path / "p.jsonl"
    pool.write_text('{"prompt": "a b", "completion": "c"}\n{"broken\n')
    store = tmp_path / "s"
    assert main(["encode", str(pool), "-r", "lexical", "--store", str(store), "--skip-invalid", "--quiet"]) == 0
    assert (store / "manifest.json").is_file()


def test_english_list() -> None:
    assert english_list([]) == ""
    assert english_list(["a.csv"]) == "a.csv"
    assert english_list(["a.csv", "b.csv"]) == "a.csv and b.csv"
    assert english_list(["a.csv", "b.csv", "c.md", "d.csv"]) == "a.csv, b.csv, c.md and d.csv"


# ------------------------------------------------------------------ bad input: one line, exit 2, nothing written
def _inputs(root: Path) -> dict[str, Path]:
    rows = [{"prompt": f"what is {i} plus {i}", "completion": str(2 * i)} for i in range(4)]
    paths = {"pool": root / "pool.jsonl", "query": root / "q.jsonl"}
    for path in paths.values():
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with a pool and a query file; caches inside it, downloads off."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _inputs(tmp_path)
    return tmp_path


def _refused(argv: list[str], workdir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``argv``; assert exit 2, one ``targetsel: error:`` line and nothing new on disk; the line."""
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("targetsel: error: "), (argv, err)
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before, argv
    return err.strip()


_SELECT = ["select", "--pool", "pool.jsonl", "--query", "q.jsonl", "-b", "2", "-r", "lexical", "-o", "out"]
_DEVICE_VERBS = [
    _SELECT,
    ["train", "pool.jsonl", "-o", "out"],
    ["warmup", "--pool", "pool.jsonl", "-o", "out"],
    ["evaluate", "-m", "smollm2-135m", "--query", "q.jsonl", "-o", "out.json"],
]


@pytest.mark.parametrize("verb", _DEVICE_VERBS, ids=lambda v: v[0])
@pytest.mark.parametrize("device", ["gpu", "CUDA", "tpu", " cuda", "cuda:", "cuda:x", "mps"])
def test_a_device_that_is_not_one_is_refused(
    verb: list[str], device: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused([*verb, "--device", device], workdir, capsys)
    assert err == f"targetsel: error: --device must be one of cpu, cuda, cuda:N or auto, got {device!r}"


@pytest.mark.parametrize("verb", _DEVICE_VERBS, ids=lambda v: v[0])
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cuda_is_one_line(
    verb: list[str], device: str, workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = _refused([*verb, "--device", device], workdir, capsys)
    assert f"--device {device}: CUDA is not available on this machine" in err and err.endswith("use --device cpu")


def test_a_cuda_device_number_beyond_the_gpus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from targetsel.cli._common import parse_device
    from targetsel.errors import ConfigurationError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert parse_device("cuda:1") == "cuda:1" and parse_device("auto") == "cuda" and parse_device(None) is None
    with pytest.raises(
        ConfigurationError, match=r"^--device cuda:2: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1$"
    ):
        parse_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert parse_device("auto") == "cpu" and parse_device("cpu") == "cpu"


@pytest.mark.parametrize(
    "argv,expected",
    [
        (
            [*_SELECT, "--format", "csv"],
            "--format must be one of jsonl, parquet, hf, llamafactory or axolotl, got 'csv'",
        ),
        ([*_SELECT, "--query-dtype", "int4"], "--query-dtype must be one of float, int8 or bit, got 'int4'"),
        ([*_SELECT, "--task", "chess"], "--task must be one of math, dates or humaneval, got 'chess'"),
        (
            [*_SELECT, "--method", "best"],
            "--method must be one of doubly_greedy, knn_kde, knn_uniform, mean_sim, "
            "quantiles, random, round_robin or uot, got 'best'",
        ),
        (
            [*_SELECT[:-4], "-r", "bm25", "-o", "out"],
            "--representation must be one of embed, gradient, hidden or lexical, got 'bm25'",
        ),
        (
            [*_SELECT[:-4], "-r", "embed", "-p", "device=gpu", "-o", "out"],
            "--param device must be one of cpu, cuda, cuda:N or auto, got 'gpu'",
        ),
        (["encode", "pool.jsonl", "-s", "st", "--role", "pool"], "--role must be candidate or query, got 'pool'"),
        (["encode", "pool.jsonl", "-s", "st", "-r", "bm25"], "--representation must be one of"),
        (
            ["train", "pool.jsonl", "-o", "out", "--dtype", "int8"],
            "--dtype must be one of float32, bfloat16, float16, auto, fp32, bf16, fp16, half or float, got 'int8'",
        ),
        (
            ["train", "pool.jsonl", "-o", "out", "--lr-scheduler", "step"],
            "--lr-scheduler must be one of linear, cosine, constant or constant_with_warmup, got 'step'",
        ),
        (["warmup", "--pool", "pool.jsonl", "-o", "out", "--dtype", "fp8"], "--dtype must be one of"),
        (["evaluate", "-m", "smollm2-135m", "--dtype", "fp8"], "--dtype must be one of"),
        (
            ["evaluate", "-m", "smollm2-135m", "--answer-format", "regex"],
            "--answer-format must be one of number, exact, latex or humaneval, got 'regex'",
        ),
        (
            ["evaluate", "-m", "smollm2-135m", "--metrics", "dev_loss,bleu"],
            "--metrics must be one of dev_loss, test_loss or true_metric, got 'bleu'",
        ),
        (["plan", "--pool", "pool.jsonl", "--gpu", "tpu"], "--gpu must be one of h100, h200, a100, l40s, a10g or l4"),
        (
            ["plan", "--pool", "pool.jsonl", "--feature-dtype", "int4"],
            "--feature-dtype must be one of float32, float16, int8 or bit, got 'int4'",
        ),
        (
            ["plan", "--pool", "pool.jsonl", "-r", "bm25"],
            "--representation must be one of embed, gradient, hidden or lexical, got 'bm25'",
        ),
        (["demo", "--task", "chess"], "--task must be one of all, math, dates or humaneval, got 'chess'"),
        (["demo", "-r", "bm25"], "--representation must be one of"),
        (["demo", "--method", "best"], "--method must be one of"),
        (["diagnose", "-s", "sel", "-r", "bm25"], "--representation must be one of"),
        (["explore", "sel", "-r", "bm25"], "--representation must be one of"),
        (["store", "compress", "a", "b", "--dtype", "float16"], "--dtype must be int8 or bit, got 'float16'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_closed_set_flags_are_refused_before_any_work(
    argv: list[str], expected: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in _refused(argv, workdir, capsys)


def test_an_output_file_gives_the_format(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-o sub.parquet`` writes Parquet (no --format needed); a --format it contradicts is refused
    before any work, as is a folder format for a file."""
    import pandas as pd

    assert main([*_SELECT[:-1], "sub.parquet", "-q"]) == 0
    assert pd.read_parquet(workdir / "sub.parquet").shape[0] == 2
    assert json.loads((workdir / "sub.selection.json").read_text())["budget"] == 2
    err = _refused([*_SELECT[:-1], "other.parquet", "--format", "jsonl"], workdir, capsys)
    assert err == "targetsel: error: other.parquet names a parquet file but the format is jsonl: " + (
        "leave out the format, or name a .jsonl file"
    )
    err = _refused([*_SELECT[:-1], "other.jsonl", "--format", "hf"], workdir, capsys)
    assert "the hf format writes a folder: give an output folder, not the file other.jsonl" in err


def test_every_device_flag_documents_cuda_n(capsys: pytest.CaptureFixture[str]) -> None:
    for verb in ("select", "train", "warmup", "evaluate"):
        assert main([verb, "--help"]) == 0
        assert "cuda:N" in capsys.readouterr().out, verb


# ------------------------------------------------------------------ models that are not there
@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--pool", "pool.jsonl", "-m", "nobody/not-a-model"],
        ["evaluate", "-m", "nobody/not-a-model", "--query", "q.jsonl", "-o", "e.json"],
        ["train", "pool.jsonl", "-m", "nobody/not-a-model", "-o", "out"],
        ["warmup", "--pool", "pool.jsonl", "-m", "nobody/not-a-model", "-o", "out"],
        [*_SELECT[:-4], "-r", "hidden", "-m", "nobody/not-a-model", "-o", "out"],
        ["encode", "pool.jsonl", "-r", "embed", "-m", "nobody/not-a-model", "-s", "st"],
    ],
    ids=lambda v: v[0],
)
def test_a_model_neither_local_nor_cached_is_one_line_offline(
    argv: list[str], workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(workdir / "hub"))
    err = _refused(argv, workdir, capsys)
    assert err == (
        "targetsel: error: model 'nobody/not-a-model' not found: no folder ./nobody/not-a-model and not in the hub "
        f"cache {workdir / 'hub'}; fetch it with `hf download nobody/not-a-model`, or set HF_HUB_OFFLINE=0 with "
        "network access"
    )


def test_a_cached_model_passes_the_check_and_paths_are_checked(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    from targetsel.errors import MissingArtifactError
    from targetsel.models import check_model_available, load_tokenizer

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(workdir / "hub"))
    (workdir / "hub" / "models--org--cached" / "snapshots" / "abc").mkdir(parents=True)
    (workdir / "hub" / "models--sentence-transformers--mini" / "snapshots" / "abc").mkdir(parents=True)
    check_model_available("org/cached")
    check_model_available("mini")  # sentence-transformers resolves a bare name in its organisation
    check_model_available(str(workdir))  # a local folder
    with pytest.raises(MissingArtifactError, match=r"^model 'org/other' not found: .*hf download org/other"):
        load_tokenizer("org/other")  # the library path says the same, before transformers tries
    assert "no folder ./nope;" in _refused(["plan", "--pool", "pool.jsonl", "-m", "./nope"], workdir, capsys)
    assert "is a file; give a model folder" in _refused(
        ["plan", "--pool", "pool.jsonl", "-m", "q.jsonl"], workdir, capsys
    )


# ------------------------------------------------------------------ unreadable data files
def _table_files(root: Path) -> dict[str, Path]:
    import datasets

    good = root / "good"
    ds = datasets.Dataset.from_list([{"prompt": f"p{i}", "completion": "c"} for i in range(2000)])
    ds.to_parquet(str(root / "good.parquet"))
    ds.save_to_disk(str(good))
    arrow = next(good.glob("*.arrow")).read_bytes()
    parquet = (root / "good.parquet").read_bytes()
    files = {
        "empty.parquet": b"",
        "garbage.parquet": bytes(range(256)) * 4,
        "truncated.parquet": parquet[: len(parquet) // 2],
        "empty.arrow": b"",
        "garbage.arrow": b'{"prompt": "a", "completion": "b"}\n' * 20,
        "head.arrow": arrow[:100],
        "truncated.arrow": arrow[: int(len(arrow) * 0.9)],
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "good.parquet").unlink()
    import shutil

    shutil.rmtree(good)
    return {name: root / name for name in files}


@pytest.mark.parametrize("flag", ["--pool", "--query"])
def test_a_broken_parquet_or_arrow_file_is_one_line(
    flag: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _table_files(workdir / "bad")
    capsys.readouterr()  # making the files may draw datasets' own bar; only the command's output counts
    for name in files:
        argv = [*_SELECT, flag, f"bad/{name}"]
        kind = "Parquet" if name.endswith(".parquet") else "Arrow"
        err = _refused(argv, workdir, capsys)
        assert err.startswith(f"targetsel: error: bad/{name}: not a readable {kind} file ("), err


def test_broken_table_files_print_no_library_log_lines(tmp_path: Path, cli_in_fresh_process) -> None:
    """Whole file descriptor 2 of a fresh process: the error line and nothing from ``datasets``."""
    import os

    _inputs(tmp_path)
    files = _table_files(tmp_path)
    runs = []
    for name in ("empty.parquet", "garbage.parquet", "truncated.arrow"):
        for quiet in ([], ["--quiet"]):
            runs.append(
                [
                    "select",
                    "--pool",
                    str(files[name]),
                    "--query",
                    str(tmp_path / "q.jsonl"),
                    "-b",
                    "1",
                    "-r",
                    "lexical",
                    "--no-store",
                    "-o",
                    str(tmp_path / "out"),
                    *quiet,
                ]
            )
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf"), "TARGETSEL_CACHE": str(tmp_path / "c")}
    for argv, (rc, err) in zip(runs, cli_in_fresh_process(runs, env, timeout=300), strict=True):
        assert rc == 2 and err.count("\n") == 1 and "not a readable" in err, (argv, err)
    assert not (tmp_path / "out").exists()


def test_quiet_silences_every_third_party_log_line(workdir: Path) -> None:
    import logging

    from targetsel.progress import THIRD_PARTY, set_quiet

    try:
        set_quiet(True)
        for name in THIRD_PARTY:
            assert not logging.getLogger(name).isEnabledFor(logging.ERROR), name
        assert os.environ["HF_HUB_VERBOSITY"] == "critical"
    finally:
        set_quiet(False)
    assert logging.getLogger("datasets").isEnabledFor(logging.ERROR)


def test_a_folder_or_unreadable_file_where_a_file_is_expected(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "folder.jsonl").mkdir()
    (workdir / "exp").mkdir()
    err = _refused([*_SELECT, "--pool", "folder.jsonl"], workdir, capsys)
    assert "folder.jsonl: not a saved `datasets` directory" in err
    assert _refused(["experiment", "run", "exp"], workdir, capsys).endswith(
        "exp is a folder; give the experiment's YAML file"
    )
    err = _refused(["plan", "--pool", "pool.jsonl", "-r", "lexical", "--gpu-bench", "exp"], workdir, capsys)
    assert err.endswith("--gpu-bench exp: a folder, not a gpu_bench.py --json file")
    (workdir / "empty.yaml").write_text("")
    assert "empty.yaml: the file is empty" in _refused(["experiment", "run", "empty.yaml"], workdir, capsys)
    if os.geteuid() != 0:  # root reads any file
        locked = workdir / "locked.jsonl"
        locked.write_text('{"prompt": "a", "completion": "b"}\n')
        locked.chmod(0)
        try:
            assert "locked.jsonl: cannot read" in _refused([*_SELECT, "--pool", "locked.jsonl"], workdir, capsys)
        finally:
            locked.chmod(0o600)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a: [1, 2\nb: x\n", "bad.yaml: not valid YAML (line 2, column 2: expected ',' or ']', but got ':')"),
        (
            "a: b\n\tc: d\n",
            "bad.yaml: not valid YAML (line 2, column 1: found character '\\t' that cannot start any token)",
        ),
        ('model: "open\n', "bad.yaml: not valid YAML (line 2, column 1: found unexpected end of stream)"),
        ("a: \x01\n", "bad.yaml: not valid YAML (character #x0001 at offset 3: special characters are not allowed)"),
    ],
)
def test_invalid_yaml_is_one_line_with_line_and_column(
    text: str, expected: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "bad.yaml").write_text(text)
    assert _refused(["experiment", "run", "bad.yaml", "-o", "out"], workdir, capsys) == f"targetsel: error: {expected}"


def test_refusals_that_came_after_loading_the_model_come_first(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import targetsel.models as models

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(models, "load_model_and_tokenizer", no_loading)
    evaluate = ["evaluate", "-m", "smollm2-135m", "--query", "q.jsonl", "-o", "e.json"]
    err = _refused([*evaluate, "--task", "humaneval", "--metrics", "true_metric"], workdir, capsys)
    assert err.endswith("pass --allow-code-execution (in a sandbox), or --metrics without true_metric")
    err = _refused([*evaluate, "--max-length", "1"], workdir, capsys)
    assert err == "targetsel: error: --max-length must be at least 2, got 1"


def test_an_unknown_log_level_is_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARGETSEL_LOG", "verbose")
    err = _refused(_SELECT, workdir, capsys)
    assert (
        err == "targetsel: error: TARGETSEL_LOG must be one of DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'verbose'"
    )


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_corrupt_model_weights_are_one_line(
    damage: str, tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model folder whose weights file is garbage, empty or cut short: one line naming it, exit 2."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_llama_dir, model)
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"garbage": b"garbage" * 10, "empty": b"", "truncated": data[: len(data) // 2]}[damage])
    q = tmp_path / "q.jsonl"
    q.write_text('{"prompt": "add 2 and 3", "completion": "5"}\n', encoding="utf-8")
    out = tmp_path / "e.json"
    argv = ["evaluate", "-m", str(model), "--query", str(q), "--metrics", "dev_loss", "-o", str(out), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("targetsel: error: cannot load the weights of"), err
    assert "SafetensorError" in err and "fetch or save them again" in err
    assert not out.exists()
