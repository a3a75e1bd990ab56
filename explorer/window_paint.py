"""The window's paint loop: a new trace is shown panel by panel, a selection change at once.

A mixin of ``MainWindow``. Every panel and mode is painted from the state's views only
while its dock shows; a hidden one is marked stale and catches up when it shows again.
A new trace is painted one panel per turn of the event loop (``StagedPaint``), so the
GUI thread's longest stall is one panel's conversion and drawing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from PySide6.QtCore import Qt

from .core import views
from .core.head_matrix import TileSuperseded
from .core.views import panel_availability
from .heap import settle_heap
from .panels.heatmap import plot_views, settle_plots
from .jobs import TraceResult

NEXT_TOKEN_TOPIC = "next_token"
HEAD_TILE_TOPIC = "head_tile"
PROGRESS_PREFIX = "Running the model: "

PANEL_TITLES = {
    "input": "Input",
    "grid": "Overview: layers × heads",
    "head": "Head detail",
    "distribution": "Softmax distribution",
    "cross": "Cross-attention",
}


@dataclass
class StagedPaint:
    """A new trace whose panels are being painted one per turn of the event loop."""

    result: TraceResult
    panels: list[str]  # still to paint, in order
    paint_ms: float  # GUI-thread time spent on it so far
    # What the painted panels ask of the worker (a long head's tile), handed to it once
    # every panel is painted: running beside the painting, its Python would take turns at
    # the GIL with the GUI thread's reads and drawing and slow both.
    worker_jobs: list[Callable[[], None]] = field(default_factory=list)


class PaintLoop:
    """Show traces and selections in the panels and modes (mixed into ``MainWindow``)."""

    def _on_trace_ready(self, result: TraceResult) -> None:
        trace = result.trace
        if any(axis is not None and len(axis) == 0 for axis in (trace.encoder, trace.decoder)):
            # A decoder-only model without a start token gives an empty text no tokens at all.
            self.statusBar().showMessage("The input has no tokens to show; type some text.", 10000)
            return
        start = time.perf_counter()
        self.state.set_trace(result.trace, result.prepared)
        if self._pick_view:
            # A newly opened model starts on its most telling view: cross-attention when it
            # has one, at its most focused head.
            self._pick_view = False
            kind = "cross" if "cross" in result.trace.kinds else result.trace.kinds[0]
            layer, head = self.state.sharpest_head(kind)
            self.state.select(kind=kind, layer=layer, head=head, query=0)
            # --kind / --layer / --head on the command line name the first view instead.
            self.state.select(**getattr(self, "view_overrides", {}))
        self._show_availability(result.trace.architecture)
        self._staged = StagedPaint(result, self._plan_paint(), (time.perf_counter() - start) * 1000)
        self._paint_next_stage()

    def _paint_next_stage(self) -> None:
        """Paint one panel of the newest trace, then let the event loop draw it before the next.

        One panel per turn of the event loop keeps the GUI thread's longest stall to one
        panel's conversion and drawing instead of the whole window's, so typing and the
        other panels stay responsive while a long trace is shown.
        """
        staged = self._staged
        if staged is None:
            return
        if staged.panels:
            start = time.perf_counter()
            self._paint_panel(staged.panels.pop(0))
            staged.paint_ms += (time.perf_counter() - start) * 1000
            self._stage_timer.start()
            return
        self._staged = None
        self._finish_trace(staged.result, staged.paint_ms)
        self._start_worker_jobs(staged)

    def _start_worker_jobs(self, staged: StagedPaint) -> None:
        for job in staged.worker_jobs:
            job()

    def _for_worker(self, job: Callable[[], None]) -> None:
        """Hand ``job`` to the worker now, or once the trace being painted is painted."""
        if self._staged is not None:
            self._staged.worker_jobs.append(job)
        else:
            job()

    def _finish_trace(self, result: TraceResult, paint_ms: float) -> None:
        """Every showing panel shows ``result``: record it and say so."""
        trace = result.trace
        self.painted = result
        self._clear_progress()
        self.last_timings = {"tokenise": result.tokenise_ms, "forward": result.forward_ms, "paint": paint_ms}
        self.timings_label.setText(
            f"tokenise {result.tokenise_ms:.1f} ms · forward {result.forward_ms:.1f} ms · paint {paint_ms:.1f} ms"
        )
        counts = []
        if trace.encoder is not None:
            counts.append(f"{len(trace.encoder)} source")
        if trace.decoder is not None:
            counts.append(f"{len(trace.decoder)} {'generated' if trace.generated else 'target'}")
        self.tokens_label.setText(" · ".join(counts) + " tokens")
        self.trace_painted.emit(result)
        if self._heap_unsettled:  # a newly opened model's first trace: the app's objects are in
            self._heap_unsettled = False
            settle_heap()

    def _on_trace_progressed(self, stack: str, layers_done: int, n_layers: int) -> None:
        """A long forward's progress, layer by layer, until its trace is painted."""
        self.statusBar().showMessage(f"{PROGRESS_PREFIX}{stack} layer {layers_done} of {n_layers}…")

    def _clear_progress(self) -> None:
        if self.statusBar().currentMessage().startswith(PROGRESS_PREFIX):
            self.statusBar().clearMessage()

    def _on_trace_failed(self, _request_id: int, reason: str) -> None:
        self.statusBar().showMessage(f"Could not run the model: {reason}", 10000)

    def paint(self) -> None:
        """Repaint every showing panel from the state; hidden ones catch up when shown.

        A panel whose dock is closed or tabbed away is not drawn (converting and drawing
        it would only cost time on the GUI thread); it is marked stale and repainted from
        the state when its dock becomes visible again. Before the window is first shown
        every panel is painted, so a window built without being shown is complete.
        """
        if self.state.trace is None:
            return
        for name in self._plan_paint():
            self._paint_panel(name)
        staged, self._staged = self._staged, None
        if staged is not None:
            # A trace still being painted panel by panel is now shown everywhere.
            self._finish_trace(staged.result, staged.paint_ms)
            self._start_worker_jobs(staged)

    def _plan_paint(self) -> list[str]:
        """Update the selection bar; the panels to paint now (the others are marked stale)."""
        selection = self.state.selection
        self.selection_bar.show_selection(selection, self.state.kinds, self.state.n_layers, self.state.n_heads)
        showing = []
        for name in self.docks:
            if self.panel_showing(name):
                showing.append(name)
            else:
                self.stale_panels.add(name)
        return showing

    def panel_showing(self, name: str) -> bool:
        """Whether the dock of panel or mode ``name`` is on screen (always, before the window shows)."""
        # A dock tabbed away stays isVisible(); only its visibilityChanged says it is not shown.
        return not self.isVisible() or (self.docks[name].isVisible() and self._dock_shown[name])

    def _on_dock_visibility_changed(self, name: str, visible: bool) -> None:
        self._dock_shown[name] = visible
        if visible and name in self.stale_panels and self.state.trace is not None:
            self._paint_panel(name)

    def _paint_panel(self, name: str) -> None:
        self.stale_panels.discard(name)
        if name in self.modes:
            self.modes[name].paint()
            return
        view = views.current(self.state, name)
        if view is not None:  # a model without cross-attention has no cross view
            self.panels[name].show(view)
            if name not in self._plot_views:  # a panel's views are made with it: found once
                self._plot_views[name] = plot_views(self.panels[name])
            settle_plots(self._plot_views[name])
        if name == "distribution":
            self._request_next_token()

    def _request_next_token(self) -> None:
        """Ask the worker what the model predicts after the query token (decoder queries only)."""
        trace, selection = self.state.trace, self.state.selection
        model = self.model
        on_decoder = trace is not None and trace.decoder is not None and selection.kind in ("decoder_self", "cross")
        if model is None or not model.predicts or not on_decoder or trace.decoder_hidden is None:
            self.next_token_pending = False
            self.panels["distribution"].show_next_token("")
            return
        position = min(selection.query, len(trace.decoder) - 1)
        self.next_token_pending = True  # until the answer for this trace and query arrives

        def compute(loaded_model):  # on the worker, which holds the model (and torch)
            from .next_token import next_token_top

            return trace, position, next_token_top(loaded_model, trace, position)

        # Asked at once: a single position's logits are quick, and the line completes the panel.
        self.controller.request_analysis(NEXT_TOKEN_TOPIC, compute)

    def _request_head_tile(self, view, request) -> None:
        """Make a costly tile of the head view on the worker (the newest request wins)."""
        detail, queue = self.head_detail, self.controller.queue

        def superseded() -> bool:  # read on the worker: plain attributes the GUI thread sets
            pending = detail.pending
            return pending is None or pending[1] != request or queue.pending_trace is not None

        def compute(_model):  # on the worker: the trace's stored queries and keys
            try:
                return view, request, view.tile(request, should_stop=superseded)
            except TileSuperseded:
                return None  # a newer request or keystroke replaced it: the worker is free again

        self._for_worker(lambda: self.controller.request_analysis(HEAD_TILE_TOPIC, compute))

    def _on_head_tile(self, value: object, failed: bool) -> None:
        """The worker's tile of the head view (None: a newer request replaced it)."""
        if failed:
            self.head_detail.tile_failed(value)
        elif value is not None:
            self.head_detail.tile_answered(*value)
        self._on_mode_settled()

    def _on_next_token(self, value: object, failed: bool) -> None:
        trace, selection = self.state.trace, self.state.selection
        if failed:
            self.next_token_pending = False
            self.panels["distribution"].show_next_token("")
        else:
            answered_trace, position, top = value
            if answered_trace is trace and position == min(selection.query, len(trace.decoder) - 1):
                self.next_token_pending = False
                self.panels["distribution"].show_next_token(views.next_token_text(trace.decoder.tokens[position], top))
        self._on_mode_settled()

    def _show_availability(self, architecture: str | None, reason: str | None = None) -> None:
        """Say in each panel whether it applies; collapse the ones a loaded model has no use for.

        A panel that does not apply to the loaded model (cross-attention of an encoder-only
        model) is taken out of the layout and its room goes to the others; it comes back
        when a model needs it. Without a model every panel stays, saying why it is empty.
        """
        availability = panel_availability(architecture)
        for name in ("grid", "head", "distribution", "cross"):
            entry = availability[name]
            self.containers[name].set_available(entry.enabled, reason or entry.reason)
            self.docks[name].setWindowTitle(PANEL_TITLES[name] + ("" if entry.enabled else " (not available)"))
            if architecture is None:
                continue
            dock = self.docks[name]
            if not entry.enabled and name not in self.collapsed_panels and not dock.isHidden():
                # The modes waiting in tabs behind it go too, so the room goes to the
                # other panels; the Analysis menu still brings any of them back.
                behind = [other for other in self.modes if self.docks[other] in self.tabifiedDockWidgets(dock)]
                for other in [name, *(other for other in behind if not self._dock_shown.get(other, False))]:
                    self.collapsed_panels.add(other)
                    self.docks[other].hide()
            elif entry.enabled and name in self.collapsed_panels:
                for other in sorted(self.collapsed_panels):
                    if other == name or other in self.modes:
                        self.collapsed_panels.discard(other)
                        self.docks[other].show()
                dock.raise_()  # in front of the modes tabbed with it
                if name == "cross":
                    total = self.docks["head"].width() + self.docks["cross"].width()
                    self.resizeDocks(
                        [self.docks["head"], self.docks["cross"]], [int(total * 0.47), int(total * 0.53)], Qt.Orientation.Horizontal
                    )
