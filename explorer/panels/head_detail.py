"""The head detail panel: one head (or the mean) as a large heatmap with token labels.

Query tokens run down the rows, key tokens along the columns. Hovering reads out the
cell (query, key, probability, raw score); clicking a row makes that token the query.
A switch shows softmax probabilities or the raw pre-softmax scores.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGraphicsRectItem,
    QHBoxLayout,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..state import display_values
from .heatmap import (
    BACKGROUND,
    FOREGROUND,
    ClickableImage,
    label_token_axes,
    lookup,
    outline_pen,
    plain_label,
    style_plot,
    token_axes,
    token_label,
)


class TokenHeatmap(QWidget):
    """A PlotItem with one ImageItem, token ticks, a colour bar and a query-row outline.

    Shared by the head detail and the cross-attention panels.
    """

    cell_hovered = Signal(int, int)  # query row, key column; (-1, -1) when outside
    row_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(BACKGROUND)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0, axisItems=token_axes())
        style_plot(self.plot)
        self.plot.setLabel("left", "query", color=FOREGROUND)
        self.plot.setLabel("bottom", "key", color=FOREGROUND)
        self.image = ClickableImage(on_click=lambda row, _column: self.row_clicked.emit(row))
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(interactive=False, width=14, colorMap=lookup("viridis"))
        self.colour_bar.setImageItem(self.image, insert_in=self.plot)
        self.row_outline = QGraphicsRectItem()
        self.row_outline.setPen(outline_pen(2.0))
        self.row_outline.setZValue(10)
        self.plot.addItem(self.row_outline)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._query_labels: list[str] = []
        self._key_labels: list[str] = []
        self.matrix: np.ndarray | None = None
        self._special_labels: set[str] = set()
        self._colormap = "viridis"
        self._levels: tuple[float, float] | None = None
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.getViewBox().sigResized.connect(self._update_ticks)

    def show_matrix(
        self,
        matrix: np.ndarray,
        query_tokens: list[str],
        key_tokens: list[str],
        levels: tuple[float, float],
        colormap: str,
        query: int | None,
        query_special: np.ndarray | None = None,
        key_special: np.ndarray | None = None,
    ) -> None:
        """Paint ``matrix`` (Q, K) with token labels; outline the row ``query``."""
        self.matrix = matrix
        rows, columns = matrix.shape
        self.image.setImage(display_values(matrix), autoLevels=False, levels=levels)
        self.image.setRect(0, 0, columns, rows)
        self.plot.setRange(xRange=(0, columns), yRange=(0, rows), padding=0.0)
        if self._colormap != colormap:
            self.colour_bar.setColorMap(lookup(colormap))
            self._colormap = colormap
        if self._levels != levels:
            self.colour_bar.setLevels(levels)
            self._levels = levels
        self._query_labels = [token_label(token) for token in query_tokens]
        self._key_labels = [token_label(token) for token in key_tokens]
        self._special_labels = {
            label
            for labels, special in ((self._query_labels, query_special), (self._key_labels, key_special))
            if special is not None
            for label, is_special in zip(labels, special)
            if is_special
        }
        self._update_ticks()
        if query is not None and 0 <= query < rows:
            self.row_outline.setRect(QRectF(0, query, columns, 1))
            self.row_outline.show()
        else:
            self.row_outline.hide()

    def _update_ticks(self, *_: object) -> None:
        if self.matrix is not None:
            label_token_axes(self.plot, self.matrix.shape, self._query_labels, self._key_labels, self._special_labels)

    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        if self.matrix is None or not self.plot.sceneBoundingRect().contains(scene_position):
            self.cell_hovered.emit(-1, -1)
            return
        point = self.plot.getViewBox().mapSceneToView(scene_position)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, columns = self.matrix.shape
        if 0 <= row < rows and 0 <= column < columns:
            self.cell_hovered.emit(row, column)
        else:
            self.cell_hovered.emit(-1, -1)


class HeadDetail(QWidget):
    """Header (title + probabilities/scores switch), heatmap, hover readout."""

    values_changed = Signal(str)  # "weights" | "scores"
    query_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = plain_label()
        self.title.setStyleSheet("font-weight:600;")
        self.probabilities_button = QRadioButton("Probabilities")
        self.scores_button = QRadioButton("Scores")
        self.probabilities_button.setToolTip("y = softmax(x): what the model mixes values with")
        self.scores_button.setToolTip("x_i = α(q, k_i): the scaled dot products before the softmax")
        self.probabilities_button.setChecked(True)
        self._buttons = QButtonGroup(self)
        self._buttons.addButton(self.probabilities_button)
        self._buttons.addButton(self.scores_button)
        self.probabilities_button.toggled.connect(self._on_values_toggled)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.probabilities_button)
        header.addWidget(self.scores_button)
        self.heatmap = TokenHeatmap()
        self.readout = plain_label("Hover a cell to read it.")
        self.readout.setStyleSheet("color:#444; font-family: monospace;")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(header)
        layout.addWidget(self.heatmap, 1)
        layout.addWidget(self.readout)
        self.heatmap.row_clicked.connect(self.query_clicked)
        self.heatmap.cell_hovered.connect(self._on_cell_hovered)
        self._weights: np.ndarray | None = None
        self._scores: np.ndarray | None = None
        self._query_tokens: list[str] = []
        self._key_tokens: list[str] = []

    def show_head(
        self,
        title: str,
        values: str,
        weights: np.ndarray,
        scores: np.ndarray,
        query_tokens: list[str],
        key_tokens: list[str],
        levels: tuple[float, float],
        colormap: str,
        query: int,
        query_special: np.ndarray | None = None,
        key_special: np.ndarray | None = None,
    ) -> None:
        self.title.setText(title)
        button = self.probabilities_button if values == "weights" else self.scores_button
        if not button.isChecked():
            button.blockSignals(True)
            button.setChecked(True)
            button.blockSignals(False)
        self._weights, self._scores = weights, scores
        self._query_tokens, self._key_tokens = query_tokens, key_tokens
        self.heatmap.show_matrix(
            weights if values == "weights" else scores, query_tokens, key_tokens, levels, colormap, query, query_special, key_special
        )

    def readout_text(self, row: int, column: int) -> str:
        if self._weights is None or self._scores is None:
            return ""
        score = float(self._scores[row, column])
        score_text = "masked" if not np.isfinite(score) else f"{score:+.4f}"
        return (
            f"query {row} {token_label(self._query_tokens[row])!r}  →  key {column} "
            f"{token_label(self._key_tokens[column])!r}   p = {float(self._weights[row, column]):.4f}   "
            f"score = {score_text}"
        )

    def _on_cell_hovered(self, row: int, column: int) -> None:
        if row < 0:
            return
        self.readout.setText(self.readout_text(row, column))

    def _on_values_toggled(self, _checked: bool) -> None:
        self.values_changed.emit("weights" if self.probabilities_button.isChecked() else "scores")
