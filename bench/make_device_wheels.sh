#!/usr/bin/env bash
# Download, on a machine with package-registry access, the few wheels an offline GPU machine with a
# preinstalled PyTorch stack lacks for the test suite (datasets and its small dependencies,
# threadpoolctl): bench/wheels/, about 2 MB. bench/device_check.sh installs them with --no-index.
# The gradient engine and bench/gpu_bench.py need none of them.
# Usage: bench/make_device_wheels.sh [PYTHON_VERSION]   (default 3.12)
set -euo pipefail
cd "$(dirname "$0")"
py=${1:-3.12}
rm -rf wheels && mkdir wheels
pip download --no-deps -q -d wheels --python-version "$py" --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  "datasets>=2.19" dill multiprocess xxhash fsspec threadpoolctl
du -sh wheels
