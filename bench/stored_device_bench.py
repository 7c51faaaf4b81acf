"""Compressed stores on the device path: stored bytes sent and decoded there, against decoded rows sent.

Builds int8 and 1-bit compressed features (``--rows`` × ``--dim``, seeded Gaussian rows) and scores
``--queries`` float32 queries against them on the device path (one full pass, every score kept) twice per dtype:
the rows as stored (int8 values or packed sign bits plus one float32 scale per row, decoded on the
device: :mod:`targetsel.score.cuda`), and the baseline, in the same run: the same source hiding its
stored form, so the host decodes each chunk and float32 rows travel (what the device path did before).
It counts the bytes each path read from the source (what is copied to the device), checks the two
give the same scores bit for bit, and takes the best of ``--repeat`` timings.

On a CPU (``--device cpu``: torch on the CPU, the path the tests run) the copy is a memcpy, so the
time ratio mostly shows the decode moving from numpy to torch; on a GPU it includes the PCIe copy.

Last line: one JSON object with, per dtype, ``bytes_moved_over_stored`` (1.0: only stored bytes
travel), ``float32_bytes_over_moved`` (the saving), ``stored_s``, ``host_decoded_s``,
``host_decoded_over_stored`` and ``identical``; and ``rows``, ``dim``, ``queries``, ``device``.

Usage:
    python bench/stored_device_bench.py --device cpu --rows 100000
    python bench/stored_device_bench.py --device cuda --rows 1000000 --dim 1024
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from targetsel.progress import set_quiet
from targetsel.score.cuda import blocks_cuda
from targetsel.score.passes import ScorePass
from targetsel.store import EncodedFeatures, InMemoryFeatures


class _Counted:
    """A compressed source that counts what it hands out; ``stored=False`` hides its stored form."""

    def __init__(self, base: EncodedFeatures, stored: bool) -> None:
        self.base, self.num_rows, self.dim, self.manifest = base, base.num_rows, base.dim, base.manifest
        self.bytes = 0
        if stored:
            self.codec = base.codec

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        data, aux = self.base.read_encoded(start, stop)
        self.bytes += data.nbytes + aux.nbytes
        return data, aux

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        rows = self.base.read_rows(start, stop)
        self.bytes += rows.nbytes
        return rows

    def iter_chunks(self, chunk_rows: int) -> Any:
        return self.base.iter_chunks(chunk_rows)

    def to_array(self) -> np.ndarray:
        return self.base.to_array()


def _timed(q: np.ndarray, src: _Counted, device: str, repeat: int) -> tuple[float, np.ndarray, int]:
    """Best time of a full pass of the device path (torch on ``device``), its scores and the bytes read."""
    best, moved = float("inf"), 0
    out = np.empty((q.shape[0], src.num_rows), np.float32)
    for _ in range(repeat):
        src.bytes = 0
        p = ScorePass.create([InMemoryFeatures(q)], [src], device=device, out=out)  # type: ignore[list-item]
        t = time.perf_counter()
        for _block in blocks_cuda(p):
            pass
        best = min(best, time.perf_counter() - t)
        moved = src.bytes
    return best, out, moved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    set_quiet(True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    out: dict[str, Any] = {"rows": args.rows, "dim": args.dim, "queries": args.queries, "device": args.device}
    for dtype in ("int8", "bit"):
        enc = EncodedFeatures.from_float(x, dtype)
        data, aux = enc.read_encoded(0, enc.num_rows)
        stored_bytes = data.nbytes + aux.nbytes
        stored_s, a, moved = _timed(q, _Counted(enc, stored=True), args.device, args.repeat)
        host_s, b, host_moved = _timed(q, _Counted(enc, stored=False), args.device, args.repeat)
        identical = bool(np.array_equal(a, b))
        out[dtype] = {
            "bytes_moved_over_stored": round(moved / stored_bytes, 4),
            "float32_bytes_over_moved": round(host_moved / moved, 2),
            "stored_s": round(stored_s, 3),
            "host_decoded_s": round(host_s, 3),
            "host_decoded_over_stored": round(host_s / stored_s, 2),
            "identical": identical,
        }
        print(f"{dtype}: stored {stored_s:.2f} s ({moved:,} bytes), host-decoded {host_s:.2f} s "
              f"({host_moved:,} bytes), identical {identical}", file=sys.stderr)  # fmt: skip
    print(json.dumps(out))
    return 0 if all(out[d]["identical"] for d in ("int8", "bit")) else 1


if __name__ == "__main__":
    sys.exit(main())
