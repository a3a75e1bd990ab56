"""The head detail panel: one head (or the mean) as a zoomable heatmap with token labels.

Query tokens run down the rows, key tokens along the columns. The wheel (or a pinch)
zooms around the cursor and a drag pans; what is on screen is drawn from a tile of the
visible region at screen resolution — max-pooled when zoomed out, exact cells when zoomed
in (``HeadView.tile``) — so an 8,192-token head costs a screenful of cells, not 67
million. A tile that is cheap (a dense trace, or a small region) is made here at once;
a costly one goes to the worker through ``tile_runner``, and only the answer to the
latest request is drawn (``tile_answered``). Hovering reads out the cell (query, key,
probability, raw score); clicking a row makes that token the query. "Go to token" takes
a position or a word and centres the view there. A switch shows softmax probabilities,
the raw pre-softmax scores, or value-weighted attention α·‖f(x)‖ (``core.value_weighted``);
a chooser leaves an attention sink out of the colour range (``core.sink_scale``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.sink_scale import COLOUR_RANGE_TITLES
from ..core.value_weighted import VALUE_WEIGHTED
from ..core.viewport import GO_TO_CELLS, TileRequest, Viewport, find_token
from ..core.views import HeadView
from .heatmap import token_label
from .readout import Readout
from .zoom_heatmap import ZoomHeatmap

# A tile of at most this many recomputed cells (region rows × columns, times the heads
# for the mean) is made on the GUI thread: 1,000 × 1,000 cells of d_head 64 took 25–31 ms
# on two CPU cores, so a quarter of that keeps the GUI thread's turn within a frame.
# Larger ones (the whole head of 1,024 tokens; 1.9 s at 8,192) go to the worker, while the
# view shows the head's thumbnail or the previous tile stretched to its place.
SYNC_TILE_CELLS = 1 << 18


def tile_cost(view: HeadView, request: TileRequest) -> int:
    """Cells a tile of ``request`` recomputes: 0 for a dense trace (it only slices)."""
    if view.source.dense:
        return 0
    cells = (request.rows.stop - request.rows.start) * (request.columns.stop - request.columns.start)
    return cells * (view.source.maps.n_heads if view.head is None else 1)


class HeadDetail(QWidget):
    """Header (title, go to token, probabilities/scores switch), zoomable heatmap, hover readout."""

    values_changed = Signal(str)  # "weights" | "scores" | "value-weighted"
    colour_range_changed = Signal(str)  # a name of ``core.sink_scale.COLOUR_RANGES``
    query_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A long title gives way to the controls beside it (its tooltip keeps it whole).
        self.title = Readout()
        self.title.setStyleSheet("font-weight:600;")
        self.go_to = QLineEdit()
        self.go_to.setPlaceholderText("go to token…")
        self.go_to.setToolTip("Type a token position or a word and press Enter; Enter again finds the next one")
        self.go_to.setClearButtonEnabled(True)
        self.go_to.setMinimumWidth(120)
        self.go_to.setMaximumWidth(200)
        self.go_to.returnPressed.connect(self._on_go_to)
        self.whole_button = QToolButton()
        self.whole_button.setText("Whole")
        self.whole_button.setToolTip("Show the whole matrix (the wheel zooms, a drag pans)")
        self.whole_button.clicked.connect(self.show_whole)
        self.probabilities_button = QRadioButton("Probabilities")
        self.scores_button = QRadioButton("Scores")
        self.probabilities_button.setToolTip("y = softmax(x): what the model mixes values with")
        self.scores_button.setToolTip("x_i = α(q, k_i): the scaled dot products before the softmax")
        self.value_button = QRadioButton("Value-weighted")
        self._value_tip = (
            "α_ij·‖f(x_j)‖ with f(x) = (x W_V + b_V) W_O^h: how far key j moves the head's output "
            "(Kobayashi et al. 2020); for the mean, the norm of the summed heads"
        )
        self.value_button.setToolTip(self._value_tip)
        self.probabilities_button.setChecked(True)
        self._buttons = QButtonGroup(self)
        self._value_buttons = {"weights": self.probabilities_button, "scores": self.scores_button,
                               VALUE_WEIGHTED: self.value_button}
        for button in self._value_buttons.values():
            self._buttons.addButton(button)
        self._buttons.buttonToggled.connect(self._on_values_toggled)
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
        # The title has a line of its own: with three value choices, the colour range and
        # go to token beside them, a long title (windows, shared keys, a sink left out) would be cut.
        header = QHBoxLayout()
        for button in self._value_buttons.values():
            header.addWidget(button)
        header.addStretch(1)
        header.addWidget(self.colour_range)
        header.addWidget(self.go_to)
        header.addWidget(self.whole_button)
        self.heatmap = ZoomHeatmap()
        self.readout = Readout()
        self.readout.setText("Hover a cell to read it; the wheel zooms, a drag pans.")
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
        self.heatmap.viewport_changed.connect(self._on_viewport_changed)
        self.excluded_marks: list[QGraphicsRectItem] = []
        self._query_tokens: list[str] = []
        self._key_tokens: list[str] = []
        self._found: int = -1  # the last "go to token" match, so Enter steps on
        self.shown: HeadView | None = None
        # Runs ``HeadView.tile`` off the GUI thread: ``tile_runner(view, request)``; the
        # window answers through ``tile_answered``. None: every tile is made here.
        self.tile_runner: Callable[[HeadView, TileRequest], None] | None = None
        self.pending: tuple[HeadView, TileRequest] | None = None  # the tile being made on the worker
        self.tiles_made_here = 0  # how many tiles were made on the GUI thread (a test reads it)
        self._hovered: tuple[int, int] | None = None
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(0)
        self._hover_timer.timeout.connect(self._on_hover_settled)

    def show(self, view: HeadView) -> None:
        """Show one head's view: the matrix its values switch picks, with token labels."""
        self.shown = view
        self.title.setText(view.title)  # a title cut off shows whole in its tooltip
        self.value_button.setEnabled(not view.value_weighted_refusal)
        tip = view.value_weighted_refusal or self._value_tip
        if self.value_button.toolTip() != tip:  # each new tooltip restyles the button
            self.value_button.setToolTip(tip)
        button = self._value_buttons.get(view.values, self.probabilities_button)
        if not button.isChecked():
            self._buttons.blockSignals(True)
            button.setChecked(True)
            self._buttons.blockSignals(False)
        self._query_tokens, self._key_tokens = view.query_axis.tokens, view.key_axis.tokens
        self.pending = None
        self.heatmap.set_matrix(
            view.shape,
            view.query_axis.tokens,
            view.key_axis.tokens,
            view.levels,
            view.colormap,
            view.query,
            view.query_axis.special,
            view.key_axis.special,
            view.overview,
        )
        self._mark_excluded(view.excluded_keys, view.shape[0])

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

    # -- tiles -------------------------------------------------------------------------------
    def _on_viewport_changed(self, viewport: Viewport) -> None:
        view = self.shown
        if view is None or not viewport.rows or not viewport.columns:
            return
        request = viewport.request(*self.heatmap.pixels())
        if self.heatmap.request == request and self.pending is None:
            return
        if self.pending is not None and self.pending == (view, request):
            return
        if self.tile_runner is None or tile_cost(view, request) <= SYNC_TILE_CELLS:
            self.pending = None
            self.tiles_made_here += 1
            self.heatmap.show_tile(view.tile(request), request)
            return
        self.pending = (view, request)
        self.tile_runner(view, request)

    def tile_answered(self, view: HeadView, request: TileRequest, tile: np.ndarray) -> None:
        """A tile made on the worker; drawn only if it answers the latest request of this view."""
        if self.pending is None or self.pending[0] is not view or self.pending[1] != request:
            return
        self.pending = None
        self.heatmap.show_tile(tile, request)

    def tile_failed(self, reason: str) -> None:
        self.pending = None
        self.readout.setText(f"Could not compute this region: {reason}")

    def visible_region(self) -> tuple[slice, slice] | None:
        """(rows, keys) on screen while zoomed in, for "Export visible region…"; None otherwise."""
        viewport = self.heatmap.viewport
        if self.shown is None or not viewport.zoomed_in:
            return None
        rows, columns = viewport.visible()
        return slice(rows.start, rows.stop), slice(columns.start, columns.stop)

    # -- navigation -----------------------------------------------------------------------------
    def show_whole(self) -> None:
        self.heatmap.set_viewport(Viewport.whole(*self.heatmap.shape))

    def go_to_token(self, wanted: str) -> int | None:
        """Centre the view on the token a position or word names, make it the query; its index."""
        found = find_token(self._query_tokens, wanted, self._found)
        if found is None:
            self.readout.setText(f"No token matches {wanted!r}.")
            return None
        self._found = found
        rows, columns = self.heatmap.shape
        cells = min(GO_TO_CELLS, max(rows, columns))
        # Self-attention: the token's own key sits on the diagonal; cross: keep the columns.
        column = found if columns == rows else self.heatmap.viewport.left + self.heatmap.viewport.width / 2
        self.heatmap.set_viewport(self.heatmap.viewport.centred_on(found, column, cells))
        self.query_clicked.emit(found)
        return found

    def _on_go_to(self) -> None:
        self.go_to_token(self.go_to.text())

    # -- readout --------------------------------------------------------------------------------
    def readout_text(self, row: int, column: int) -> str:
        view = self.shown
        if view is None:
            return ""
        probability, score = view.source.cell(row, column)
        score_text = "masked" if not np.isfinite(score) else f"{score:+.4f}"
        value_text = ""
        if view.values == VALUE_WEIGHTED:
            weighted = view.source.rows(slice(row, row + 1), VALUE_WEIGHTED, slice(column, column + 1))[0, 0]
            value_text = f"   ‖α·f(x)‖ = {float(weighted):.4f}"
        return (
            f"query {row} {token_label(self._query_tokens[row])!r}  →  key {column} "
            f"{token_label(self._key_tokens[column])!r}   p = {probability:.4f}   "
            f"score = {score_text}{value_text}"
        )

    def _on_cell_hovered(self, row: int, column: int) -> None:
        if row < 0:
            return
        # A recomputed cell costs a read of the stored queries and keys: a burst of mouse
        # moves is read once, for the cell the pointer rests on when the events are done.
        self._hovered = (row, column)
        if self.shown is not None and self.shown.source.dense:
            self._on_hover_settled()  # a dense cell is only an index
        else:
            self._hover_timer.start()

    def _on_hover_settled(self) -> None:
        if self._hovered is not None and self.shown is not None:
            row, column = self._hovered
            rows, columns = self.shown.shape
            if row < rows and column < columns:
                self.readout.setText(self.readout_text(row, column))

    def _on_values_toggled(self, _button, checked: bool) -> None:
        if not checked:
            return  # the button being switched off; the one switched on reports
        for values, button in self._value_buttons.items():
            if button.isChecked():
                self.values_changed.emit(values)
