"""Parameters on the command line: every mistake is one stderr line naming the parameter, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from targetsel.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))


def _select(tmp_path: Path, *args: str) -> int:
    return main(["select", "--task", "math", "--no-store", "--quiet", "-o", str(tmp_path / "out"), *args])


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ["-r", "lexical", "--param", "nosuch=1"],
            [
                "representation 'lexical'",
                "unknown parameter 'nosuch'",
                "valid parameters: dim, feature_dtype, ngram, text_turns",
            ],
        ),
        (["-r", "lexical", "--param", "dim=abc"], ["representation 'lexical'", "dim must be an integer, got 'abc'"]),
        (["-r", "lexical", "--param", "text_turns=all_of_them"], ["text_turns must be one of 'all', 'user'"]),
        (["-r", "lexical", "-m", "some-model"], ["unknown parameter 'model'", "valid parameters: dim"]),
        (["-r", "embed", "--param", "batch_size=true"], ["batch_size must be an integer, got True"]),
        (
            ["-r", "lexical", "--method-param", "nosuch=1"],
            ["method 'round_robin'", "unknown parameter 'nosuch'", "takes no parameters"],
        ),
        (
            ["-r", "lexical", "--method", "knn_uniform", "--method-param", "alfa=0.1"],
            ["unknown parameter 'alfa'", "valid parameters: C, alpha, max_neighbors"],
        ),
        (["-r", "lexical", "--method", "uot", "--method-param", "reg=fast"], ["reg must be a number, got 'fast'"]),
        (["-r", "lexical", "--method", "uot", "--method-param", "max_iter=1.5"], ["max_iter must be an integer"]),
        (["-r", "lexical", "--method", "quantiles", "--method-param", "focus=1"], ["focus must be true or false"]),
        (["-r", "lexical", "--method", "round_robin", "--seed", "3"], ["unknown parameter 'seed'"]),
    ],
)
def test_bad_parameters_exit_2_with_one_line(
    tmp_path: Path, args: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _select(tmp_path, "--budget", "5", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("targetsel: error: bad parameters for "), err
    for needle in needles:
        assert needle in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_encode_checks_representation_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from targetsel.demo import demo_pool_path

    rc = main(["encode", str(demo_pool_path()), "--store", str(tmp_path / "s"), "-r", "lexical", "-p", "ngrams=3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown parameter 'ngrams'" in err[0] and "ngram" in err[0]
    assert not (tmp_path / "s").exists()


def test_infinite_and_numeric_text_reach_the_selector_as_numbers(tmp_path: Path) -> None:
    args = ["-r", "lexical", "--method", "uot", "--budget", "5"]
    assert _select(tmp_path, *args, "--method-param", "reg_m_query=inf", "--method-param", "reg=5e-2") == 0
    meta = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert meta["params"]["reg_m_query"] == float("inf") and meta["params"]["reg"] == 0.05


def test_console_script_exit_status_and_no_traceback(tmp_path: Path) -> None:
    """The installed entry point as a new user runs it (a separate process: the real exit status)."""
    cmd = [sys.executable, "-m", "targetsel", "select", "--task", "math", "-r", "lexical", "--no-store", "-q"]
    proc = subprocess.run(
        [*cmd, "--param", "dim=abc", "-o", str(tmp_path / "o")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        == "targetsel: error: bad parameters for representation 'lexical': dim must be an integer, got 'abc'"
    )
