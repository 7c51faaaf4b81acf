"""Fixtures of the CLI tests: running the CLI in a fresh Python process and reading its file descriptor 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

# Runs ``main(argv)`` for each argv of a JSON list, capturing file descriptor 2 itself (third-party
# bars and log lines write there, past ``sys.stderr``); prints ``[[rc, stderr], ...]`` as JSON.
_FD2_SCRIPT = r"""
import json, os, sys, tempfile
from targetsel.cli import main

def run(argv):
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(err.fileno(), 2)
        try:
            rc = main(argv)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return rc, err.read().decode("utf-8", "replace")

print(json.dumps([run(argv) for argv in json.loads(sys.argv[1])]))
"""


@pytest.fixture
def cli_in_fresh_process() -> Callable[..., list[Any]]:
    """``run(runs, env, timeout)``: each argv of ``runs`` through the CLI in one new process; ``[[rc, fd 2 text]]``."""

    def run(runs: list[list[str]], env: dict[str, str], timeout: float) -> list[Any]:
        proc = subprocess.run(
            [sys.executable, "-c", _FD2_SCRIPT, json.dumps(runs)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
