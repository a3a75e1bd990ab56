"""Compare mode: the window's trace (A) beside a second one (B), their difference, and the
heads ranked by how much they changed.

B is a second input on the open model (the mode's own line edit), the same input on a
second checkpoint of the same architecture ("Second checkpoint…"), or both. B is traced
and compared on the worker (``analysis.compare_job.run_comparison``); checkpoint B is
loaded there once and kept in a ``SecondCheckpoint`` that only the worker touches. A new
comparison is requested when a new trace A is painted or B changes, while the dock
shows; the selection (kind, layer, head) only redraws from the comparison at hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QPoint
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from model.trace import KIND_TITLES, Trace

from .. import dialogs
from ..analysis.compare import ComparisonError
from ..analysis.compare_job import CompareInputs, CompareResult, SecondCheckpoint, frame_of, run_comparison
from ..panels.compare_view import CompareView
from .base import AnalysisMode
from .host import ModeHost

TOPIC = "compare"
RELEASE_TOPIC = "release"
NOTHING_TO_COMPARE = "Type an input B above, or pick a second checkpoint, to compare with the input of the window (A)."
EXPORT_FILTERS = "PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


class CompareMode(AnalysisMode):
    name = "compare"
    title = "Compare"
    tab_with = "cross"

    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(host, parent)
        self.second = SecondCheckpoint()  # touched only inside compute, on the worker thread
        self.checkpoint_b: str | None = None
        self.result: CompareResult | None = None
        self.failure = ""
        self._requested: tuple[Trace, CompareInputs] | None = None
        self._failed_trace: Trace | None = None  # the trace A that self.failure is about
        self.menu: QMenu | None = None  # the last context menu, kept so a test can read it
        host.trace_painted.connect(self._on_trace_painted)

    def build(self) -> QWidget:
        self.view = CompareView()
        self.view.text_b_edited.connect(self._on_b_changed)
        self.view.checkpoint_requested.connect(self.choose_checkpoint)
        self.view.checkpoint_cleared.connect(lambda: self.set_checkpoint(None))
        self.view.ranking_changed.connect(lambda _name: self._show())
        self.view.head_clicked.connect(self._on_head_clicked)
        self.view.menu_requested.connect(self._on_menu_requested)
        self.view.show_message(NOTHING_TO_COMPARE)
        return self.view

    # -- what B is ---------------------------------------------------------------------------
    def set_text_b(self, text: str) -> None:
        self.view.text_b.setText(text)  # edited → a new request when showing

    def set_checkpoint(self, location: str | None) -> None:
        """Compare with checkpoint ``location`` (None: B runs on the open model)."""
        previous, self.checkpoint_b = self.checkpoint_b, location or None
        self.view.set_checkpoint(None if location is None else Path(location).name or location)
        if previous or self.checkpoint_b:
            # Free checkpoint B's memory where it lives; picking a checkpoint again reads it
            # again, since its files may have changed. A request of its own, queued before
            # the comparison that follows: a flag inside the comparison's request would be
            # lost when a newer comparison replaces it before the worker gets to it.
            second = self.second
            self.request(RELEASE_TOPIC, lambda _model: second.release())
        self._requested = None
        self._on_b_changed()

    def choose_checkpoint(self) -> None:
        model = self.host.model
        if self.checkpoint_b:
            start = str(Path(self.checkpoint_b).parent)
        else:
            start = str(Path(model.source).parent) if model is not None and model.source else str(Path.home())
        location = dialogs.choose_checkpoint_folder(self.host.dialog_parent(), start)
        if location:
            self.set_checkpoint(location)

    def add_actions(self, menu: QMenu) -> None:
        menu.addAction("Compare with a second checkpoint…", self._choose_and_raise)

    def _choose_and_raise(self) -> None:
        self.raise_dock()
        self.choose_checkpoint()

    def apply_args(self, args: argparse.Namespace) -> bool:
        text, checkpoint = getattr(args, "compare_text", None), getattr(args, "compare_checkpoint", None)
        if not (text or checkpoint):
            return False
        if text:
            self.set_text_b(text)
        if checkpoint:
            self.set_checkpoint(checkpoint)
        shown = getattr(args, "show", None)
        if shown is None:
            self.raise_dock()
        if shown in (None, self.name):
            # A screenshot waits until the comparison of the first trace has arrived.
            self.waiting.add(TOPIC)
        return False

    # -- requests ------------------------------------------------------------------------------
    def _inputs(self) -> CompareInputs | None:
        painted = self.host.painted
        if painted is None or painted.trace is not self.host.state.trace:
            return None
        request = painted.request
        return CompareInputs(request.text, request.target, request.pair, self.view.text_b.text(), self.checkpoint_b)

    def _ensure_requested(self) -> None:
        """Ask the worker for a comparison unless the one at hand (or on its way) fits."""
        inputs = self._inputs()
        if inputs is None:
            return  # trace_painted follows, and asks then
        if inputs.same_input and inputs.checkpoint_b is None:
            self._requested, self.result, self.failure = None, None, ""
            self.settle(TOPIC)
            self.view.set_updating(False)
            self.view.show_message(NOTHING_TO_COMPARE)
            return
        trace = self.host.state.trace
        if self._requested is not None and self._requested[0] is trace and self._requested[1] == inputs:
            return
        self._requested = (trace, inputs)
        second = self.second

        def compute(model: Any) -> CompareResult:
            return run_comparison(model, trace, inputs, second)

        self.request(TOPIC, compute)
        if self.result is None:
            self.view.show_message("Comparing…")

    def _on_trace_painted(self, _result: Any) -> None:
        if self.showing():
            self._ensure_requested()

    def _on_b_changed(self, *_: object) -> None:
        if self.host.state.trace is None:
            return
        if self.showing():
            self._ensure_requested()
        else:
            self.host.repaint_when_shown(self.name)  # compared when the dock shows

    def show_state(self) -> None:
        self._ensure_requested()
        self._show()

    def on_result(self, topic: str, value: Any) -> None:
        if topic != TOPIC:
            return
        self.result, self.failure = value, ""
        self._show()

    def on_failure(self, topic: str, reason: str) -> None:
        if topic != TOPIC:
            return
        self.result, self.failure = None, _sentence(reason)
        self._failed_trace = self._requested[0] if self._requested is not None else None
        self._show()

    # -- showing -------------------------------------------------------------------------------
    def _shows_older_trace(self) -> bool:
        """Whether what is on show answers an older trace A than the window's."""
        shown = self._failed_trace if self.failure else (self.result.trace_a if self.result is not None else None)
        return shown is not None and shown is not self.host.state.trace

    def _show(self) -> None:
        # Until the comparison of the new trace arrives, the previous one stays up, marked.
        self.view.set_updating(self._shows_older_trace())
        if self._requested is None and self.result is None:
            self.view.show_message(NOTHING_TO_COMPARE)
            return
        if self.failure:
            self.view.show_message(self.failure, "Cannot compare")
            return
        if self.result is None:
            self.view.show_message("Comparing…")
            return
        selection = self.host.state.selection
        try:
            frame = frame_of(
                self.result,
                selection.kind,
                selection.layer,
                selection.head,
                self.view.ranking_name,
                hide_special=selection.hide_special,
            )
        except ComparisonError as error:
            kind = selection.kind if selection.kind in self.result.refusals else self.result.trace_a.kinds[0]
            title = f"{KIND_TITLES.get(kind, kind)}: A {self.result.label_a} · B {self.result.label_b}"
            self.view.show_message(_sentence(str(error)), title)
            return
        self.view.show_frame(frame, selection.colormap)

    def _on_head_clicked(self, layer: int, head: int) -> None:
        frame = self.view.frame
        kind = frame.kind if frame is not None else self.host.state.selection.kind
        self.host.select(kind=kind, layer=layer, head=head)

    # -- export ----------------------------------------------------------------------------------
    def _on_menu_requested(self, global_point: QPoint) -> None:
        self.menu = QMenu(self.view)
        action = self.menu.addAction("Export image…", self.export_dialog)
        action.setEnabled(self.view.frame is not None and self.result is not None)
        self.menu.popup(global_point)

    def export_dialog(self) -> None:
        if self.view.frame is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.host.dialog_parent(), "Export comparison", str(Path.home() / "comparison.png"), EXPORT_FILTERS)
        if path:
            self.export_image(path)

    def export_image(self, path: str) -> Path | None:
        """Write the shown comparison as a diff figure (PNG, SVG or PDF by the extension)."""
        from ..export.diff_figure import export_diff_figure

        frame, result = self.view.frame, self.result
        if frame is None or result is None:
            return None
        try:
            written = export_diff_figure(
                result.trace_a,
                result.trace_b,
                frame.kind,
                frame.layer,
                frame.head,
                path,
                labels=(result.label_a, result.label_b),
                colormap=self.host.state.selection.colormap,
                hide_special=self.host.state.selection.hide_special,
            )
        except (ValueError, OSError) as error:
            self.host.show_error("Could not export the comparison", str(error))
            return None
        self.host.show_status(f"Wrote {written}", 6000)
        return written
