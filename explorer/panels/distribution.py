"""The softmax distribution panel: one query token's attention over the keys, as bars.

Top: probabilities softmax(scores / T), with the model's own probabilities (T = 1)
marked when the temperature differs, so sharpening and flattening are visible. Bottom:
the raw scores that went into the softmax. Entropy and the top keys are read out; the
temperature control re-applies the softmax.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .readout import Readout
from .theme import plot_theme
from ..core.numeric import pooled_bars, probability_axis_end, score_axis_range
from ..core.selection import MAX_TEMPERATURE, MIN_TEMPERATURE
from ..core.views import DistributionView
from .heatmap import (
    TokenAxisItem,
    stable_axes,
    style_plot,
    key_ticks,
    token_label,
)

BAR_COLOUR = "#3b6fb6"
SPECIAL_BAR_COLOUR = "#9aa7b8"
SCORE_COLOUR = "#d08c2e"
# Rows of more keys than this get one-pixel outlines on their bars.
THIN_BARS = 1000
# Rows of more keys than this are drawn as BAR_BINS runs of keys (``core.numeric.pooled_bars``).
POOLED_BARS = 4096
BAR_BINS = 1024
MODEL_MARK_COLOUR = "#e8261c"
MASKED_COLOUR = "#9a9a9a"
MAX_MASKED_MARKS = 128
SLIDER_STEPS = 1000
LEFT_AXIS_TEXT = "−0000.00"  # the widest tick label the left axes make room for
HEADROOM = 0.04  # of an axis' extent, beyond its round ends, so no bar touches the frame


def slider_to_temperature(position: int) -> float:
    """Log scale: the middle of the slider is T = 1."""
    low, high = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    return math.exp(low + (high - low) * position / SLIDER_STEPS)


def temperature_to_slider(temperature: float) -> int:
    low, high = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    return round((math.log(temperature) - low) / (high - low) * SLIDER_STEPS)


class DistributionPanel(QWidget):
    """Bars for probabilities and scores; ``temperature_changed(T)`` from the controls."""

    temperature_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = Readout()
        self.title.setStyleSheet("font-weight:600;")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(MIN_TEMPERATURE, MAX_TEMPERATURE)
        self.temperature.setDecimals(2)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.temperature.setToolTip("Re-apply softmax(scores / T): T < 1 sharpens, T > 1 flattens")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setValue(temperature_to_slider(1.0))
        self.slider.setMinimumWidth(120)
        self.reset = QPushButton("T = 1")
        self.reset.setToolTip("Back to the model's own softmax")
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(QLabel("Temperature"))
        header.addWidget(self.slider)
        header.addWidget(self.temperature)
        header.addWidget(self.reset)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(plot_theme().background)
        self.probability_plot: pg.PlotItem = self.view.addPlot(row=0, col=0, axisItems=stable_axes("left", "bottom"))
        self.score_plot: pg.PlotItem = self.view.addPlot(
            row=1, col=0, axisItems={**stable_axes("left"), "bottom": TokenAxisItem("bottom")}
        )
        for plot in (self.probability_plot, self.score_plot):
            style_plot(plot)
            plot.invertY(False)
            plot.showGrid(y=True, alpha=0.25)
        self.probability_plot.setLabel("left", "probability", color=plot_theme().foreground)
        self.score_plot.setLabel("left", "raw score", color=plot_theme().foreground)
        self.score_plot.setXLink(self.probability_plot)
        # One width for both left axes: linked by screen position, plots whose axes differ in
        # width put a key's two bars apart (by a dozen cells at a thousand keys).
        tick_font = self.score_plot.getAxis("left").style.get("tickFont") or QFont()
        axis_width = QFontMetricsF(tick_font).horizontalAdvance(LEFT_AXIS_TEXT) + QFontMetricsF(QFont()).height() + 16
        for plot in (self.probability_plot, self.score_plot):
            plot.getAxis("left").setWidth(int(axis_width))
        self.probability_plot.getAxis("bottom").setStyle(showValues=False)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self.probability_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=BAR_COLOUR, pen=None)
        self.model_marks = pg.ScatterPlotItem(symbol="_", size=16, pen=pg.mkPen(MODEL_MARK_COLOUR, width=2), brush=None)
        self.score_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=SCORE_COLOUR, pen=None)
        self.probability_plot.addItem(self.probability_bars)
        self.probability_plot.addItem(self.model_marks)
        self.masked_marks = pg.ScatterPlotItem(symbol="x", size=7, pen=pg.mkPen(MASKED_COLOUR, width=1.5), brush=None)
        self.score_plot.addItem(self.score_bars)
        self.score_plot.addItem(self.masked_marks)
        self.score_plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#999999")))

        self.summary = Readout()  # one line; cut off, it shows whole in its tooltip
        self.next_token = Readout()  # what a decoder predicts after the query token
        self.next_token.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.next_token)

        self.slider.valueChanged.connect(self._on_slider_moved)
        self.temperature.valueChanged.connect(self._on_spin_changed)
        self.reset.clicked.connect(lambda: self.temperature.setValue(1.0))
        self.probability_plot.getViewBox().sigResized.connect(self._update_ticks)
        self._labels: list[str] = []
        self.shown: DistributionView | None = None
        self._brushes = {False: pg.mkBrush(BAR_COLOUR), True: pg.mkBrush(SPECIAL_BAR_COLOUR)}
        self._thin_pens = tuple(pg.mkPen(colour, width=1, cosmetic=True) for colour in (BAR_COLOUR, SCORE_COLOUR))
        self._bar_special: tuple[bool, ...] | None = None
        self._bar_brushes: list = []
        self._bar_heights = np.zeros(0)
        self._score_heights = np.zeros(0)

    def show_next_token(self, text: str) -> None:
        """The next-token line (``core.views.next_token_text``); empty hides it."""
        self.next_token.setText(text)
        self.next_token.setVisible(bool(text))

    def show(self, view: DistributionView) -> None:
        """Bars of the view's probabilities and raw scores, its entropy and top keys."""
        distribution, temperature = view, view.temperature
        self.shown = view
        self.title.setText(view.title)
        if abs(self.temperature.value() - temperature) > 1e-9:
            self.temperature.blockSignals(True)
            self.temperature.setValue(temperature)
            self.temperature.blockSignals(False)
            self._sync_slider(temperature)
        count = len(distribution.keys)
        positions = np.arange(count, dtype=float) + 0.5
        special = tuple(bool(flag) for flag in distribution.special)
        if count > POOLED_BARS:
            # Thousands of sub-pixel bars are drawn as runs of keys: each run's largest
            # probability and the extent of its scores (the view and its export stay exact).
            starts, ends, highest, low, high = pooled_bars(distribution.probabilities, distribution.scores, BAR_BINS)
            centres, widths = (starts + ends) / 2.0, (ends - starts) * 0.9
            self._bar_special, self._bar_heights, self._score_heights = None, np.zeros(0), np.zeros(0)
            self.probability_bars.setOpts(
                x=centres, height=highest, width=widths, brushes=[self._brushes[False]] * len(centres), pen=None
            )
            self.score_bars.setOpts(x=centres, y0=low, height=high - low, width=widths, pen=None)
        else:
            self._show_bars(distribution, positions, special, count)
        masked = ~np.isfinite(distribution.scores)
        # Marks help on short rows; on long ones they would only paint a grey band.
        shown = masked if count <= MAX_MASKED_MARKS else np.zeros_like(masked)
        retempered = abs(temperature - 1.0) > 1e-9
        self.masked_marks.setData(x=positions[shown], y=np.zeros(int(shown.sum())))
        self.model_marks.setData(x=positions if retempered else [], y=distribution.model_probabilities if retempered else [])
        # A scatter item draws its (empty) bounds on every paint: without marks it stays out.
        self.masked_marks.setVisible(bool(shown.any()))
        self.model_marks.setVisible(retempered)
        top = max(float(np.max(distribution.probabilities, initial=0.0)), float(np.max(distribution.model_probabilities, initial=0.0)))
        # Round axis ends: typing moves the bars, rarely the axes, whose drawing is kept.
        probability_end = probability_axis_end(top) * (1 + HEADROOM)
        self.probability_plot.setRange(xRange=(0, max(count, 1)), yRange=(0, probability_end), padding=0.0)
        finite = distribution.scores[np.isfinite(distribution.scores)]
        low, high = score_axis_range(*((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)))
        self.score_plot.setYRange(low - HEADROOM * (high - low), high + HEADROOM * (high - low), padding=0.0)
        self._labels = [token_label(key) for key in distribution.keys]
        self._update_ticks()
        top_text = ", ".join(f"{token_label(distribution.keys[index])!r} {value:.3f}" for index, value in distribution.top)
        self.summary.setText(
            f"entropy {distribution.entropy_bits:.3f} bits (uniform: {distribution.max_entropy_bits:.3f})   ·   "
            f"top {len(distribution.top)}: {top_text}"
            + (f"   ·   {int(masked.sum())} masked keys" + (" (×)" if shown.any() else "") if masked.any() else "")
            + ("   ·   red marks: the model's softmax (T = 1)" if retempered else "")
        )

    def _show_bars(self, distribution: DistributionView, positions: np.ndarray, special: tuple, count: int) -> None:
        """One bar per key; unchanged bars keep their picture (setOpts throws it away)."""
        if special != self._bar_special or not np.array_equal(distribution.probabilities, self._bar_heights):
            if special != self._bar_special:
                self._bar_brushes = [self._brushes[flag] for flag in special]
                self._bar_special = special
            self._bar_heights = np.array(distribution.probabilities, copy=True)
            # A row of thousands of keys has bars narrower than a pixel: an outline of one
            # screen pixel keeps each one visible.
            thin = count > THIN_BARS
            self.probability_bars.setOpts(
                x=positions, height=self._bar_heights, width=0.8, brushes=self._bar_brushes,
                pen=self._thin_pens[0] if thin else None,
            )
        scores = np.where(np.isfinite(distribution.scores), distribution.scores, 0.0)  # masked keys: no bar
        if not np.array_equal(scores, self._score_heights):
            self._score_heights = scores
            self.score_bars.setOpts(
                x=positions, y0=None, height=scores, width=0.8, pen=self._thin_pens[1] if count > THIN_BARS else None
            )

    def _update_ticks(self, *_: object) -> None:
        width = self.score_plot.getViewBox().width()
        if not self._labels or width <= 0:
            return
        font = self.score_plot.getAxis("bottom").style.get("tickFont") or QFont()
        metrics = QFontMetricsF(font)
        count = len(self._labels)
        if count > POOLED_BARS:
            # One upright label per line height, without measuring thousands of labels.
            step = max(math.ceil(count * metrics.height() / width), 1)
            ticks = [(index + 0.5, self._labels[index]) for index in range(0, count, step)]
            rotated, longest = True, max(metrics.horizontalAdvance(label) for _, label in ticks)
        else:
            ticks, rotated, longest = key_ticks(self._labels, width / count, font)
        special = {label for label, is_special in zip(self._labels, self.shown.special) if is_special} if self.shown else set()
        self.score_plot.getAxis("bottom").set_token_ticks(ticks, special, rotated, longest)
        self.probability_plot.getAxis("bottom").setTicks([ticks])

    def _sync_slider(self, temperature: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(temperature_to_slider(temperature))
        self.slider.blockSignals(False)

    def _on_slider_moved(self, position: int) -> None:
        self.temperature.setValue(round(slider_to_temperature(position), 2))

    def _on_spin_changed(self, value: float) -> None:
        self._sync_slider(value)
        self.temperature_changed.emit(float(value))
