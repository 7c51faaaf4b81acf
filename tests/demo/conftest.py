"""The demo-data generator lives in ``tools/demo_data`` at the repository root, outside the package:
put the root on ``sys.path`` so these tests can import it however pytest was started."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
