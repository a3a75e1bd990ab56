"""The app side of the real-X-server measurement: the main window on a real display.

Started by ``benchmarks.xserver`` with ``DISPLAY`` naming an Xvfb server. It opens the
window as the app does (no offscreen platform), waits for the first trace to be painted,
then prints one JSON line with the screen rectangles of the watched panels and of the
source editor, and runs the event loop. Every painted trace adds a JSON line with its
text length and forward time, so the driver can subtract the forward from what it saw
on the screen. It ends when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

# Before window_child is imported (it defaults the platform to offscreen): a real display.
os.environ["QT_QPA_PLATFORM"] = "xcb"

from .window_child import LOAD_TIMEOUT_S, WINDOW_SIZE, Painted, build_window, wait_for_paint, wait_until  # noqa: E402


def say(message: dict) -> None:
    print(json.dumps(message), flush=True)


def screen_rect(widget) -> list[int]:
    from PySide6.QtCore import QPoint

    corner = widget.mapToGlobal(QPoint(0, 0))
    return [corner.x(), corner.y(), widget.width(), widget.height()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--tokens", type=int, default=0)
    args = parser.parse_args(argv)
    from PySide6.QtCore import QTimer

    from explorer.app import _application

    app = _application()
    app.setCursorFlashTime(0)  # a blinking cursor would read as a change on the screen
    window, watch = build_window(app)
    window.move(0, 0)
    painted = Painted(window)
    if args.tokens:
        from model.tokenization import TextTokenizer

        from .common import text_of_tokens, tokenizer_file

        text = text_of_tokens(TextTokenizer.from_file(tokenizer_file(), 1 << 20), args.tokens)
        window.input_panel.source.setPlainText(text)
    window.show()
    # 1 ms ticks keep the waits below responsive without a busy loop.
    ticker = QTimer()
    ticker.start(1)
    load_start = time.perf_counter()
    window.open_checkpoint(args.checkpoint)
    if not wait_until(app, lambda: window.model is not None, LOAD_TIMEOUT_S):
        say({"error": "the model did not load"})
        return 1
    first = wait_for_paint(app, painted, watch, window.input_panel.source.toPlainText(), load_start, LOAD_TIMEOUT_S)
    if first is None:
        say({"error": "the first trace was never painted"})
        return 1
    ticker.stop()
    window.controller.trace_ready.connect(
        lambda result: say(
            {"event": "trace", "chars": len(result.request.text), "forward_ms": result.forward_ms, "at": time.time()}
        )
    )
    window.trace_painted.connect(lambda result: say({"event": "painted", "chars": len(result.request.text), "at": time.time()}))
    editor = window.input_panel.source
    say(
        {
            "event": "ready",
            "window": int(window.winId()),
            "size": list(WINDOW_SIZE),
            "editor": screen_rect(editor.viewport()),
            "regions": {name: screen_rect(watch.widgets[name]) for name in watch.visible()},
            "tokens": len(first[1].trace.encoder if first[1].trace.encoder is not None else first[1].trace.decoder),
            "model": window.model.description,
        }
    )

    # The driver closes stdin when it is done: quit then.
    def wait_for_eof() -> None:
        from PySide6.QtCore import QMetaObject, Qt

        sys.stdin.read()
        QMetaObject.invokeMethod(app, "quit", Qt.ConnectionType.QueuedConnection)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    app.exec()
    window.controller.stop(60_000)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
