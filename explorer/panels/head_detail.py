"""The head detail panel: one head (or the mean) as a large heatmap with token labels.

Query tokens run down the rows, key tokens along the columns. Hovering reads out the
cell (query, key, probability, raw score); clicking a row makes that token the query.
A switch shows softmax probabilities, the raw pre-softmax scores, or value-weighted
attention α·‖f(x)‖ (``core.value_weighted``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..core.sink_scale import COLOUR_RANGE_TITLES
from ..core.views import HeadView
from .heatmap import plain_label, token_label
from .token_heatmap import TokenHeatmap


class HeadDetail(QWidget):
    """Header (title + probabilities/scores switch), heatmap, hover readout."""

    values_changed = Signal(str)  # "weights" | "scores" | "value-weighted"
    colour_range_changed = Signal(str)  # a name of ``core.sink_scale.COLOUR_RANGES``
    query_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = plain_label()
        self.title.setStyleSheet("font-weight:600;")
        # A long title (windows, shared keys, a sink left out of the range) is cut, never widens the window.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.probabilities_button = QRadioButton("Probabilities")
        self.scores_button = QRadioButton("Scores")
        self.probabilities_button.setToolTip("y = softmax(x): what the model mixes values with")
        self.scores_button.setToolTip("x_i = α(q, k_i): the scaled dot products before the softmax")
        self.value_button = QRadioButton("Value-weighted")
        self.value_button.setToolTip(
            "α_ij·‖f(x_j)‖ with f(x) = (x W_V + b_V) W_O^h: how far key j moves the head's output "
            "(Kobayashi et al. 2020); for the mean, the norm of the summed heads"
        )
        self.probabilities_button.setChecked(True)
        self._buttons = QButtonGroup(self)
        self._buttons.addButton(self.probabilities_button)
        self._buttons.addButton(self.scores_button)
        self._buttons.addButton(self.value_button)
        self._value_buttons = {"weights": self.probabilities_button, "scores": self.scores_button,
                               "value-weighted": self.value_button}
        self._buttons.buttonToggled.connect(self._on_values_toggled)
        # The title has a line of its own: with three value choices and the colour range
        # beside it, a long title (windows, shared keys, a sink left out) would be cut.
        header = QHBoxLayout()
        header.addWidget(self.probabilities_button)
        header.addWidget(self.scores_button)
        header.addWidget(self.value_button)
        self.colour_range = QComboBox()
        for name, title in COLOUR_RANGE_TITLES.items():
            self.colour_range.addItem(title, name)
        self.colour_range.setToolTip(
            "Keys left out of the colour range (drawn saturated, outlined dashed): auto leaves out the first key "
            "where the head puts over half of its weight there (an attention sink)"
        )
        self.colour_range.currentIndexChanged.connect(
            lambda _index: self.colour_range_changed.emit(self.colour_range.currentData())
        )
        header.addStretch(1)
        header.addWidget(self.colour_range)
        self.heatmap = TokenHeatmap()
        self.readout = plain_label("Hover a cell to read it.")
        self.readout.setStyleSheet("font-family: monospace;")  # the palette's text colour: light or dark
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title)
        layout.addLayout(header)
        layout.addWidget(self.heatmap, 1)
        layout.addWidget(self.readout)
        self.heatmap.row_clicked.connect(self.query_clicked)
        self.heatmap.cell_hovered.connect(self._on_cell_hovered)
        self._weights: np.ndarray | None = None
        self._scores: np.ndarray | None = None
        self._value_weighted: np.ndarray | None = None
        self.excluded_marks: list[QGraphicsRectItem] = []
        self._query_tokens: list[str] = []
        self._key_tokens: list[str] = []
        self.shown: HeadView | None = None

    def show(self, view: HeadView) -> None:
        """Show one head's view: the matrix its values switch picks, with token labels."""
        self.shown = view
        self.title.setText(view.title)
        self.title.setToolTip(view.title)
        button = self._value_buttons.get(view.values, self.probabilities_button)
        if not button.isChecked():
            self._buttons.blockSignals(True)
            button.setChecked(True)
            self._buttons.blockSignals(False)
        self._weights, self._scores = view.weights, view.scores
        self._value_weighted = view.value_weighted
        self._query_tokens, self._key_tokens = view.query_axis.tokens, view.key_axis.tokens
        self.heatmap.show_matrix(
            view.matrix,
            view.query_axis.tokens,
            view.key_axis.tokens,
            view.levels,
            view.colormap,
            view.query,
            view.query_axis.special,
            view.key_axis.special,
        )
        self._mark_excluded(view.excluded_keys, view.matrix.shape[0])

    def _mark_excluded(self, keys: tuple[int, ...], rows: int) -> None:
        """A dashed outline around each key column the colour range leaves out."""
        while len(self.excluded_marks) > len(keys):
            self.heatmap.plot.removeItem(self.excluded_marks.pop())
        while len(self.excluded_marks) < len(keys):
            mark = QGraphicsRectItem()
            pen = QPen(QColor("#ffffff"), 2.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            mark.setPen(pen)
            mark.setZValue(9)
            self.heatmap.plot.addItem(mark)
            self.excluded_marks.append(mark)
        for mark, key in zip(self.excluded_marks, keys):
            mark.setRect(QRectF(key, 0, 1, rows))

    def set_colour_range(self, name: str) -> None:
        """Show the selection's colour range in the chooser without reporting it back."""
        index = self.colour_range.findData(name)
        if index >= 0 and index != self.colour_range.currentIndex():
            self.colour_range.blockSignals(True)
            self.colour_range.setCurrentIndex(index)
            self.colour_range.blockSignals(False)

    def readout_text(self, row: int, column: int) -> str:
        if self._weights is None or self._scores is None:
            return ""
        score = float(self._scores[row, column])
        score_text = "masked" if not np.isfinite(score) else f"{score:+.4f}"
        value_text = ""
        if self._value_weighted is not None:
            value_text = f"   ‖α·f(x)‖ = {float(self._value_weighted[row, column]):.4f}"
        return (
            f"query {row} {token_label(self._query_tokens[row])!r}  →  key {column} "
            f"{token_label(self._key_tokens[column])!r}   p = {float(self._weights[row, column]):.4f}   "
            f"score = {score_text}{value_text}"
        )

    def _on_cell_hovered(self, row: int, column: int) -> None:
        if row < 0:
            return
        self.readout.setText(self.readout_text(row, column))

    def _on_values_toggled(self, _button, checked: bool) -> None:
        if not checked:
            return  # the button being switched off; the one switched on reports
        for values, button in self._value_buttons.items():
            if button.isChecked():
                self.values_changed.emit(values)
