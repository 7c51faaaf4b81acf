"""`targetsel select --method uot|knn_uniform|knn_kde|quantiles` end to end on the bundled demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from targetsel.cli import main


def _run(tmp_path: Path, *args: str) -> int:
    return main(["select", "-r", "lexical", "--no-store", "--quiet", "-o", str(tmp_path / "out"), *args])


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("uot", ["--method-param", "reg_m_query=inf", "--method-param", "reg_m_candidate=1e-4"]),
        ("knn_uniform", ["--method-param", "alpha=0.01", "--method-param", "C=5"]),
        ("knn_kde", ["--method-param", "sigma=0.75", "--method-param", "kde_neighbors=200"]),
    ],
)
def test_methods_write_one_subset_per_budget(tmp_path: Path, method: str, params: list[str]) -> None:
    assert _run(tmp_path, "--method", method, "--budgets", "20,50", *params) == 0
    picks = {}
    for b in (20, 50):
        folder = tmp_path / "out" / f"budget-{b}"
        rows = (folder / "subset.jsonl").read_text().splitlines()
        meta = json.loads((folder / "selection.json").read_text())
        assert len(rows) == b and meta["method"] == method and meta["budget"] == b
        assert all("mass" in p for p in meta["picks"])
        picks[b] = [p["index"] for p in meta["picks"]]
    assert picks[50][:20] == picks[20]  # one ranking serves every budget


def test_quantiles_default_budget_is_q_times_n(tmp_path: Path) -> None:
    assert _run(tmp_path, "--method", "quantiles", "--method-param", "q=4", "--method-param", "n=5") == 0
    meta = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert meta["budget"] == 20
    assert [p["quantile"] for p in meta["picks"]] == [b for b in range(4) for _ in range(5)]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method", "knn_uniform", "--method-param", "alpha=2"], "alpha"),
        (["--method", "uot", "--method-param", "solver=magic"], "solver"),
        (["--method", "quantiles", "--method-param", "q=0"], "q must be"),
        (["--method", "knn_kde", "--method-param", "bogus=1"], "bad parameters"),
    ],
)
def test_bad_method_parameters_exit_2(
    tmp_path: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, "--budget", "5", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not (tmp_path / "out").exists()
