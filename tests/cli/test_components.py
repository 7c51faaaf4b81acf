"""``targetsel components`` and the generated lists of representations and methods in help pages."""

from __future__ import annotations

import json

import pytest

from targetsel.cli import main
from targetsel.cli.components import KINDS, registry_of
from targetsel.params.describe import compact_params


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one component per help line


def test_json_describes_every_registered_component(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert list(described) == list(KINDS) == ["representations", "selectors", "projectors"]
    for kind, components in described.items():
        assert list(components) == registry_of(kind).names()
        for name, info in components.items():
            assert info["label"] == registry_of(kind).get(name).label
            assert {"label", "summary", "class", "params"} == set(info)
    uot = {p["name"]: p for p in described["selectors"]["uot"]["params"]}
    assert uot["reg_m_query"] == {
        "name": "reg_m_query",
        "type": "a number",
        "default": "inf",  # JSON has no infinity: the text --method-param takes
        "required": False,
        "help": "KL penalty on the query marginal (inf: exact).",
    }
    assert described["representations"]["gradient"]["label"] == "LESS"
    assert described["selectors"]["quantiles"]["label"] == "RR"


def test_tables_one_kind_and_one_component(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "representations", "lexical"]) == 0
    out = capsys.readouterr().out
    assert "lexical (LEXICAL): Signed feature hashing of word unigrams and bigrams." in out
    assert "Number of hash buckets." in out and "4096" in out
    assert "embed" not in out.replace("-p key=value", "")  # only the one asked for
    assert main(["components", "selectors"]) == 0
    out = capsys.readouterr().out
    assert "round_robin (RR)" in out and "no parameters" in out and "Projectors" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["components", "methods"], "KIND must be one of representations, selectors or projectors, got 'methods'"),
        (["components", "selectors", "rr"], "unknown selection method 'rr'; choose one of doubly_greedy"),
    ],
)
def test_unknown_kind_or_name_is_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_help_pages_list_the_registered_components(capsys: pytest.CaptureFixture[str]) -> None:
    reps, methods = registry_of("representations"), registry_of("selectors")
    assert main(["select", "--help"]) == 0
    out = capsys.readouterr().out
    for name in methods.names():
        assert f"{name} ({methods.get(name).label}): " in out
    assert f"uot (UOT): {compact_params(methods.get('uot'))}" in out
    assert "lexical (LEXICAL): dim=4096, ngram=2" in out
    assert "embed, gradient, hidden or lexical (their parameters: above)" in out
    assert main(["encode", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name} ({reps.get(name).label}): " in out for name in reps.names())
    assert "Selectors" not in out
    assert main(["components", "--help"]) == 0
    assert "Examples" in capsys.readouterr().out


def test_plan_help_lists_only_plannable_representations(capsys: pytest.CaptureFixture[str]) -> None:
    from targetsel.plan import plan_representations

    reps = registry_of("representations")
    assert main(["plan", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name} ({reps.get(name).label}): " in out for name in plan_representations())
    assert "gradient (LESS): model=smollm2-135m" in out
