"""The training timeline: scrub a slider across a run's checkpoints and watch attention form.

Opening a run folder (``attention-explorer train`` writes one) lists its checkpoints; the
slider loads the chosen one on the worker through its run cache
(``controller.load(..., from_run=True)``), and the window keeps the user's view and
re-traces the current input, so every panel follows. Loads are coalesced by the job
queue (the newest wins), so dragging the slider never waits for the model.

Beneath the slider, a curve of one head statistic over the training steps for the
window's selected kind, layer and head (head None: the mean over heads), with a marker
at the current step, and the log's loss and exact match. The curve needs one trace of
the input per checkpoint: each is one worker job (``curve`` topic), chained one after
the other, so a scrub's load never waits behind a whole run and the curve fills in from
the left. Every statistic of every kind and head is kept, so changing the statistic or
the selection only redraws.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .. import dialogs
from ..analysis.head_stats import POSITIONAL, STATISTIC_TITLES, STATISTICS
from ..analysis.timeline import StepStatistics, TraceStatistics, TrainingRun, checkpoint_statistics, open_run
from ..devices import normalise_device
from ..jobs import ModelInfo, TraceResult
from ..panels.heatmap import BACKGROUND, FOREGROUND, MUTED, SELECTION_COLOUR, plain_label, stable_axes, style_plot
from ..state import kind_title
from .base import AnalysisMode

CURVE_COLOUR = "#3b6fb6"
LOSS_COLOUR = "#d08c2e"
MATCH_COLOUR = "#2e8b57"
DEFAULT_STATISTIC = "entropy_bits"
NO_RUN = "Open a training run folder (Analysis ▸ Open training run…), as attention-explorer train writes it."


def _same_folder(first: str | Path, second: str | Path) -> bool:
    try:
        return Path(first).resolve() == Path(second).resolve()
    except OSError:
        return False


class TimelineMode(AnalysisMode):
    name = "timeline"
    title = "Training timeline"
    tab_with = "distribution"

    def __init__(self, window) -> None:
        super().__init__(window)
        self.run: TrainingRun | None = None
        self.index = 0  # the checkpoint the slider is on
        self.statistics = StepStatistics()
        # (run folder, (text, target, pair)) the statistics belong to.
        self._curve_key: tuple[Path, tuple[str, str | None, str | None]] | None = None
        self._curve_todo: list[int] = []  # checkpoint indices still to trace for the curve
        self._curve_asked: tuple | None = None  # (curve key, step) of the checkpoint being traced
        self.curve_failures: dict[int, str] = {}  # step → why it could not be traced
        self._asked_folder: Path | None = None  # the checkpoint load asked for, until painted
        self._asked_loaded = False
        self._pick_view = False  # a newly opened run starts at its sharpest head
        self._other_model: str | None = None  # name of a model opened over the run, if any
        window.model_changed.connect(self._on_model_changed)
        window.trace_painted.connect(self._on_trace_painted)
        window.controller.load_failed.connect(self._on_load_failed)
        window.controller.trace_failed.connect(self._on_trace_failed)

    # -- widgets ------------------------------------------------------------------------------
    def build(self) -> QWidget:
        widget = QWidget()
        self.open_button = QPushButton("Open run…")
        self.open_button.setToolTip("Open a training run folder written by attention-explorer train")
        self.open_button.clicked.connect(self.open_run_dialog)
        self.refresh_button = QPushButton("Reload")
        self.refresh_button.setToolTip("List the run's checkpoints again (a run still training adds more)")
        self.refresh_button.clicked.connect(self.refresh)
        self.run_label = plain_label("no run open")
        self.run_label.setStyleSheet("font-weight:600;")
        self.run_label.setMinimumWidth(40)
        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.run_label, 1)
        top.addWidget(self.refresh_button)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setToolTip("Training checkpoint: the window shows the model as it was at this step")
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.step_label = plain_label("")
        self.step_label.setMinimumWidth(150)
        steps = QHBoxLayout()
        self.first_label = plain_label("")
        self.last_label = plain_label("")
        for label in (self.first_label, self.last_label):
            label.setStyleSheet(f"color:{MUTED};")
        steps.addWidget(self.first_label)
        steps.addWidget(self.slider, 1)
        steps.addWidget(self.last_label)
        steps.addWidget(self.step_label)

        self.statistic_combo = QComboBox()
        for statistic in STATISTICS:
            self.statistic_combo.addItem(STATISTIC_TITLES[statistic], statistic)
        self.statistic_combo.setCurrentIndex(STATISTICS.index(DEFAULT_STATISTIC))
        self.statistic_combo.currentIndexChanged.connect(lambda _index: self._draw_curve())
        self.curve_title = plain_label("")
        statistic_row = QHBoxLayout()
        statistic_row.addWidget(QLabel("Head statistic"))
        statistic_row.addWidget(self.statistic_combo)
        statistic_row.addWidget(self.curve_title, 1)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(BACKGROUND)
        self.curve_plot: pg.PlotItem = self.view.addPlot(row=0, col=0, axisItems=stable_axes("left", "bottom"))
        self.log_plot: pg.PlotItem = self.view.addPlot(row=1, col=0, axisItems=stable_axes("left", "bottom"))
        for plot in (self.curve_plot, self.log_plot):
            style_plot(plot)
            plot.invertY(False)
            plot.setDefaultPadding(0.02)
            plot.showGrid(x=True, y=True, alpha=0.2)
        self.log_plot.setXLink(self.curve_plot)
        self.log_plot.setLabel("bottom", "training step", color=FOREGROUND)
        # The step axis is read off the log plot beneath; the combo above names the statistic.
        self.curve_plot.getAxis("bottom").setStyle(showValues=False)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self.curve_item = pg.PlotDataItem(
            [], [], pen=pg.mkPen(CURVE_COLOUR, width=2), symbol="o", symbolSize=5,
            symbolBrush=CURVE_COLOUR, symbolPen=None, connect="finite",
        )
        self.curve_plot.addItem(self.curve_item)
        # The key sits in the title: a legend inside the plot would hide the curves' ends.
        self.log_plot.setTitle(
            f"<span style='color:{LOSS_COLOUR}'>━ loss</span> &nbsp;&nbsp; "
            f"<span style='color:{MATCH_COLOUR}'>━ exact match (mean over tasks)</span>",
            size="9pt",
        )
        self.loss_item = self.log_plot.plot([], [], pen=pg.mkPen(LOSS_COLOUR, width=2))
        self.match_item = self.log_plot.plot([], [], pen=pg.mkPen(MATCH_COLOUR, width=2))
        self.markers = []
        for plot in (self.curve_plot, self.log_plot):
            marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(SELECTION_COLOUR, width=1.5))
            marker.hide()
            plot.addItem(marker)
            self.markers.append(marker)

        self.note = plain_label(NO_RUN)
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color:{MUTED};")
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addLayout(steps)
        layout.addLayout(statistic_row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)
        self._set_enabled(False)
        return widget

    def _set_enabled(self, enabled: bool) -> None:
        for control in (self.slider, self.refresh_button, self.statistic_combo):
            control.setEnabled(enabled)

    def add_actions(self, menu: QMenu) -> None:
        menu.addAction("Open training run…", self.open_run_dialog)

    # -- opening a run --------------------------------------------------------------------------
    def open_run_dialog(self) -> None:
        start = str(self.run.folder.parent) if self.run is not None else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self.window, "Open training run", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path, step: int | None = None) -> bool:
        """Open a run folder and load its checkpoint nearest ``step`` (None: the last).

        A folder that is not a run gives one sentence in a message box; returns whether
        the run opened.
        """
        try:
            run = open_run(folder)
        except ValueError as error:
            self.window.last_error_dialog = dialogs.show_message(self.window, "Could not open training run", str(error))
            return False
        self.show_run(run, step)
        self.raise_dock()
        return True

    def show_run(self, run: TrainingRun, step: int | None = None) -> None:
        """Show ``run`` and load the checkpoint nearest ``step`` (None: the last)."""
        self.run = run
        self.statistics = StepStatistics()
        self.curve_failures = {}
        self._curve_key = None
        self._curve_todo = []
        self._pick_view = True
        index = len(run.checkpoints) - 1 if step is None else run.nearest(step)
        if step is not None and run.checkpoints[index].step != step:
            self.window.statusBar().showMessage(
                f"The run has no checkpoint at step {step}; showing {run.checkpoints[index].label}.", 10000
            )
        self._show_checkpoints(index)
        self._draw_log()
        self._draw_curve()
        self._load(index)

    def refresh(self) -> None:
        """List the run's checkpoints again and trace the new ones for the curve."""
        if self.run is None:
            return
        try:
            run = open_run(self.run.folder)
        except ValueError as error:
            self.window.last_error_dialog = dialogs.show_message(self.window, "Could not reload training run", str(error))
            return
        current = self.run.checkpoints[self.index].folder
        self.run = run
        folders = [checkpoint.folder for checkpoint in run.checkpoints]
        index = folders.index(current) if current in folders else len(folders) - 1
        self._show_checkpoints(index)
        self._draw_log()
        if current not in folders:
            self._load(index)  # the checkpoint shown is gone
        if self._curve_key is not None:
            self._queue_missing_steps()

    def _show_checkpoints(self, index: int) -> None:
        run = self.run
        self.run_label.setText(str(run.folder))
        self.run_label.setToolTip(str(run.folder))
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(run.checkpoints) - 1)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.first_label.setText(run.checkpoints[0].label)
        self.last_label.setText(run.checkpoints[-1].label)
        self._set_enabled(True)
        self._show_index(index)

    def apply_args(self, args: argparse.Namespace) -> bool:
        folder = getattr(args, "run", None)
        if not folder:
            return False
        try:
            run = open_run(folder)
        except ValueError as error:
            if getattr(args, "screenshot", None):
                raise  # the screenshot fails with this one sentence
            self.window.last_error_dialog = dialogs.show_message(self.window, "Could not open training run", str(error))
            return False
        self.show_run(run, getattr(args, "step", None))
        if not getattr(args, "show", None):
            self.raise_dock()
        return True

    # -- scrubbing ------------------------------------------------------------------------------
    def _on_slider_moved(self, index: int) -> None:
        if self.run is None:
            return
        self._show_index(index)
        self._load(index)

    def step_to(self, index: int) -> None:
        """Move the slider to checkpoint ``index`` (loads it)."""
        self.slider.setValue(index)

    def _show_index(self, index: int) -> None:
        self.index = index
        checkpoint = self.run.checkpoints[index]
        self.step_label.setText(f"{checkpoint.label}  ({index + 1} of {len(self.run.checkpoints)})")
        record = self.run.record(index)
        loss = record.get("loss") if record else None
        self.slider.setToolTip(checkpoint.label + (f" · loss {loss:.4f}" if isinstance(loss, (int, float)) else ""))
        for marker in self.markers:
            marker.setVisible(checkpoint.step is not None)
            if checkpoint.step is not None:
                marker.setValue(checkpoint.step)

    def _device(self) -> str:
        device = normalise_device(self.window.settings.value("model/device"))
        return device if device in self.window.device_actions else "cpu"

    def _load(self, index: int) -> None:
        folder = self.run.checkpoints[index].folder
        self._asked_folder = folder
        self._asked_loaded = False
        self.waiting.add("load")
        self.window.controller.load(str(folder), self._device(), from_run=True)

    def _settle(self, topic: str) -> None:
        self.waiting.discard(topic)
        if not self.waiting:
            self.settled.emit()

    def _on_model_changed(self, info: ModelInfo) -> None:
        # A model opened from File ▸ … is not this run's: say so until the slider moves again.
        self._other_model = None if info.from_run else info.name
        self._show_progress()
        if "load" not in self.waiting:
            return
        if info.from_run and self._asked_folder is not None and _same_folder(info.source, self._asked_folder):
            self._asked_loaded = True  # done once its trace is painted
        elif not info.from_run:
            # Another model was opened over the run's step: that load will not come.
            self._asked_folder = None
            self._settle("load")

    def _on_trace_painted(self, _result: TraceResult) -> None:
        if "load" not in self.waiting or not self._asked_loaded:
            return
        if self._pick_view:
            # A newly opened run starts on its most telling view, as a new model does;
            # scrubbing keeps whatever the user picks from then on.
            self._pick_view = False
            state = self.window.state
            kind = "cross" if "cross" in state.kinds else state.kinds[0]
            layer, head = state.sharpest_head(kind)
            self.window.select(kind=kind, layer=layer, head=head, query=0)
        self._asked_folder = None
        self._settle("load")

    def _on_load_failed(self, location: str, _reason: str) -> None:
        # The window shows the reason in a message box.
        if "load" in self.waiting and self._asked_folder is not None and _same_folder(location, self._asked_folder):
            self._asked_folder = None
            self._settle("load")

    def _on_trace_failed(self, _request_id: int, _reason: str) -> None:
        if "load" in self.waiting and self._asked_loaded:
            self._asked_folder = None
            self._settle("load")

    # -- the statistic curve --------------------------------------------------------------------
    def paint(self) -> None:
        self._ensure_curve()
        self._draw_curve()

    @property
    def statistic(self) -> str:
        return self.statistic_combo.currentData()

    def set_statistic(self, statistic: str) -> None:
        self.statistic_combo.setCurrentIndex(STATISTICS.index(statistic))

    def _ensure_curve(self) -> None:
        """Start tracing the run's checkpoints when the input or the run changed."""
        if self.run is None:
            return
        texts = self.window.input_panel.texts()
        if not texts[0]:
            return
        key = (self.run.folder, texts)
        if key == self._curve_key:
            return
        self._curve_key = key
        self.statistics = StepStatistics()
        self.curve_failures = {}
        self._queue_missing_steps()

    def _queue_missing_steps(self) -> None:
        # final/ of unknown step has no place on a step axis.
        being_traced = self._curve_asked[1] if self._curve_asked and self._curve_asked[0] == self._curve_key else None
        self._curve_todo = [
            index
            for index, checkpoint in enumerate(self.run.checkpoints)
            if checkpoint.step is not None
            and checkpoint.step not in self.statistics
            and checkpoint.step not in self.curve_failures
            and checkpoint.step != being_traced
        ]
        if "curve" not in self.waiting:
            self._trace_next_checkpoint()

    def _trace_next_checkpoint(self) -> None:
        if not self._curve_todo:
            self._curve_asked = None
            self._show_progress()
            return
        checkpoint = self.run.checkpoints[self._curve_todo.pop(0)]
        key = self._curve_key
        text, target, pair = key[1]
        folder, step = checkpoint.folder, checkpoint.step

        def compute(_model: Any) -> tuple[tuple, int, TraceStatistics]:
            # On the worker thread; the window's own model is left alone.
            from model import load_checkpoint

            return key, step, checkpoint_statistics(lambda path: load_checkpoint(path, device="cpu"), folder, text, target, pair)

        self._curve_asked = (key, step)
        self.request("curve", compute)
        self._show_progress()

    def on_result(self, topic: str, value: Any) -> None:
        if topic != "curve":
            return
        key, step, statistics = value
        if key == self._curve_key:
            self.statistics.add(step, statistics)
            self._draw_curve()
        self._trace_next_checkpoint()

    def on_failure(self, topic: str, reason: str) -> None:
        if topic != "curve":
            super().on_failure(topic, reason)
            return
        if self._curve_asked is not None and self._curve_asked[0] == self._curve_key:
            # A checkpoint still being written by a running training, for example.
            self.curve_failures[self._curve_asked[1]] = reason
        self._trace_next_checkpoint()

    def _show_progress(self) -> None:
        if self.run is None:
            self.note.setText(NO_RUN)
            return
        total = sum(1 for checkpoint in self.run.checkpoints if checkpoint.step is not None)
        parts = []
        if self._other_model is not None:
            parts.append(f"the window shows {self._other_model}, not this run; move the slider to go back to the run")
        if self._curve_todo or self._curve_asked is not None:
            parts.append(f"tracing the input on every checkpoint for the curve: {len(self.statistics)} of {total} done…")
        if self.curve_failures:
            step, reason = next(iter(self.curve_failures.items()))
            more = f" (and {len(self.curve_failures) - 1} more)" if len(self.curve_failures) > 1 else ""
            parts.append(f"step {step} could not be traced: {reason}{more}")
        if self.run.log_problems:
            parts.append(self.run.log_problems[0])
        self.note.setText("   ·   ".join(parts))

    def _draw_curve(self) -> None:
        """Redraw the curve of the chosen statistic for the window's selected head."""
        state = self.window.state
        statistic = self.statistic
        curve = None
        message = ""
        if self.run is None or state.trace is None:
            message = ""
        else:
            selection = state.selection
            kind, layer, head = selection.kind, selection.layer, selection.head
            head_text = "mean over heads" if head is None else f"head {head}"
            self.curve_title.setText(f"{kind_title(kind)} · layer {layer} · {head_text}")
            if kind == "cross" and statistic in POSITIONAL:
                message = f"{STATISTIC_TITLES[statistic]} compares query and key positions: not defined for {kind_title(kind)}"
            else:
                curve = self.statistics.curve(kind, statistic)
                if curve is not None and (layer >= curve.values.shape[1] or (head is not None and head >= curve.values.shape[2])):
                    curve = None
                    message = "the selected head is not in this run's model"
        if curve is None:
            self.curve_item.setData([], [])
        else:
            self.curve_item.setData(curve.steps.astype(float), curve.series(layer, head))
        self.curve_plot.setTitle(message or None, color=MUTED, size="9pt")
        self._set_x_range()
        self._show_progress()

    def shown_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) the curve plot shows now."""
        steps, values = self.curve_item.getData()
        return (np.zeros(0) if steps is None else steps), (np.zeros(0) if values is None else values)

    def _draw_log(self) -> None:
        run = self.run
        loss_steps, losses = run.log_series("loss")
        match_steps, matches = run.mean_exact_match()
        self.loss_item.setData(loss_steps.astype(float), losses)
        self.match_item.setData(match_steps.astype(float), matches)
        self.log_plot.setVisible(bool(len(losses) or len(matches)))
        self._set_x_range()

    def _set_x_range(self) -> None:
        if self.run is None:
            return
        steps = [checkpoint.step for checkpoint in self.run.checkpoints if checkpoint.step is not None]
        if steps:
            low, high = min(0, *steps), max(steps)
            self.curve_plot.setXRange(low, max(high, low + 1), padding=0.02)
