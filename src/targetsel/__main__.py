"""``python -m targetsel`` runs the command line."""

from __future__ import annotations

import sys

from targetsel.cli import main

if __name__ == "__main__":
    sys.exit(main())
