"""The training-timeline panel: the run's name, a slider over its checkpoints, a curve of one
head statistic over the steps and, beneath it, the log's loss and exact match.

The widget only draws what it is given and reports what the user did (``open_clicked``,
``reload_clicked``, ``step_moved``, ``statistic_changed``); the timeline mode decides
what to load and trace, and when.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .theme import plot_theme
from ..analysis.head_stats import STATISTIC_TITLES, STATISTICS
from .heatmap import MUTED, SELECTION_COLOUR, plain_label, stable_axes, style_plot

CURVE_COLOUR = "#3b6fb6"
LOSS_COLOUR = "#d08c2e"
MATCH_COLOUR = "#2e8b57"
DEFAULT_STATISTIC = "entropy_bits"


class TimelineView(QWidget):
    """Run controls, the statistic curve and the log plot."""

    open_clicked = Signal()
    reload_clicked = Signal()
    step_moved = Signal(int)  # the slider's new checkpoint index
    statistic_changed = Signal(str)

    def __init__(self, no_run_note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.open_button = QPushButton("Open run…")
        self.open_button.setToolTip("Open a training run folder written by attention-explorer train")
        self.open_button.clicked.connect(self.open_clicked)
        self.refresh_button = QPushButton("Reload")
        self.refresh_button.setToolTip(
            "List the run's checkpoints again (a run still training adds more) and retry those that could not be read"
        )
        self.refresh_button.clicked.connect(self.reload_clicked)
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
        self.slider.valueChanged.connect(self.step_moved)
        self.step_label = plain_label("")
        self.step_label.setMinimumWidth(150)
        self.first_label = plain_label("")
        self.last_label = plain_label("")
        for label in (self.first_label, self.last_label):
            label.setStyleSheet(f"color:{MUTED};")
        steps = QHBoxLayout()
        steps.addWidget(self.first_label)
        steps.addWidget(self.slider, 1)
        steps.addWidget(self.last_label)
        steps.addWidget(self.step_label)

        self.statistic_combo = QComboBox()
        for statistic in STATISTICS:
            self.statistic_combo.addItem(STATISTIC_TITLES[statistic], statistic)
        self.statistic_combo.setCurrentIndex(STATISTICS.index(DEFAULT_STATISTIC))
        self.statistic_combo.currentIndexChanged.connect(lambda _index: self.statistic_changed.emit(self.statistic))
        self.curve_title = plain_label("")
        statistic_row = QHBoxLayout()
        statistic_row.addWidget(QLabel("Head statistic"))
        statistic_row.addWidget(self.statistic_combo)
        statistic_row.addWidget(self.curve_title, 1)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(plot_theme().background)
        self.curve_plot: pg.PlotItem = self.plots.addPlot(row=0, col=0, axisItems=stable_axes("left", "bottom"))
        self.log_plot: pg.PlotItem = self.plots.addPlot(row=1, col=0, axisItems=stable_axes("left", "bottom"))
        for plot in (self.curve_plot, self.log_plot):
            style_plot(plot)
            plot.invertY(False)
            plot.setDefaultPadding(0.02)
            plot.showGrid(x=True, y=True, alpha=0.2)
        self.log_plot.setXLink(self.curve_plot)
        self.log_plot.setLabel("bottom", "training step", color=plot_theme().foreground)
        # The step axis is read off the log plot beneath; the combo above names the statistic.
        self.curve_plot.getAxis("bottom").setStyle(showValues=False)
        self.plots.ci.layout.setRowStretchFactor(0, 3)
        self.plots.ci.layout.setRowStretchFactor(1, 2)
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
        self.markers: list[pg.InfiniteLine] = []
        for plot in (self.curve_plot, self.log_plot):
            marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(SELECTION_COLOUR, width=1.5))
            marker.hide()
            plot.addItem(marker)
            self.markers.append(marker)

        self.note = plain_label(no_run_note)
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color:{MUTED};")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addLayout(steps)
        layout.addLayout(statistic_row)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.note)
        self.set_enabled(False)

    # -- controls ---------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        for control in (self.slider, self.refresh_button, self.statistic_combo):
            control.setEnabled(enabled)

    @property
    def statistic(self) -> str:
        return self.statistic_combo.currentData()

    def set_statistic(self, statistic: str) -> None:
        self.statistic_combo.setCurrentIndex(STATISTICS.index(statistic))

    def show_checkpoints(self, folder: str, count: int, index: int, first: str, last: str) -> None:
        """The run's name and a slider of ``count`` stops on ``index`` (no ``step_moved``)."""
        self.run_label.setText(folder)
        self.run_label.setToolTip(folder)
        self.slider.blockSignals(True)
        self.slider.setRange(0, count - 1)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.first_label.setText(first)
        self.last_label.setText(last)
        self.set_enabled(True)

    def show_step(self, label: str, tooltip: str, step: int | None) -> None:
        """Name the checkpoint the slider is on and mark its ``step`` (None: no place on the axis)."""
        self.step_label.setText(label)
        self.slider.setToolTip(tooltip)
        for marker in self.markers:
            marker.setVisible(step is not None)
            if step is not None:
                marker.setValue(step)

    # -- plots ------------------------------------------------------------------------------
    def show_curve(self, steps: np.ndarray | None, values: np.ndarray | None, title: str, message: str = "") -> None:
        """Draw ``values`` over ``steps`` (None: no curve) with a title above and a muted message in the plot."""
        self.curve_title.setText(title)
        if steps is None or values is None:
            self.curve_item.setData([], [])
        else:
            self.curve_item.setData(np.asarray(steps, dtype=float), values)
        self.curve_plot.setTitle(message or None, color=MUTED, size="9pt")

    def shown_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) the curve plot shows now."""
        steps, values = self.curve_item.getData()
        return (np.zeros(0) if steps is None else steps), (np.zeros(0) if values is None else values)

    def show_log(self, loss: tuple[np.ndarray, np.ndarray], match: tuple[np.ndarray, np.ndarray]) -> None:
        """The log's (steps, loss) and (steps, mean exact match); the plot hides when both are empty."""
        self.loss_item.setData(loss[0].astype(float), loss[1])
        self.match_item.setData(match[0].astype(float), match[1])
        self.log_plot.setVisible(bool(len(loss[1]) or len(match[1])))

    def set_step_range(self, steps: list[int]) -> None:
        """Show the steps from 0 (or the first) to the last; the log plot follows."""
        if steps:
            low, high = min(0, *steps), max(steps)
            self.curve_plot.setXRange(low, max(high, low + 1), padding=0.02)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
