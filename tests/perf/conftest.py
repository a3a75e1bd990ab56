"""The performance guards import the benchmark suite, which lives at the repository root.

``python -m pytest`` has the working directory on ``sys.path`` but a bare ``pytest`` does
not, so the root is added here.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPOSITORY = str(Path(__file__).resolve().parents[2])
if REPOSITORY not in sys.path:
    sys.path.insert(0, REPOSITORY)
