"""The determinism checks under every OpenBLAS kernel this CPU can run.

OpenBLAS picks a kernel by CPU (``OPENBLAS_CORETYPE`` overrides it), and kernels round sums
differently: a suite that passes on one machine can fail on the next. Each kernel the CPU
supports runs ``blas_kernel_check.py`` in its own subprocess, so the next machine's kernel has
already been tried here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: OpenBLAS x86-64 kernels and the CPU flags each needs (oldest first). A build may run another
#: kernel for some names (e.g. Katmai for Prescott, SkylakeX for Cooperlake): those are still
#: checked, under the kernel that ran; the names in ``EXACT`` must run as asked.
EXACT = {"Sandybridge", "Haswell", "SkylakeX"}
KERNELS = {
    "Prescott": {"sse3"},
    "Nehalem": {"ssse3", "sse4_2"},
    "Sandybridge": {"avx"},
    "Haswell": {"avx2", "fma"},
    "SkylakeX": {"avx512f", "avx512bw", "avx512dq", "avx512vl"},
    "Cooperlake": {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16"},
}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _supported() -> list[str]:
    flags = _cpu_flags()
    flags |= {"sse3"} if "pni" in flags else set()  # /proc/cpuinfo calls SSE3 "pni"
    return [name for name, need in KERNELS.items() if need <= flags]


SUPPORTED = _supported()


@pytest.mark.skipif(not SUPPORTED, reason="no x86-64 CPU flags found (/proc/cpuinfo): OpenBLAS kernels not selectable")
# The most capable kernel runs by default; the older ones with the slow tests (.ci/slow).
@pytest.mark.parametrize(
    "kernel", [pytest.param(k, marks=() if k == SUPPORTED[-1] else pytest.mark.slow) for k in SUPPORTED] or ["none"]
)
def test_determinism_under_each_openblas_kernel(kernel: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_CORETYPE"] = kernel
    env["TQDM_DISABLE"] = "1"
    script = Path(__file__).with_name("blas_kernel_check.py")
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    lines = proc.stdout.splitlines()
    assert lines and lines[0].startswith("kernel"), proc.stdout + proc.stderr[-3000:]
    ran = lines[0].split(" ", 1)[1].lower()
    assert proc.returncode == 0, f"under OpenBLAS kernel {ran}:\n" + "\n".join(lines[1:]) + proc.stderr[-3000:]
    if kernel in EXACT:
        assert kernel.lower() in ran, f"OpenBLAS ran {ran!r}, not the requested {kernel}"
