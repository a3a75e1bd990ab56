"""Entry point of the desktop app: the QApplication, the window, headless screenshots.

``run_app`` is what ``attention-explorer`` calls without a subcommand. With
``--screenshot`` it lays the full window out offscreen, waits until every panel shows
the trace of the given input, writes the PNG atomically and exits.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)
SCREENSHOT_SIZE = (1600, 1000)
SCREENSHOT_TIMEOUT_MS = 300_000


# Harmless chatter of Qt's offscreen platform that would look like an error to a user.
_QUIET_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def _quiet_offscreen_messages() -> None:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if message in _QUIET_MESSAGES:
            return
        level = logging.WARNING if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtInfoMsg, QtMsgType.QtDebugMsg) else logging.ERROR
        logging.getLogger("qt").log(level, "%s", message)

    qInstallMessageHandler(handler)


def _application():
    from PySide6.QtWidgets import QApplication

    from .pyside_import_hook import skip_known_packages

    # Before numpy, pyqtgraph's imports and the worker's torch: PySide6 would read the
    # source of each of their modules as it is imported.
    skip_known_packages()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Attention Explorer")
    app.setOrganizationName("attention-explorer")
    return app


def _fill_input(window, args: argparse.Namespace) -> None:
    if getattr(args, "text", None):
        window.input_panel.source.setPlainText(args.text)
    if getattr(args, "target", None):
        window.input_panel.target.setText(args.target)
    if getattr(args, "pair", None):
        window.input_panel.pair.setText(args.pair)
    if getattr(args, "values", None):
        window.select(values=args.values)
    if getattr(args, "colour_range", None):
        window.select(colour_range=args.colour_range)
        window.head_detail.set_colour_range(args.colour_range)
    overrides = {name: getattr(args, name, None) for name in ("kind", "layer", "head")}
    if overrides["head"] is not None:
        overrides["head"] = None if overrides["head"] == "mean" else int(overrides["head"])
    elif "head" in overrides:
        del overrides["head"]
    window.view_overrides = {name: value for name, value in overrides.items() if value is not None or name == "head"}


def _close(app, window) -> bool:
    """Stop the worker and destroy the window before the interpreter starts tearing down.

    Deleting the widgets while Qt and Python are both fully alive keeps the exit code 0;
    leaving dozens of pyqtgraph items to interpreter shutdown is what has been seen to
    abort at exit. Returns False when the worker was still busy after the stop timeout.
    """
    window.close()
    if not window.controller.stop():
        # The caller leaves with os._exit: nothing will be torn down, so nothing need be deleted.
        return False
    window.deleteLater()
    app.processEvents()
    app.sendPostedEvents(None, 0)  # 0 = QEvent.DeferredDelete is delivered by this
    gc.collect()
    return True


def run_app(args: argparse.Namespace) -> int:
    """Open the window (or take a screenshot); returns the process exit code."""
    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        path = Path(screenshot)
        if path.suffix.lower() != ".png":
            raise ValueError(f"--screenshot must name a .png file, got {path.name}")
        if not (path.parent if str(path.parent) else Path(".")).is_dir():
            raise ValueError(f"the folder {path.parent} does not exist")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    else:
        from .platform_check import window_system_problem

        problem = window_system_problem()
        if problem:
            print(f"attention-explorer: error: {problem}", file=sys.stderr)
            return 1
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _quiet_offscreen_messages()
    app = _application()
    from .main_window import MainWindow
    from .settings import Settings, user_store

    if screenshot:
        window = MainWindow(Settings(None), restore_layout=False)
        code = _take_screenshot(app, window, args, Path(screenshot))
    else:
        window = MainWindow(Settings(user_store()))
        _fill_input(window, args)
        window.fill_screen()
        window.show()
        window.input_panel.focus_source()
        opened = window.apply_mode_args(args)
        if getattr(args, "open_trace", None):
            window.trace_files.open(args.open_trace)
            if args.checkpoint:
                window.compute_dtype = getattr(args, "dtype", "auto")
                window.open_checkpoint(args.checkpoint, getattr(args, "device", None))
        elif not opened:
            window.compute_dtype = getattr(args, "dtype", "auto")
            window.open_checkpoint(args.checkpoint, getattr(args, "device", None))
        code = app.exec()
    if not _close(app, window):
        # A torch forward or a checkpoint read cannot be interrupted. Rather than make
        # the user wait for it (or let Qt abort on a running thread at exit), leave now:
        # nothing is being written, so there is nothing to lose.
        log.warning("the model was still busy when the window closed; exiting without waiting for it")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    del window
    return code


def _take_screenshot(app, window, args: argparse.Namespace, path: Path) -> int:
    from PySide6.QtCore import QBuffer, QIODevice, QTimer

    from .atomic_write import write_atomically

    outcome: dict[str, object] = {"code": 1, "message": "timed out waiting for the first trace"}

    def finish(code: int, message: str = "") -> None:
        outcome.update(code=code, message=message)
        app.quit()

    def save() -> None:
        app.processEvents()
        pixmap = window.grab()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not pixmap.save(buffer, "PNG"):
            finish(1, "could not encode the window as PNG")
            return
        data = bytes(buffer.data())
        try:
            write_atomically(path, lambda handle: handle.write(data))
        except OSError as error:
            finish(1, str(error))
            return
        finish(0)

    painted: dict[str, object] = {"request": None}

    def save_when_settled() -> None:
        # Only a trace of the input now in the editors counts, once no mode waits for
        # the worker: then every panel and the shown mode show it.
        request = painted["request"]
        if request is None or window.modes_busy() or window.controller.loading:
            return
        if window.head_detail.pending is not None:
            return  # the head view's tile of a long input is still being made on the worker
        if (request.text, request.target, request.pair, request.chat) == window.input_panel.texts():
            painted["request"] = None
            QTimer.singleShot(0, save)

    def on_painted(result) -> None:
        painted["request"] = result.request
        save_when_settled()

    window.trace_painted.connect(on_painted)
    window.modes_settled.connect(save_when_settled)
    window.controller.load_failed.connect(lambda location, reason: finish(1, f"could not open {location}: {reason}"))
    window.controller.trace_failed.connect(lambda _id, reason: finish(1, f"could not run the model: {reason}"))
    _fill_input(window, args)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    try:
        opened = window.apply_mode_args(args)
    except ValueError as error:
        # A mode's option names something unusable (--run …): one sentence, exit 1.
        print(f"attention-explorer: error: {error}", file=sys.stderr)
        return 1
    if getattr(args, "open_trace", None):
        from model.trace_file import TraceFileError, load_trace

        try:
            trace, description = load_trace(args.open_trace)
        except TraceFileError as error:
            print(f"attention-explorer: error: {error}", file=sys.stderr)
            return 1
        QTimer.singleShot(0, lambda: window.trace_files.show(trace, description, Path(args.open_trace).name))
    elif not opened:
        window.compute_dtype = getattr(args, "dtype", "auto")
        window.open_checkpoint(args.checkpoint, getattr(args, "device", None))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: finish(1, "timed out waiting for the first trace"))
    app.exec()
    if outcome["code"] == 0:
        print(f"wrote {path}")
    else:
        print(f"attention-explorer: error: {outcome['message']}", file=sys.stderr)
    return int(outcome["code"])
