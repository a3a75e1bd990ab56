"""PySide6's import hook passes torch and numpy without reading their sources, with the
answer its source scan would give; other modules are still scanned."""

from __future__ import annotations

import json
import subprocess
import sys
import types

from explorer import pyside_import_hook
from explorer.pyside_import_hook import NO_PYSIDE, skip_known_packages

FRESH = """
import json, linecache, sys
import PySide6.QtCore
from explorer.pyside_import_hook import skip_known_packages
told = skip_known_packages()
import torch, numpy, pyqtgraph, wave  # wave: a standard module nothing here imports before
feature = sys.modules["shibokensupport.feature"]
answers = feature.pyside_feature_dict
skipped = sorted(name for name in answers if name.partition(".")[0] in {"torch", "numpy"})
torch_sources_read = sum(1 for path in linecache.cache if "/torch/" in path)
scan = feature._mod_uses_pyside.scan
sample = [sys.modules[name] for name in skipped[::25] if name in sys.modules]
print(json.dumps({
    "told": told,
    "again": skip_known_packages(),
    "skipped": len(skipped),
    "skipped_answers": sorted({answers[name] for name in skipped}),
    "scanned_sample": [scan(module) for module in sample],
    "torch_sources_read": torch_sources_read,
    "pyqtgraph_qt": answers.get("pyqtgraph.Qt"),
    "wave": [answers.get("wave"), any(path.endswith("/wave.py") for path in linecache.cache)],
}))
"""


def test_torch_and_numpy_pass_the_hook_unread_with_the_answer_a_scan_gives() -> None:
    done = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=300, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["told"] and seen["again"]
    assert seen["skipped"] > 300  # torch and numpy modules the hook saw
    assert seen["skipped_answers"] == [-1]  # "ignore this module", as the source scan says
    assert seen["scanned_sample"] and not any(seen["scanned_sample"])
    # Torch reads a few of its own sources; the hook used to read every one (~600).
    assert seen["torch_sources_read"] < 30
    assert seen["pyqtgraph_qt"] == 0  # mentions PySide6: still scanned, and found
    assert seen["wave"] == [-1, False]  # the standard library passes unread too


def test_a_pyside_without_the_hook_is_left_alone(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, pyside_import_hook._FEATURE_MODULE, types.ModuleType("elsewhere"))
    assert skip_known_packages() is False


def test_only_packages_that_never_use_pyside_are_skipped() -> None:
    assert {"torch", "numpy", "json", "inspect"} <= NO_PYSIDE
    assert not NO_PYSIDE & {"explorer", "pyqtgraph", "PySide6", "shiboken6", "__main__"}
