#!/usr/bin/env bash
# Everything a GPU check does, in one command (under 8 minutes on one H100/H200):
#   1. shows the device and the PyTorch stack;
#   2. runs the GPU tests (pytest -m gpu);
#   3. times compressed scoring on the device (bench/stored_device_bench.py: int8 and 1-bit rows sent
#      as stored and decoded there, against host-decoded float32 rows) and a 2-rank select pass
#      sharing the device (torchrun bench/ranks_bench.py --device cuda);
#   4. runs bench/gpu_bench.py at 1b (seq 512 and 2048, fast vs exact, scoring), then at 7b
#      (seq 2048) if time remains;
#   5. writes logs and JSON under OUT, and OUT/summary.json with every figure.
# Works offline on a preinstalled stack (torch, transformers, peft, accelerate, numpy, pytest...):
# the project runs from src/ on PYTHONPATH, and bench/wheels/ (bench/make_device_wheels.sh) is
# installed with --no-index when present. The same script runs on a CPU-only machine (the GPU
# tests skip, the bench runs --size tiny on the CPU).
# Usage: bench/device_check.sh OUT [BUDGET_SECONDS]   (default budget 450)
set -uo pipefail
OUT=${1:?usage: bench/device_check.sh OUT [BUDGET_SECONDS]}
BUDGET=${2:-450}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
log() { echo "[device_check $(($(date +%s) - START))s] $*" | tee -a "$OUT/device_check.log"; }
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1 PYTHONUNBUFFERED=1
if [ -d bench/wheels ] && ls bench/wheels/*.whl >/dev/null 2>&1; then
  log "installing bench/wheels (offline)"
  python -m pip install -q --no-index --no-deps bench/wheels/*.whl >>"$OUT/device_check.log" 2>&1 || log "wheel install failed"
fi
log "device"
{ nvidia-smi 2>&1 || echo "no nvidia-smi"
  python -c "import torch, transformers, peft; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'peft', peft.__version__); print('device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
} >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt" | tee -a "$OUT/device_check.log"
CUDA=$(python -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
log "pytest -m gpu"
timeout 200 python -m pytest -m gpu tests/gpu -q -p no:cacheprovider -o addopts="" -ra >"$OUT/pytest_gpu.log" 2>&1
echo "rc=$?" >>"$OUT/pytest_gpu.log"
tail -15 "$OUT/pytest_gpu.log" | tee -a "$OUT/device_check.log"
DEV=$([ "$CUDA" = 1 ] && echo cuda || echo cpu)
log "compressed scoring on $DEV"
timeout 90 python bench/stored_device_bench.py --device "$DEV" --rows $([ "$CUDA" = 1 ] && echo 1000000 || echo 50000) \
  >"$OUT/stored_device.log" 2>&1
tail -1 "$OUT/stored_device.log" | grep '^{' >"$OUT/stored_device.json" || rm -f "$OUT/stored_device.json"
tail -3 "$OUT/stored_device.log" | tee -a "$OUT/device_check.log"
log "2-rank select pass on one $DEV device"
timeout 120 python -m torch.distributed.run --nnodes 1 --nproc-per-node 2 --master-addr 127.0.0.1 --master-port 29533 \
  bench/ranks_bench.py --rows 61440 --device "$DEV" >"$OUT/ranks_2.log" 2>&1
tail -1 "$OUT/ranks_2.log" | grep '^{' >"$OUT/ranks_2.json" || rm -f "$OUT/ranks_2.json"
tail -2 "$OUT/ranks_2.log" | tee -a "$OUT/device_check.log"
if [ "$CUDA" = 1 ]; then
  log "gpu_bench 1b"
  timeout $(( $(left) > 60 ? $(left) - 30 : 30 )) python bench/gpu_bench.py --size 1b --json "$OUT/gpu_bench_1b.json" >"$OUT/gpu_bench_1b.log" 2>&1
  tail -6 "$OUT/gpu_bench_1b.log" | tee -a "$OUT/device_check.log"
  if [ "$(left)" -gt 150 ]; then
    log "gpu_bench 7b"
    timeout $(( $(left) - 20 )) python bench/gpu_bench.py --size 7b --seqs 2048 --exact-seqs 128,2048 --no-score \
      --json "$OUT/gpu_bench_7b.json" >"$OUT/gpu_bench_7b.log" 2>&1
    tail -6 "$OUT/gpu_bench_7b.log" | tee -a "$OUT/device_check.log"
  else
    log "skipping 7b: $(left)s left"
  fi
else
  log "no CUDA: gpu_bench --size tiny --device cpu"
  timeout 120 python bench/gpu_bench.py --size tiny --device cpu --json "$OUT/gpu_bench_tiny.json" >"$OUT/gpu_bench_tiny.log" 2>&1
  tail -3 "$OUT/gpu_bench_tiny.log" | tee -a "$OUT/device_check.log"
fi
python - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
names = ["gpu_bench_*.json", "stored_device.json", "ranks_2.json"]
summary = {p.stem: json.loads(p.read_text()) for n in names for p in sorted(out.glob(n))}
tests = (out / "pytest_gpu.log").read_text().strip().splitlines()
summary["pytest_gpu"] = next((l for l in reversed(tests) if " passed" in l or " failed" in l or " skipped" in l), tests[-1] if tests else "")
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
PY
log "done in $(($(date +%s) - START))s"
