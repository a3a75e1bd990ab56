"""Step-through generation: one generated token at a time, and what the model looked at.

For encoder–decoder and decoder-only models. The worker generates greedily from the
current source text and traces the result (``explorer.next_token.step_through``, topic
``steps``); the dock then steps through it with ◀ / ▶ (Ctrl+← / Ctrl+→ while the dock
has focus) and a slider. For the token produced at the current step it shows the tokens
so far with that one highlighted, its cross-attention row over the source (encoder–
decoder only), its decoder self-attention row over the tokens before it, and the top-k
next-token probabilities with the produced token marked. Layer and head follow the
window's selection (head None: the mean over heads), and so does "Hide special tokens":
the bars then leave out special and padding keys, each row renormalised over the rest. Encoder-only models produce no
tokens; the dock says so.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..analysis.stepping import BarRow, GenerationStep, StepThrough, axis_prefix, bar_row
from ..panels.theme import plot_theme
from ..panels.distribution import BAR_COLOUR, SPECIAL_BAR_COLOUR
from ..panels.heatmap import (
    MUTED,
    SELECTION_COLOUR,
    DisabledNotice,
    TokenAxisItem,
    plain_label,
    stable_axes,
    style_plot,
    thinned_ticks,
    token_label,
)
from ..token_labels import display_token
from .base import AnalysisMode
from .host import ModeHost

PRODUCED_BACKGROUND = "#fde0dc"


def encoder_only_reason(model_name: str) -> str:
    return (
        f"Step-through generation needs a decoder: {model_name} is an encoder-only model, "
        "which reads its input but produces no tokens."
    )


class RowBars:
    """A bar chart of one attention row over token labels, in a plot of a layout widget."""

    def __init__(self, view: pg.GraphicsLayoutWidget, row: int, y_label: str) -> None:
        axes = {**stable_axes("left"), "bottom": TokenAxisItem("bottom")}
        self.plot: pg.PlotItem = view.addPlot(row=row, col=0, axisItems=axes)
        style_plot(self.plot)
        self.plot.invertY(False)
        self.plot.showGrid(y=True, alpha=0.25)
        self.plot.setLabel("left", y_label, color=plot_theme().foreground)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=BAR_COLOUR, pen=None)
        self.plot.addItem(self.bars)
        self.plot.getViewBox().sigResized.connect(self._update_ticks)
        self._brushes = {False: pg.mkBrush(BAR_COLOUR), True: pg.mkBrush(SPECIAL_BAR_COLOUR)}
        self._labels: list[str] = []
        self._special: list[bool] = []
        self.values = np.zeros(0)

    def show(self, title: str, tokens: list[str], special: np.ndarray, values: np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.float64)
        self._labels = [token_label(token) for token in tokens]
        self._special = [bool(flag) for flag in special]
        positions = np.arange(len(tokens), dtype=float) + 0.5
        self.bars.setOpts(
            x=positions, height=self.values, width=0.8, brushes=[self._brushes[flag] for flag in self._special]
        )
        top = float(np.max(self.values, initial=0.0))
        self.plot.setRange(xRange=(0, max(len(tokens), 1)), yRange=(0, max(top * 1.08, 0.05)), padding=0.0)
        self.plot.setTitle(title, color=plot_theme().foreground, size="9pt")
        self._update_ticks()

    def set_shown(self, shown: bool) -> None:
        if shown != self.plot.isVisible():
            self.plot.setVisible(shown)
            # A hidden item keeps its row in a graphics layout unless it may shrink to nothing.
            self.plot.setMaximumHeight(1e6 if shown else 0)

    def clear(self, title: str) -> None:
        self.values = np.zeros(0)
        self._labels, self._special = [], []
        self.bars.setOpts(x=[], height=[], width=0.8, brushes=[])
        self.plot.getAxis("bottom").set_token_ticks([], set())
        self.plot.setTitle(title, color=MUTED, size="9pt")

    def _update_ticks(self, *_: object) -> None:
        width = self.plot.getViewBox().width()
        if not self._labels or width <= 0:
            return
        axis = self.plot.getAxis("bottom")
        metrics = QFontMetricsF(axis.style.get("tickFont") or QFont())
        ticks = thinned_ticks(self._labels, width / len(self._labels), [metrics.horizontalAdvance(t) for t in self._labels])
        axis.set_token_ticks(ticks, {label for label, special in zip(self._labels, self._special) if special})


class SteppingMode(AnalysisMode):
    name = "stepping"
    title = "Step-through generation"
    tab_with = "cross"

    # -- widgets ------------------------------------------------------------------------------
    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(host, parent)
        self.steps: StepThrough | None = None
        self.index = 0  # the step shown
        self._key: tuple | None = None  # (model info, text) the steps were asked for

    def build(self) -> QWidget:
        content = QWidget()
        self.back_button = QPushButton("◀")
        self.back_button.setToolTip("Previous token (Ctrl+←)")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next token (Ctrl+→)")
        for button in (self.back_button, self.next_button):
            button.setFixedWidth(36)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.step_label = plain_label("")
        self.step_label.setMinimumWidth(110)
        header = QHBoxLayout()
        header.addWidget(self.back_button)
        header.addWidget(self.slider, 1)
        header.addWidget(self.next_button)
        header.addWidget(self.step_label)

        self.tokens_label = QLabel()
        self.tokens_label.setTextFormat(Qt.TextFormat.RichText)
        self.tokens_label.setWordWrap(True)
        self.tokens_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(plot_theme().background)
        self.cross_bars = RowBars(self.view, 0, "cross-attention")
        self.self_bars = RowBars(self.view, 1, "self-attention")

        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["next token", "probability"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setFixedWidth(220)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table_title = plain_label("")
        self.table_title.setStyleSheet("font-weight:600;")
        self.summary = plain_label("")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(f"color:{MUTED};")
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        notes = QVBoxLayout()
        notes.addWidget(self.table_title)
        notes.addWidget(self.summary, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.table)
        bottom.addLayout(notes, 1)

        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(header)
        layout.addWidget(self.tokens_label)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)

        self.back_button.clicked.connect(lambda: self.step_by(-1))
        self.next_button.clicked.connect(lambda: self.step_by(1))
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.container = DisabledNotice(content)
        for keys, delta in (("Ctrl+Left", -1), ("Ctrl+Right", 1)):
            shortcut = QShortcut(QKeySequence(keys), self.container)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda delta=delta: self.step_by(delta))
        self._set_controls(0)
        return self.container

    def _set_controls(self, n_steps: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n_steps - 1, 0))
        self.slider.setValue(min(self.index, max(n_steps - 1, 0)))
        self.slider.blockSignals(False)
        self.slider.setEnabled(n_steps > 1)
        self.back_button.setEnabled(n_steps > 0 and self.index > 0)
        self.next_button.setEnabled(n_steps > 0 and self.index < n_steps - 1)

    # -- requests ----------------------------------------------------------------------------------
    def show_state(self) -> None:
        info = self.host.model
        if info is None:
            return
        if info.architecture == "encoder":
            self.container.set_available(False, encoder_only_reason(info.name))
            return
        self.container.set_available(True)
        text = self.host.source_text()
        key = (info, text)
        if key != self._key and text.strip():
            self._key = key
            self.summary.setText("generating greedily from the source text…")

            def compute(model: Any) -> tuple[tuple, StepThrough]:
                # On the worker thread: the one module of the analyses that runs torch.
                from ..next_token import step_through

                return key, step_through(model, text)

            self.request("steps", compute)
        self._show_step()

    def on_result(self, topic: str, value: Any) -> None:
        key, steps = value
        if key != self._key:
            return
        self.steps = steps
        self.index = min(self.index, max(steps.n_steps - 1, 0))
        self._show_step()

    def on_failure(self, topic: str, reason: str) -> None:
        self.steps = None
        self._show_step()
        self.summary.setText(f"Could not step through generation: {reason}")

    # -- stepping ----------------------------------------------------------------------------------
    def step_by(self, delta: int) -> None:
        if self.steps is not None and self.steps.n_steps:
            self.set_step(self.index + delta)

    def set_step(self, index: int) -> None:
        if self.steps is None or not self.steps.n_steps:
            return
        self.index = min(max(index, 0), self.steps.n_steps - 1)
        self._show_step()

    def _on_slider_moved(self, index: int) -> None:
        self.set_step(index)

    def current_step(self) -> GenerationStep | None:
        if self.steps is None or not self.steps.n_steps:
            return None
        return self.steps.step(self.index)

    def _show_step(self) -> None:
        steps = self.steps
        n_steps = steps.n_steps if steps is not None else 0
        self._set_controls(n_steps)
        step = self.current_step()
        if step is None:
            self.step_label.setText("")
            self.tokens_label.setText("")
            self.cross_bars.clear("")
            self.self_bars.clear("")
            self.table.setRowCount(0)
            self.table_title.setText("")
            if steps is not None:
                self.summary.setText("The model produced no token for this input.")
            return
        self.step_label.setText(f"token {self.index + 1} of {n_steps}")
        self.tokens_label.setText(self._tokens_html(steps, step))
        selection = self.host.state.selection
        decoder = steps.trace.decoder
        produced = repr(display_token(step.token))
        # A decoder-only model has no cross-attention: its self-attention takes the room.
        self.cross_bars.set_shown(step.cross_row is not None)
        filtered = False
        if step.cross_row is None:
            self.cross_bars.clear("a decoder-only model has no cross-attention")
        else:
            row = bar_row(step.cross_row, steps.trace.encoder, selection.layer, selection.head, selection.hide_special)
            self.cross_bars.show(self._title("cross-attention", row), row.keys.tokens, row.keys.special, row.values)
            filtered = row.filtered
        keys = axis_prefix(decoder, step.query + 1)
        row = bar_row(step.self_row, keys, selection.layer, selection.head, selection.hide_special)
        self.self_bars.show(self._title("decoder self-attention", row), row.keys.tokens, row.keys.special, row.values)
        filtered = filtered or row.filtered
        self._show_table(step)
        summary = (
            f"step {self.index + 1}: the decoder row of position {step.query} produced {produced} "
            f"with probability {step.probability:.3f}" + ("" if step.rank == 0 else f" (rank {step.rank + 1})") + "."
        )
        if steps.trace.architecture == "encoder-decoder":
            summary += " Greedy generation from the source text; the target field is not used here."
        if filtered:
            # Said here, not in the plot titles: a longer title would widen the plots past the dock.
            summary += " Special tokens hidden: each bar row is renormalised over the other keys."
        self.summary.setText(summary)

    @staticmethod
    def _title(kind: str, row: BarRow) -> str:
        head = "mean over heads" if row.head is None else f"head {row.head}"
        return f"{kind} · layer {row.layer} · {head}"

    @staticmethod
    def _tokens_html(steps: StepThrough, step: GenerationStep) -> str:
        """The decoder tokens up to the produced one: the given prefix grey, the produced one highlighted."""
        decoder = steps.trace.decoder
        parts = []
        for position in range(step.position + 1):
            text = html.escape(display_token(decoder.tokens[position]))
            if position == step.position:
                parts.append(
                    f"<span style='background:{SELECTION_COLOUR}; color:white; font-weight:600;'>&nbsp;{text}&nbsp;</span>"
                )
            elif position < steps.first_produced:
                parts.append(f"<span style='color:{MUTED};'>{text}</span>")
            else:
                parts.append(text)
        heading = "prompt and generated" if steps.trace.architecture == "decoder" else "generated"
        return f"<b>{heading}:</b>&nbsp; " + " ".join(parts)

    def _show_table(self, step: GenerationStep) -> None:
        self.table_title.setText(f"top {len(step.top)} next tokens at position {step.query}")
        self.table.setRowCount(len(step.top))
        bold = QFont()
        bold.setBold(True)
        for row, (token, token_id, probability) in enumerate(step.top):
            chosen = token_id == step.token_id
            label = QTableWidgetItem(("✓ " if chosen else "") + display_token(token))
            value = QTableWidgetItem(f"{probability:.4f}")
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for item in (label, value):
                item.setToolTip(f"token id {token_id}" + (" · the token produced" if chosen else ""))
                if chosen:
                    item.setFont(bold)
                    item.setBackground(QBrush(QColor(PRODUCED_BACKGROUND)))
            self.table.setItem(row, 0, label)
            self.table.setItem(row, 1, value)
        # Exactly as tall as its rows: k is small, a scroll bar would only hide one.
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height()
            + self.table.verticalHeader().defaultSectionSize() * len(step.top)
            + 2 * self.table.frameWidth()
        )

    def marked_rows(self) -> list[int]:
        """The table rows marked as the produced token."""
        return [row for row in range(self.table.rowCount()) if self.table.item(row, 0).text().startswith("✓ ")]
