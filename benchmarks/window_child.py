"""Keystroke-to-paint latency and GUI-thread stalls in the real main window (one child process).

The window is ``explorer.main_window.MainWindow`` as the app builds it, shown offscreen
at 1600 × 1000. Each keystroke (a letter, then a backspace, alternately, at the end of
the source text) is sent with ``QTest.keyClick``; its latency runs from just before the
key event until the window's ``trace_painted`` signal for that exact text and the last
paint event of a watched panel that the trace asked for: once the trace is painted, the
event loop delivers every paint still pending, and a panel whose drawing did not change
(a long row's thinned labels, round axis ends and bars all as they were) asks for none. The next key is sent only then, so each latency is one whole answer
(tokenise + forward + convert + paint), not time spent queueing behind earlier keys.

A 1 ms precise ``QTimer`` on the GUI thread ticks throughout; the longest gap between
two ticks while typing is the longest stall the user could have felt.

    python -m benchmarks.window_child --checkpoint FOLDER --tokens 128 --keys 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from .common import emit, summary  # noqa: E402

WINDOW_SIZE = (1600, 1000)
LOAD_TIMEOUT_S = 600.0


class PaintWatch:
    """Remembers when each watched widget last received a paint event."""

    def __init__(self) -> None:
        from PySide6.QtCore import QEvent, QObject

        watch = self

        class Filter(QObject):
            def eventFilter(self, watched, event):  # noqa: N802 - Qt override
                if event.type() == QEvent.Type.Paint:
                    watch.last_paint[id(watched)] = time.perf_counter()
                return False

        self.filter = Filter()
        self.last_paint: dict[int, float] = {}
        self.widgets: dict[str, object] = {}
        self.grid_builds: list[tuple] = []  # the overview grid's item rebuilds (build_window counts them)

    def watch(self, name: str, widget) -> None:
        widget.installEventFilter(self.filter)
        self.widgets[name] = widget

    def visible(self) -> list[str]:
        return [name for name, widget in self.widgets.items() if widget.isVisible()]

    def last_since(self, moment: float) -> float | None:
        """When the last watched panel painted after ``moment`` (None: none did)."""
        stamps = [self.last_paint.get(id(self.widgets[name]), 0.0) for name in self.visible()]
        return max((stamp for stamp in stamps if stamp >= moment), default=None)


class Heartbeat:
    """A 1 ms timer on the GUI thread; records the gaps between its ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.previous: float | None = None
        self.gaps_ms: list[float] = []
        self.recording = False

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.recording and self.previous is not None:
            self.gaps_ms.append((now - self.previous) * 1000)
        self.previous = now

    def start(self) -> None:
        self.timer.start()

    def record(self, on: bool) -> None:
        self.recording = on
        self.previous = time.perf_counter() if on else None


def build_window(app):
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    window = MainWindow(Settings(None), restore_layout=False)
    window.resize(*WINDOW_SIZE)
    watch = PaintWatch()
    # How often the grid made its image items again (counted here, not in the widget).
    build_grid = window.grid._build
    window.grid._build = lambda *shape: (watch.grid_builds.append(shape), build_grid(*shape))[1]
    watch.watch("tokens", window.input_panel.tokens.canvas)
    watch.watch("grid", window.grid.view.viewport())
    watch.watch("head", window.head_detail.heatmap.view.viewport())
    watch.watch("distribution", window.distribution.view.viewport())
    watch.watch("cross heatmap", window.cross.heatmap.view.viewport())
    watch.watch("cross alignment", window.cross.alignment)
    return window, watch


class Painted:
    """Collects ``trace_painted`` results: (time the result reached the GUI thread, request text,
    result, time of the signal).

    The window paints a new trace one panel per turn of the event loop and says
    ``trace_painted`` after the last, so a panel's paint counts from the moment the
    result arrived, not from the signal.
    """

    def __init__(self, window) -> None:
        self.events: list[tuple[float, str, object, float]] = []
        self.arrived: dict[int, float] = {}
        window.controller.trace_ready.connect(self._on_arrived)
        window.trace_painted.connect(self._on_painted)

    def _on_arrived(self, result) -> None:
        self.arrived[result.request_id] = time.perf_counter()

    def _on_painted(self, result) -> None:
        moment = self.arrived.get(result.request_id, time.perf_counter())
        self.events.append((moment, result.request.text, result, time.perf_counter()))

    def for_text(self, text: str, since: float):
        """(arrival, result, signal time) of the newest painted trace of ``text`` since ``since``."""
        for moment, painted_text, result, signalled in reversed(self.events):
            if moment >= since and painted_text == text:
                return moment, result, signalled
        return None


def wait_until(app, condition, timeout_s: float) -> bool:
    from PySide6.QtCore import QEventLoop

    # Block until an event arrives (the 1 ms heartbeat wakes it at the latest): a
    # polling loop here would take a core from the worker it is waiting for.
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            return False
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    return True


