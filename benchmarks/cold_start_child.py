"""Cold start: from process start to the first painted window with the bundled model.

The parent starts this module as a fresh process and stops its clock when the line
``painted`` arrives: by then the window is shown, the bundled model loaded on the
worker, the example text traced and every visible panel has received its paint event.
The comparison is a process that only runs ``import torch, PySide6``.

    python -m benchmarks.cold_start_child
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    from explorer.app import _application, _quiet_offscreen_messages

    from .window_child import LOAD_TIMEOUT_S, Painted, build_window, wait_for_paint, wait_until

    _quiet_offscreen_messages()
    app = _application()
    window, watch = build_window(app)
    painted = Painted(window)
    window.show()
    start = time.perf_counter()
    window.open_checkpoint(None)
    if not wait_until(app, lambda: window.model is not None, LOAD_TIMEOUT_S):
        print("error: the bundled model did not load", flush=True)
        os._exit(1)
    if wait_for_paint(app, painted, watch, window.input_panel.source.toPlainText(), start, LOAD_TIMEOUT_S) is None:
        print("error: never painted", flush=True)
        os._exit(1)
    print("painted", flush=True)
    window.controller.stop(60_000)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
