"""The overview grid: every layer × head of one attention kind as small heatmaps.

All thumbnails live in one plot as a mosaic of unit cells (layer rows, head columns,
an optional mean column), driven by one ``ColorBarItem`` for the shared colour scale.
One plot instead of a ViewBox per head keeps a 12 × 12 grid cheap to build and to
draw, and keeps the number of ViewBoxes in the window small. Items are built once per
model shape and then only fed new arrays, so typing never creates graphics items.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from .theme import plot_theme
from ..core.views import GridView
from .heatmap import ClickableImage, lookup, outline_pen, stable_axes, style_plot

MEAN_COLUMN_TITLE = "mean"
# Space between thumbnails, as a fraction of a cell.
GAP = 0.08


def cell_rect(column: int, row: int) -> QRectF:
    """Where the thumbnail of grid cell (column, row) sits in plot coordinates."""
    return QRectF(column + GAP / 2, row + GAP / 2, 1 - GAP, 1 - GAP)


class OverviewGrid(QWidget):
    """Thumbnails in one ``PlotItem``; ``head_clicked(layer, head)`` (head -1 = mean)."""

    head_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(plot_theme().background)
        self.title = self.view.addLabel("", row=0, col=0, colspan=2, color=plot_theme().foreground, size="9pt")
        self.plot: pg.PlotItem = self.view.addPlot(row=1, col=0, axisItems=stable_axes("top", "left"))
        style_plot(self.plot)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        for side in ("top", "left"):
            # Labels only: the thumbnails' own edges frame the grid.
            axis = self.plot.getAxis(side)
            axis.setPen(pg.mkPen(None))
            axis.setStyle(tickLength=0)
        self.colour_bar = pg.ColorBarItem(colorMap=lookup("viridis"), interactive=False, width=12)
        self.view.addItem(self.colour_bar, row=1, col=1)
        self.outline = QGraphicsRectItem()
        self.outline.setPen(outline_pen(2.5))
        self.outline.setZValue(10)
        self.outline.hide()
        self.plot.addItem(self.outline)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._shape: tuple[int, int, bool] | None = None
        self.images: dict[tuple[int, int], ClickableImage] = {}  # (layer, head or -1) -> item
        self._columns: dict[int, int] = {}  # head or -1 -> column in the mosaic
        self._selected: tuple[int, int] | None = None
        self._colormap = "viridis"
        self._levels: tuple[float, float] | None = None
        self.shown: GridView | None = None

    def _build(self, n_layers: int, n_heads: int, mean_column: bool) -> None:
        for image in self.images.values():
            self.plot.removeItem(image)
        self.images.clear()
        heads = [*range(n_heads), *([-1] if mean_column else [])]
        self._columns = {head: column for column, head in enumerate(heads)}
        for layer in range(n_layers):
            for head in heads:
                image = ClickableImage(on_click=lambda _row, _column, l=layer, h=head: self.head_clicked.emit(l, h))
                self.plot.addItem(image)
                self.images[(layer, head)] = image
        self.colour_bar.setImageItem(list(self.images.values()))
        self.colour_bar.setColorMap(lookup(self._colormap))
        top = [(column + 0.5, MEAN_COLUMN_TITLE if head == -1 else f"H{head}") for head, column in self._columns.items()]
        self.plot.getAxis("top").setTicks([top])
        self.plot.getAxis("left").setTicks([[(layer + 0.5, f"L{layer}") for layer in range(n_layers)]])
        self.plot.setRange(xRange=(0, len(heads)), yRange=(0, n_layers), padding=0.0)
        self._shape = (n_layers, n_heads, mean_column)
        self._selected = None
        self._levels = None

    def show(self, view: GridView) -> None:
        """Paint the view's (L, H, q, k) thumbnails and optional means; outline its selection."""
        self.shown = view
        grid, means, levels, colormap, title = view.thumbnails, view.means, view.levels, view.colormap, view.title
        n_layers, n_heads = grid.shape[:2]
        shape = (n_layers, n_heads, means is not None)
        if shape != self._shape:
            self._build(*shape)
        if self.title.text != title:
            self.title.setText(title)
        if self._colormap != colormap:
            # Re-colouring every image is the costly part of a repaint: only on a change.
            self.colour_bar.setColorMap(lookup(colormap))
            self._colormap = colormap
        for (layer, head), image in self.images.items():
            data = means[layer] if head == -1 and means is not None else grid[layer, head]
            image.setImage(data, autoLevels=False, levels=levels)
            image.setRect(cell_rect(self._columns[head], layer))
        if self._levels != levels:
            self.colour_bar.setLevels(levels)
            self._levels = levels
        self._outline(view.selected)

    def _outline(self, selected: tuple[int, int]) -> None:
        layer, head = selected
        if (layer, head) not in self.images:
            self.outline.hide()
        else:
            self.outline.setRect(QRectF(self._columns[head], layer, 1, 1))
            self.outline.show()
        self._selected = selected

    @property
    def selected(self) -> tuple[int, int] | None:
        return self._selected