def wait_for_paint(
    app, painted: Painted, watch: PaintWatch, text: str, since: float, timeout_s: float, failures: list | None = None
):
    """(end time, TraceResult) once ``text``'s trace is painted everywhere; None on timeout or failure.

    The end is the last paint of a watched panel after the trace arrived, or the window's
    ``trace_painted`` signal when that came later (no panel changed after its own paint).
    """
    found: dict[str, object] = {}

    def done() -> bool:
        if failures:
            return True
        hit = painted.for_text(text, since)
        if hit is None:
            return False
        found["hit"] = hit
        return True

    if not wait_until(app, done, timeout_s) or "hit" not in found or failures:
        return None
    arrived, result, signalled = found["hit"]
    while True:  # deliver the paints the trace asked for; stop after a turn that painted none
        before = dict(watch.last_paint)
        app.processEvents()
        if watch.last_paint == before:
            break
    last = watch.last_since(arrived)
    return max(signalled, last if last is not None else signalled), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the bundled model)")
    parser.add_argument("--tokens", type=int, default=0, help="input length in tokens (0: the model's example text)")
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--budget-s", type=float, default=0.0, help="stop typing after this long (0: no limit)")
    parser.add_argument("--min-keys", type=int, default=3)
    parser.add_argument(
        "--memory-limit-gib", type=float, default=0.0,
        help="cap the data segment so a runaway allocation fails here instead of waking the OOM killer "
        "(not the address space, which a CUDA build of torch reserves by the gigabyte)",
    )
    args = parser.parse_args(argv)
    if args.memory_limit_gib:
        import resource

        limit = int(args.memory_limit_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    failures: list[str] = []

    def record_failure(kind, value, _traceback) -> None:
        # An exception in a slot (e.g. MemoryError while painting) ends up here.
        failures.append(f"{kind.__name__}: {value}")
        sys.__excepthook__(kind, value, _traceback)

    sys.excepthook = record_failure

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from explorer.app import _application, _quiet_offscreen_messages

    _quiet_offscreen_messages()
    app = _application()
    window, watch = build_window(app)
    painted = Painted(window)
    heartbeat = Heartbeat()
    heartbeat.start()

    text = ""
    if args.tokens:
        from model.tokenization import TextTokenizer

        from .common import text_of_tokens, tokenizer_file

        text = text_of_tokens(TextTokenizer.from_file(tokenizer_file(), 1 << 20), args.tokens)
        window.input_panel.source.setPlainText(text)
    window.show()
    load_start = time.perf_counter()
    window.open_checkpoint(args.checkpoint)
    if not wait_until(app, lambda: window.model is not None, LOAD_TIMEOUT_S):
        emit({"error": "the model did not load"})
        return 1
    text = window.input_panel.source.toPlainText()
    first = wait_for_paint(app, painted, watch, text, load_start, LOAD_TIMEOUT_S, failures)
    first_trace_error = failures[0] if failures else None
    if first is None and first_trace_error is None:
        emit({"error": "the first trace was never painted"})
        return 1
    failures.clear()
    # A first trace that failed in the window (it alone picks the starting head) is
    # reported, and typing goes on: later traces take the ordinary path.
    first_paint_s = first[0] - load_start if first is not None else None
    editor = window.input_panel.source
    editor.setFocus()
    cursor = editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    editor.setTextCursor(cursor)

    latencies, forwards, overheads = [], [], []
    typing_start = time.perf_counter()
    heartbeat.record(True)
    for index in range(args.keys):
        key = Qt.Key.Key_X if index % 2 == 0 else Qt.Key.Key_Backspace
        pressed = time.perf_counter()
        QTest.keyClick(editor, key)
        expected = editor.toPlainText()
        answer = wait_for_paint(app, painted, watch, expected, pressed, LOAD_TIMEOUT_S, failures)
        if answer is None:
            heartbeat.record(False)
            reason = failures[0] if failures else "no paint"
            emit({"error": f"keystroke {index} was never painted ({reason})", "first_trace_error": first_trace_error})
            return 1
        end, result = answer
        latency_ms = (end - pressed) * 1000
        latencies.append(latency_ms)
        forwards.append(result.forward_ms)
        overheads.append(latency_ms - result.forward_ms)
        elapsed = time.perf_counter() - typing_start
        if args.budget_s and elapsed > args.budget_s and index + 1 >= args.min_keys:
            break
    heartbeat.record(False)
    gaps = heartbeat.gaps_ms
    trace = result.trace
    n_tokens = len(trace.encoder if trace.encoder is not None else trace.decoder)
    emit(
        {
            "tokens": n_tokens,
            "first_trace_error": first_trace_error,
            "model": window.model.description if window.model else "",
            "first_paint_s": round(first_paint_s, 3),
            "latency": summary(latencies),
            "forward": summary(forwards),
            "latency_minus_forward": summary(overheads),
            "stall": {"max_ms": max(gaps) if gaps else 0.0, "p99_gap_ms": sorted(gaps)[int(len(gaps) * 0.99)] if gaps else 0.0},
            "panels": watch.visible(),
            "trace_dtype": str(trace.attention[trace.kinds[0]].weights.dtype),
            "grid_builds": len(watch.grid_builds),
        }
    )
    sys.stdout.flush()
    # Skip interpreter teardown of dozens of pyqtgraph items: the numbers are out.
    window.controller.stop(60_000)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
