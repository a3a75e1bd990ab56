"""Run as a script: thousands of random edits in the real main window, then a clean exit.

Usage: ``python soak_main_window.py CHECKPOINT_A CHECKPOINT_B EDITS SEED``

The window is driven as a user would drive it, with no sleeps: typing, deleting and
pasting (hostile Unicode and long pastes included) in the source, target and pair
editors, switching kind, layer, head, query token and values, and switching between the
two checkpoints. Between edits the event loop runs once, so results arrive while the
user keeps typing. Every so often, and at the end, the script waits (on the event loop)
until the window shows the newest input.

It prints one JSON line of measurements and exits with 0 when every check held, 1 when
one failed (the JSON says which), after closing the window as the app does:

- no exception escaped into Qt's event loop;
- every painted result was the newest request at the time, and painted ids only grow;
- at the end the panels show the trace of exactly what the editors hold;
- resident memory after the edits is within 5 % of what it was after the warm-up;
- the worker thread has stopped once the window is closed.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
import time
import traceback

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, qInstallMessageHandler  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

WAIT_SECONDS = 60.0
MEMORY_GROWTH_LIMIT = 0.05
WORDS = "sort reverse date number owl cat fig yak emu : , 2026 may november the quick brown fox".split()
ODDITIES = [
    "\x00", "\u200d", "\u202e", "e\u0301", "東京", "مرحبا", "👩\u200d👩\u200d👧", "\t", "\n", "  ", "\ud800", "\U0010ffff"
]


def resident_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Soak:
    def __init__(self, app: QApplication, window, checkpoints: list[str], rng: random.Random) -> None:
        self.app, self.window, self.checkpoints, self.rng = app, window, checkpoints, rng
        self.painted: list[int] = []
        self.stale: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.counts: dict[str, int] = {}
        self.models: set[str] = set()  # the models whose traces were painted
        self.newest_arrived = 0  # the newest trace result that reached the window
        window.controller.trace_ready.connect(self._on_arrived)
        window.trace_painted.connect(self._on_painted)

    def _on_arrived(self, result) -> None:
        # The controller hands the window only the newest request's result.
        newest = self.window.controller.queue.latest_trace_id
        if result.request_id != newest:
            self.stale.append((result.request_id, newest))
        self.newest_arrived = max(self.newest_arrived, result.request_id)

    def _on_painted(self, result) -> None:
        # A trace is painted panel by panel over a few turns of the event loop, while
        # newer requests may be sent; it must still be the newest result that arrived,
        # and never older than one painted before it.
        self.models.add(result.trace.model_name)
        if result.request_id != self.newest_arrived or (self.painted and result.request_id <= self.painted[-1]):
            self.stale.append((result.request_id, self.newest_arrived))
        self.painted.append(result.request_id)

    # -- waiting on the event loop ---------------------------------------------------------
    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}: {self.describe()}")
            self.app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)

    def describe(self) -> str:
        """Where the window and its worker stand, for a timeout's message."""
        window, queue = self.window, self.window.controller.queue
        staged = getattr(window, "_staged", None)
        return (
            f"painted {window.painted.request_id if window.painted else None}, newest request {queue.latest_trace_id}, "
            f"in flight {type(queue.in_flight).__name__ if queue.in_flight else None}, "
            f"pending trace {queue.pending_trace is not None}, loading {window.controller.loading}, "
            f"staged {staged.result.request_id if staged else None} ({staged.panels if staged else ''}), "
            f"editors {window.input_panel.texts()!r:.80}"
        )

    def shows_the_editors(self) -> bool:
        window = self.window
        if window.controller.loading or window.painted is None:
            return False
        text, target, pair, _chat = window.input_panel.texts()
        request = window.painted.request
        return (
            window.painted.request_id == window.controller.queue.latest_trace_id
            and (request.text, request.target, request.pair) == (text, target or None, pair or None)
        )

    def settle(self) -> None:
        """Wait until the window shows the newest input (asking for it if nothing is pending)."""
        if not self.window.controller.queue.busy and not self.shows_the_editors():
            self.window.request_trace()
        self.wait_until(self.shows_the_editors, "the window to show the newest input")

    # -- the edits ---------------------------------------------------------------------------
    def text_piece(self) -> str:
        if self.rng.random() < 0.2:
            return self.rng.choice(ODDITIES)
        return self.rng.choice(WORDS) + self.rng.choice([" ", "", " "])

    def edit(self) -> None:
        window, rng = self.window, self.rng
        source = window.input_panel.source
        action = rng.choices(
            ["type", "delete", "paste", "target", "pair", "kind", "layer", "head", "query", "values", "model"],
            weights=[30, 12, 5, 5, 3, 8, 8, 10, 8, 3, 0.6],
        )[0]
        self.counts[action] = self.counts.get(action, 0) + 1
        if action == "type":
            cursor = source.textCursor()
            cursor.movePosition(rng.choice([QTextCursor.MoveOperation.End, QTextCursor.MoveOperation.NoMove]))
            source.setTextCursor(cursor)
            source.insertPlainText(self.text_piece())
        elif action == "delete":
            cursor = source.textCursor()
            for _ in range(rng.randint(1, 6)):
                cursor.deletePreviousChar()
        elif action == "paste":
            size = 20_000 if rng.random() < 0.1 else rng.randint(5, 300)
            paste = "".join(self.text_piece() for _ in range(size // 4))[:size]
            source.setPlainText(paste if rng.random() < 0.5 else source.toPlainText() + paste)
        elif action == "target":
            target = window.input_panel.target
            if target.isEnabled():
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
                target.setText("" if rng.random() < 0.3 else words)
        elif action == "pair":
            pair = window.input_panel.pair
            if pair.isEnabled():
                pair.setText("" if rng.random() < 0.3 else self.text_piece() * rng.randint(1, 4))
        elif window.state.trace is not None and action == "kind":
            window.select(kind=rng.choice(window.state.kinds))
        elif window.state.trace is not None and action == "layer":
            window.step_layer(rng.choice([-1, 1]))
        elif window.state.trace is not None and action == "head":
            window.step_head(rng.choice([-1, 1]))
        elif window.state.trace is not None and action == "query":
            window.step_query(rng.choice([-1, 1, 5]))
        elif window.state.trace is not None and action == "values":
            window.select(values=rng.choice(["weights", "scores"]))
        elif action == "model":
            window.open_checkpoint(rng.choice(self.checkpoints))


def main() -> int:
    checkpoint_a, checkpoint_b, edits, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    errors: list[str] = []

    def record(kind, value, trace_back) -> None:  # exceptions raised inside Qt slots end up here
        errors.append("".join(traceback.format_exception(kind, value, trace_back))[-2000:])

    sys.excepthook = record
    qt_messages: list[str] = []

    def on_qt_message(_kind, _context, message: str) -> None:
        # The offscreen platform's chatter about size hints is not the app's doing.
        if message != "This plugin does not support propagateSizeHints()":
            qt_messages.append(message)

    qInstallMessageHandler(on_qt_message)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    window = MainWindow(Settings(None), restore_layout=False)
    window.resize(1400, 900)
    window.show()
    soak = Soak(app, window, [checkpoint_a, checkpoint_b], random.Random(seed))
    outcome: dict[str, object] = {"edits": edits}
    start = time.perf_counter()
    try:
        window.open_checkpoint(checkpoint_a)
        soak.wait_until(lambda: window.model is not None, "the first model")
        soak.settle()
        warm_up = max(edits // 10, 50)
        baseline = None
        switch_every = max(edits // 6, 1)
        for index in range(edits):
            if (index + 1) % switch_every == 0:  # besides the random switches, a few sure ones
                soak.counts["model"] = soak.counts.get("model", 0) + 1
                window.open_checkpoint(soak.checkpoints[(index + 1) // switch_every % 2])
            else:
                soak.edit()
            app.processEvents()
            if index + 1 == warm_up or (index + 1) % 500 == 0:
                soak.settle()
            if index + 1 == warm_up:
                gc.collect()
                baseline = resident_bytes()
        soak.settle()
        gc.collect()
        final = resident_bytes()
        growth = (final - baseline) / baseline
        outcome.update(
            seconds=round(time.perf_counter() - start, 1),
            painted=len(soak.painted),
            painted_models=sorted(soak.models),
            stale=soak.stale[:10],
            actions=soak.counts,
            rss_after_warm_up_mb=round(baseline / 2**20, 1),
            rss_at_end_mb=round(final / 2**20, 1),
            memory_growth=round(growth, 4),
        )
        failures = []
        if errors:
            failures.append(f"{len(errors)} exception(s) escaped into the event loop")
        if soak.stale:
            failures.append(f"{len(soak.stale)} stale result(s) painted")
        if not soak.painted:
            failures.append("nothing was painted")
        if growth > MEMORY_GROWTH_LIMIT:
            failures.append(f"memory grew by {growth:.1%} after the warm-up")
    except Exception:  # noqa: BLE001 - reported in the JSON, then a non-zero exit
        failures = ["the soak raised: " + traceback.format_exc()[-2000:]]
    window.close()
    stopped = window.controller.stop()
    if not stopped or window.controller.thread.isRunning():
        failures.append("the worker thread was still running after the window closed")
    window.deleteLater()
    app.processEvents()
    app.sendPostedEvents(None, 0)  # deliver the deferred delete while Qt and Python are alive
    gc.collect()
    outcome.update(failures=failures, errors=errors[:3], qt_messages=qt_messages[:10])
    print(json.dumps(outcome), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
