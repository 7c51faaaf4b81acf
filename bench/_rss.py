"""Resident memory of the running benchmark: now, and the highest seen while a block runs.

The benchmarks import it as a sibling module (``python bench/NAME.py`` puts ``bench/`` first on
``sys.path``).
"""

from __future__ import annotations

import threading


def rss_mb() -> float:
    """The process's resident set size in MB now (``VmRSS``; NaN where ``/proc`` has none)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class PeakSampler:
    """The highest RSS seen while the ``with`` block runs (sampled every 20 ms by a thread)."""

    def __enter__(self) -> PeakSampler:
        self.peak, self._stop = rss_mb(), threading.Event()

        def run() -> None:
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, rss_mb())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
