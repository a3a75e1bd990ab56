"""Run as a script: the real app (``run_app``) is closed while a forward is still running.

Usage: ``python close_during_forward.py CHECKPOINT SECONDS``. Once the checkpoint is
loaded, every forward is made to take ``SECONDS`` (a large model on a CPU); an edit
starts one, and the window is closed as soon as it runs. The script prints one JSON line
``{"close_started": <time.time()>}`` when it closes the window, then leaves through
``run_app`` exactly as the app does: its exit code is the app's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer import app as app_module  # noqa: E402


def main() -> int:
    checkpoint, seconds = sys.argv[1], float(sys.argv[2])
    forward_started: list[float] = []

    def slow(trace):
        def run(*args, **kwargs):
            forward_started.append(time.perf_counter())
            result = trace(*args, **kwargs)
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:  # busy on the worker thread, as a forward is
                pass
            return result

        return run

    def close_once_running(window) -> None:
        if not forward_started:
            QTimer.singleShot(5, lambda: close_once_running(window))
            return
        print(json.dumps({"close_started": time.time()}), flush=True)
        window.close()

    def on_model_loaded(window) -> None:
        model = window.controller._worker._model  # the worker is idle between jobs
        model.trace = slow(model.trace)
        window.input_panel.source.setPlainText("sort: owl cat fig")
        close_once_running(window)

    def hook() -> None:
        window = next(
            widget for widget in QApplication.topLevelWidgets() if widget.objectName() == "attention-explorer-main-window"
        )
        window.model_changed.connect(lambda _info: on_model_loaded(window))
        window.controller.load_failed.connect(lambda _location, reason: fail(f"could not open the checkpoint: {reason}"))

    def fail(message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        os._exit(3)

    QTimer.singleShot(0, hook)
    QTimer.singleShot(60_000, lambda: fail("the scenario did not finish within 60 s"))
    args = argparse.Namespace(checkpoint=checkpoint, text=None, target=None, pair=None, device=None, screenshot=None)
    code = app_module.run_app(args)
    print(json.dumps({"run_app_returned": time.time()}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
