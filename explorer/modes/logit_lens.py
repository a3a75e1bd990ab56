"""The logit lens dock: layers × positions, each cell the token the residual stream predicts there.

For decoder-only and encoder–decoder models (nostalgebraist 2020; the numbers are
``model.logit_lens``, computed on the worker from the residual stream the trace kept).
Row "embeddings" reads the input to layer 0, row "after layer l" the residual after it;
the bottom row is the model's own prediction. A cell's colour is its first choice's
probability and its text that token (while the cells are wide enough to hold it).
Clicking a cell lists its top 10 and the rank there of the token the model finally
predicts at that position.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..panels.heatmap import (
    MUTED,
    ClickableImage,
    ColourBarSync,
    DisabledNotice,
    label_token_axes,
    lookup,
    outline_pen,
    plain_label,
    style_plot,
    token_axes,
    token_label,
)
from ..panels.theme import plot_theme
from ..trace_actions import from_saved_file
from .base import AnalysisMode
from .host import ModeHost

# Cell labels are drawn only while there are at most this many cells and each is wide enough.
MAX_LABELLED_CELLS = 1200
MIN_LABEL_PIXELS = 26


SAVED_REASON = ("A saved trace is shown without its model: the logit lens needs the model's final norm and "
                "unembedding. Open the model and type to see it.")


def no_decoder_reason(model_name: str) -> str:
    return (f"The logit lens reads a decoder's residual stream through its language-model head: {model_name} is an "
            "encoder-only model, which predicts no next token.")


class LogitLensMode(AnalysisMode):
    name = "lens"
    title = "Logit lens"
    tab_with = "head"

    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(host, parent)
        self.lens = None  # the LogitLens shown
        self.labels: dict[int, str] = {}
        self.lens_trace: object | None = None  # the trace the lens is of
        self.asked_for: object | None = None  # the trace the newest request is for
        self.selected: tuple[int, int] | None = None  # (row, column) of the clicked cell
        self.cell_texts: list = []  # the pg.TextItem of each labelled cell

    def build(self) -> QWidget:
        content = QWidget()
        self.title_label = plain_label("")
        self.title_label.setStyleSheet("font-weight:600;")
        self.note = plain_label("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color:{MUTED};")
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(plot_theme().background)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0, axisItems=token_axes())
        style_plot(self.plot)
        self.plot.setLabel("bottom", "position (the token whose successor is predicted)", color=plot_theme().foreground)
        self.image = ClickableImage(on_click=self.select_cell)
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(interactive=False, width=14, colorMap=lookup("viridis"))
        self.colour_bar.setImageItem(self.image, insert_in=self.plot)
        self._bar = ColourBarSync(self.colour_bar)
        self.outline = pg.QtWidgets.QGraphicsRectItem()
        self.outline.setPen(outline_pen(2.0))
        self.outline.setZValue(10)
        self.outline.hide()
        self.plot.addItem(self.outline)
        self.plot.getViewBox().sigResized.connect(self._update_labels)
        self.details = QLabel()
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setText("Click a cell to see its top 10.")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title_label)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.details)
        self.container = DisabledNotice(content)
        return self.container

    # -- painting -------------------------------------------------------------------------------
    def show_state(self) -> None:
        trace = self.host.state.trace
        if trace is None:
            return
        if trace.decoder is None:
            model = self.host.model
            self.container.set_available(False, no_decoder_reason(model.name if model is not None else "this"))
            return
        if from_saved_file(trace):
            self.container.set_available(False, SAVED_REASON)
            return
        self.container.set_available(True)
        if trace is not self.lens_trace and trace is not self.asked_for:
            from ..logit_lens_job import lens_with_labels

            self.asked_for = trace
            self.request("lens", lambda model, trace=trace: (trace, *lens_with_labels(model, trace)))
            if self.lens is None:
                self.note.setText("Computing the logit lens…")

    def on_result(self, topic: str, value: Any) -> None:
        trace, lens, labels = value
        if trace is not self.asked_for:
            return  # an older trace's lens
        self.lens_trace, self.lens, self.labels = trace, lens, labels
        self.asked_for = None
        self.selected = None
        self._draw()

    def on_failure(self, topic: str, reason: str) -> None:
        self.asked_for = None
        self.container.set_available(False, reason)

    def _token(self, token_id: int) -> str:
        return token_label(self.labels.get(int(token_id), str(token_id)))

    def _draw(self) -> None:
        lens = self.lens
        probabilities = lens.top_probabilities[:, :, 0]  # (rows, P)
        rows, columns = probabilities.shape
        self.image.setImage(probabilities.astype(np.float32), autoLevels=False, levels=(0.0, 1.0))
        self.image.setRect(0, 0, columns, rows)
        self.plot.setRange(xRange=(0, columns), yRange=(0, rows), padding=0.0)
        self._bar.show(self.host.state.selection.colormap, (0.0, 1.0))
        self.colour_bar.setLabel("right", "first choice's probability")
        self.title_label.setText(f"logit lens · {rows} residuals × {columns} positions · cell: the likeliest next token")
        self.note.setText(lens.note or "Bottom row: the model's own prediction. Colour: the first choice's probability.")
        for item in self.cell_texts:
            self.plot.removeItem(item)
        self.cell_texts = []
        if rows * columns <= MAX_LABELLED_CELLS:
            font = QFont()
            font.setPointSizeF(7.5)
            for row in range(rows):
                for column in range(columns):
                    dark = probabilities[row, column] < 0.6  # every sequential map is dark at its low end
                    item = pg.TextItem(self._token(lens.top_ids[row, column, 0]), anchor=(0.5, 0.5),
                                       color="#ffffff" if dark else "#000000")
                    item.setFont(font)
                    item.setPos(column + 0.5, row + 0.5)
                    self.plot.addItem(item)
                    self.cell_texts.append(item)
        self._update_labels()
        self.details.setText("Click a cell to see its top 10.")
        self.outline.hide()

    def _update_labels(self, *_: object) -> None:
        if self.lens is None:
            return
        lens, trace = self.lens, self.lens_trace
        rows, columns = lens.top_ids.shape[:2]
        tokens = [token_label(trace.decoder.tokens[position]) for position in lens.positions]
        special = {token for token, flag in zip(tokens, trace.decoder.special[lens.positions]) if flag}
        label_token_axes(self.plot, (rows, columns), lens.row_labels, tokens, special)
        wide = self.plot.getViewBox().width() / max(columns, 1) >= MIN_LABEL_PIXELS
        for item in self.cell_texts:
            item.setVisible(wide)

    # -- clicks -----------------------------------------------------------------------------------
    def select_cell(self, row: int, column: int) -> None:
        """Show cell (row, column)'s top 10 and where the final prediction ranks in it."""
        lens, trace = self.lens, self.lens_trace
        if lens is None:
            return
        self.selected = (row, column)
        self.outline.setRect(column, row, 1, 1)
        self.outline.show()
        position = int(lens.positions[column])
        final = int(lens.final_ids[column])
        entries = " · ".join(
            f"{rank + 1}. {html.escape(repr(self._token(token_id)))} {probability:.1%}"
            for rank, (token_id, probability) in enumerate(zip(lens.top_ids[row, column], lens.top_probabilities[row, column]))
        )
        rank = int(lens.final_ranks[row, column])
        self.details.setText(
            f"<b>{html.escape(lens.row_labels[row])}, position {position} "
            f"{html.escape(repr(token_label(trace.decoder.tokens[position])))}</b>: {entries}<br>"
            f"The model's final prediction here, {html.escape(repr(self._token(final)))}, ranks "
            f"<b>{rank + 1:,}</b> in this row (p = {float(lens.final_probabilities[row, column]):.2%})."
        )
