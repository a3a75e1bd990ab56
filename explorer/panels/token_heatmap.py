"""A token × token heatmap widget: one image, token ticks, a colour bar and a query-row outline.

The head detail, the cross-attention panel and the aggregation mode all draw their
matrices with it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtWidgets import QWidget

from ..core.numeric import display_values
from .heatmap import ColourBarSync, build_heatmap, label_token_axes, token_label


class TokenHeatmap(QWidget):
    """A PlotItem with one ImageItem, token ticks, a colour bar and a query-row outline.

    Shared by the head detail, the cross-attention panel and the aggregation mode.
    """

    cell_hovered = Signal(int, int)  # query row, key column; (-1, -1) when outside
    row_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        build_heatmap(self, on_click=lambda row, _column: self.row_clicked.emit(row))
        self._query_labels: list[str] = []
        self._key_labels: list[str] = []
        self.matrix: np.ndarray | None = None
        self._special_labels: set[str] = set()
        self._bar = ColourBarSync(self.colour_bar)
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
        self._bar.show(colormap, levels)
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
