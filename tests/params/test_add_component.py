"""Adding a selector touches one file: the class below, registered, is everywhere a built-in is.

Nothing else is edited: ``targetsel components`` and ``targetsel select --help`` list it with its
label and its parameter (type, default and help read from the class), ``--method-param`` is
checked against its signature, experiment labels use its ``label``, and ``targetsel select``
runs it end to end on the bundled demo. The CLI runs in this process (``main``, what the console
script calls), so it sees the registration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.experiment.specs import AlgorithmSpec, method_label
from targetsel.score import FeatureViews, Scores
from targetsel.select.base import SELECTORS, Ranking, Selector


class EveryKth(Selector):
    """Every ``stride``-th candidate of the pool first, then the others, in pool order (a toy).

    Args:
        stride: Step between the first picks (1: the pool in order).
    """

    name = "toy_stride"
    label = "STRIDE"
    requires_scores = False  # it orders the pool by position only

    def __init__(self, stride: int = 2) -> None:
        self.stride = stride

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        n = scores.n_candidates if scores is not None else features.n_candidates  # type: ignore[union-attr]
        first = np.arange(0, n, self.stride)
        order = np.concatenate([first, np.setdiff1d(np.arange(n), first)])[:budget]
        return self._ranking(order, None, None, n)


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")  # help and tables unwrapped, one component per line
    import targetsel.select  # noqa: F401  (the built-ins first, as the CLI has them)

    with SELECTORS.registered(EveryKth):
        yield
    assert "toy_stride" not in SELECTORS


def test_it_is_listed_with_its_label_and_parameter(toy: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "selectors"]) == 0
    out = capsys.readouterr().out
    assert "toy_stride (STRIDE): Every stride-th candidate of the pool first" in out
    assert "Step between the first picks (1: the pool in order)." in out
    assert main(["components", "selectors", "toy_stride", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)["selectors"]["toy_stride"]
    assert described["label"] == "STRIDE" and described["class"] == f"{__name__}.EveryKth"
    assert described["params"] == [
        {
            "name": "stride",
            "type": "an integer",
            "default": 2,
            "required": False,
            "help": "Step between the first picks (1: the pool in order).",
        }
    ]
    assert main(["select", "--help"]) == 0
    out = capsys.readouterr().out
    assert "toy_stride (STRIDE): stride=2" in out
    assert "random, round_robin, toy_stride or uot (their parameters: above)" in out  # --method's choices too


def test_its_parameter_is_checked_in_one_line(toy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["select", "-r", "lexical", "--method", "toy_stride", "--budget", "5", "--no-store", "-q"]
    assert main([*base, "-o", str(tmp_path / "a"), "--method-param", "stride=abc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["targetsel: error: bad parameters for method 'toy_stride': stride must be an integer, got 'abc'"]
    assert main([*base, "-o", str(tmp_path / "b"), "--method-param", "strides=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown parameter 'strides'; valid parameters: stride" in err[0]


def test_experiment_labels_use_its_label(toy: None) -> None:
    assert method_label("lexical", "toy_stride") == "LEXICAL (STRIDE)"
    assert method_label("gradient", "round_robin") == "LESS (RR)"  # the built-ins' labels are unchanged
    spec = AlgorithmSpec.parse({"name": "toy_stride", "params": {"stride": 3}})
    assert (spec.display, spec.params) == ("STRIDE", {"stride": 3})


def test_select_runs_it_end_to_end_on_the_demo(toy: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["select", "--representation", "lexical", "--method", "toy_stride", "--budget", "5", "-o", str(out)]
    assert main([*argv, "--method-param", "stride=3", "--no-decontaminate", "--no-store", "--quiet"]) == 0
    record = json.loads((out / "selection.json").read_text())
    assert (record["method"], record["params"], record["budget"]) == ("toy_stride", {"stride": 3}, 5)
    assert [pick["index"] for pick in record["picks"]] == [0, 3, 6, 9, 12]
    assert len((out / "subset.jsonl").read_text().splitlines()) == 5
