"""File ▸ Save trace… and File ▸ Open saved trace…: one ``.npz`` that shows in every panel without a model.

The file is written and read by ``model.trace_file`` (numpy only; every header is checked
before anything is read, and a refusal is one sentence, shown in a dialog). An opened
trace is painted like one the worker made, marked as coming from a file
(``SAVED_DEVICE``), so the panels and modes that read only the trace show it with no
model loaded, and those that need the model (the logit lens) say so instead of running
another model on it. Typing runs the loaded model again.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from model.trace import Trace
from model.trace_file import TraceFileError, load_trace, save_trace

from .core.thumbnails import prepare_thumbnails
from .dialogs import show_message
from .jobs import TraceRequest, TraceResult

TRACE_FILTER = "Attention trace (*.npz)"
# ``TraceResult.device`` of a trace read from a file: no model computed it in this session.
SAVED_DEVICE = "saved file"


_SAVED: set[int] = set()  # id() of the traces read from files that are still alive


def mark_saved(trace: Trace) -> None:
    _SAVED.add(id(trace))
    weakref.finalize(trace, _SAVED.discard, id(trace))


def from_saved_file(trace: Trace | None) -> bool:
    """Whether ``trace`` was read from a saved file (so the loaded model did not compute it)."""
    return trace is not None and id(trace) in _SAVED


class TraceFileActions:
    """The two File menu actions and what they do to the window."""

    def __init__(self, window) -> None:
        self.window = window
        self.save_action = QAction("&Save trace…", window)
        self.save_action.setToolTip("Write the trace on show (tokens, every attention matrix, the model's description) to one .npz")
        self.save_action.triggered.connect(self.save_dialog)
        self.open_action = QAction("Open saved &trace…", window)
        self.open_action.setToolTip("Show a trace saved with Save trace… in every panel, without its model")
        self.open_action.triggered.connect(self.open_dialog)
        self.descriptions: dict[int, str] = {}  # id() of an opened trace → its model's description

    def save_dialog(self) -> None:
        if self.window.state.trace is None:
            self.window.statusBar().showMessage("There is no trace to save yet.", 6000)
            return
        path, _filter = QFileDialog.getSaveFileName(self.window, "Save trace", str(Path.home() / "trace.npz"), TRACE_FILTER)
        if path:
            self.save(path if path.lower().endswith(".npz") else f"{path}.npz")

    def save(self, path: str) -> bool:
        """Write the trace on show to ``path``; a failure is one sentence in a dialog."""
        window = self.window
        trace = window.state.trace
        description = self.descriptions.get(id(trace), "")
        if window.model is not None and not from_saved_file(trace):
            description = window.model.description
        try:
            save_trace(window.state.trace, path, description)
        except OSError as error:
            window.last_error_dialog = show_message(window, "Save trace", f"Cannot write {Path(path).name}: {error.strerror or error}")
            return False
        window.statusBar().showMessage(f"Saved the trace to {path}", 6000)
        return True

    def open_dialog(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self.window, "Open saved trace", str(Path.home()), TRACE_FILTER)
        if path:
            self.open(path)

    def open(self, path: str) -> bool:
        """Show the trace saved in ``path`` in every panel; a bad file explains itself in a dialog."""
        try:
            trace, description = load_trace(path)
        except TraceFileError as error:
            self.window.last_error_dialog = show_message(self.window, "Open saved trace", str(error))
            return False
        self.show(trace, description, Path(path).name)
        return True

    def show(self, trace: Trace, description: str, name: str) -> None:
        window = self.window
        mark_saved(trace)
        self.descriptions = {id(trace): description}
        trace.notices.append(f"Opened from {name}: a saved trace, shown without its model.")
        texts = window.input_panel.texts()
        request = TraceRequest(request_id=0, text=texts.source, target=texts.target, pair=texts.pair, chat=texts.chat)
        result = TraceResult(request, trace, 0.0, 0.0, SAVED_DEVICE, notices=(description,),
                             prepared=prepare_thumbnails(trace, pick_view=True))
        window._pick_view = True
        window._on_trace_ready(result)
        after = "typing traces the text with the loaded model" if window.model is not None else "open a model to trace new text"
        window.statusBar().showMessage(f"Showing the saved trace {name} of {trace.model_name}; {after}", 0)
