"""Command line of the demo-data generator: ``python -m tools.demo_data [--check] [--out DIR] [--seed N]``.

Run from the repository root. Without ``--check`` it rewrites the shipped files (atomically);
with it, it only compares them and exits 1 when one differs.

Example:
    >>> # python -m tools.demo_data --check
    >>> # up to date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.demo_data.assemble import DATA_DIR, DEFAULT_SEED, render_demo_files, write_demo_data


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with ``--check`` compare) the bundled demo data; the exit status.

    Example:
        >>> # main(["--check"])  # 0 when the shipped files are up to date
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo_data", description="Regenerate the bundled targetsel demo data."
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="data directory (default: the package's)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="master seed")
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)
    if args.check:
        files = render_demo_files(args.seed)
        stale = [
            rel
            for rel, text in files.items()
            if not (args.out / rel).is_file() or (args.out / rel).read_text(encoding="utf-8") != text
        ]
        for rel in stale:
            print(f"stale: {args.out / rel}")
        print("up to date" if not stale else f"{len(stale)} file(s) differ; run python -m tools.demo_data")
        return 1 if stale else 0
    files = write_demo_data(args.out, args.seed)
    for rel, text in files.items():
        print(f"{rel}: {text.count(chr(10))} rows, {len(text.encode('utf-8'))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
