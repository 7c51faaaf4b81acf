"""Every ``>>>`` example in the package's docstrings runs (skipped ones say ``# doctest: +SKIP``).

One test per module, so a failing example names its module. Examples run in a temporary working
directory (some write files) with the repository root importable, as a user would run them.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import targetsel

_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(targetsel.__path__, prefix="targetsel.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    tests = [t for t in tests if t.examples]
    if not tests:
        pytest.skip(f"{name} has no examples")
    monkeypatch.chdir(tmp_path)
    failed = [t.name for t in tests if _failures(t)]
    assert not failed, f"failing docstring examples (run them with python -m doctest -v): {failed}"


def _failures(test: doctest.DocTest) -> int:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda _text: None)
    return runner.failures
