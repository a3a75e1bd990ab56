"""The overview grid: every layer × head of one attention kind as one mosaic image.

The thumbnails are coloured through a lookup table into one uint8 RGBA mosaic
(``core.mosaic``) shown by a single ``ImageItem``, so a repaint blits one picture instead
of colouring and drawing an image per head; the colour bar beside it only shows the scale.
The mosaic is rebuilt only when its values, levels or colours change (a new selection of
the query or the head leaves it alone), and the plot is laid out again only when the
grid's shape changes, so typing never creates graphics items.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from ..colormaps import lookup_table
from ..core.mosaic import MosaicLayout, colour_table, grid_layout, mosaic_rgba
from ..core.views import GridView
from .heatmap import ClickableImage, ColourBarSync, lookup, outline_pen, stable_axes, style_plot
from .theme import plot_theme

# Room above the first layer for the "KV n" titles of grouped heads, in cells: about a
# line of text whether the grid has 3 layers (tall cells) or 30 (short ones).
def group_title_height(n_layers: int) -> float:
    return min(0.6, max(0.15, 0.06 * n_layers))

MEAN_COLUMN_TITLE = "mean"


class OverviewGrid(QWidget):
    """One mosaic in one ``PlotItem``; ``head_clicked(layer, head)`` (head -1 = mean)."""

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
        self.image = ClickableImage(on_click=self._on_pixel_clicked)
        self.plot.addItem(self.image)
        self.outline = QGraphicsRectItem()
        self.outline.setPen(outline_pen(2.5))
        self.outline.setZValue(10)
        self.outline.hide()
        self.plot.addItem(self.outline)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.layout_: MosaicLayout | None = None
        self._columns: dict[int, int] = {}  # head or -1 -> column in the mosaic
        self._unit = 1.0  # mosaic pixels per plot unit
        self._drawn: tuple | None = None  # what the mosaic shows: (arrays' ids, levels, colour map)
        self.cells: dict[tuple[int, int], np.ndarray] = {}  # (layer, head or -1) -> values drawn
        self.mosaic_builds = 0  # how often the mosaic changed; a regression test reads it
        self.gui_thread_colourings = 0  # of those, coloured here rather than on the worker
        self._selected: tuple[int, int] | None = None
        self._bar = ColourBarSync(self.colour_bar)
        self.shown: GridView | None = None
        self.group_labels: list[pg.TextItem] = []  # "KV n" over each group of heads sharing keys

    def _build(self, layout: MosaicLayout) -> None:
        """Lay the plot out for a grid of a new shape: titles, layer labels, range."""
        self.layout_ = layout
        self._columns = {column.head: index for index, column in enumerate(layout.columns)}
        xs = layout.column_x()
        titles = [(x + 0.5, MEAN_COLUMN_TITLE if c.head == -1 else c.title) for x, c in zip(xs, layout.columns)]
        self.plot.getAxis("top").setTicks([titles])
        self.plot.getAxis("left").setTicks([[(row + 0.5, label) for row, label in enumerate(layout.row_labels)]])
        for label in self.group_labels:
            self.plot.removeItem(label)
        self.group_labels = []
        title_height = group_title_height(len(layout.row_labels))
        for x, title in layout.group_centres():
            label = pg.TextItem(title, color=plot_theme().foreground, anchor=(0.5, 0.5))
            label.setPos(x, -title_height / 2)
            self.plot.addItem(label)
            self.group_labels.append(label)
        top = -title_height if self.group_labels else 0.0
        self.plot.setRange(xRange=(0, layout.width), yRange=(top, layout.height), padding=0.0)
        self._selected = None
        self._drawn = None

    def show(self, view: GridView) -> None:
        """Paint the view's (L, H, q, k) thumbnails and optional means; outline its selection."""
        self.shown = view
        grid, means, levels, colormap, title = view.thumbnails, view.means, view.levels, view.colormap, view.title
        n_layers, n_heads = grid.shape[:2]
        layout = grid_layout(n_layers, n_heads, means is not None, view.kv_heads, view.windows)
        if layout != self.layout_:
            self._build(layout)
        if self.title.text != title:
            self.title.setText(title)
        self._bar.show(colormap, levels)
        drawn = (id(grid), id(means), tuple(levels), colormap)
        if drawn != self._drawn:
            # Only new values, levels or colours recolour the mosaic.
            self._drawn = drawn
            self.cells = {
                (layer, head): (means[layer] if head == -1 else grid[layer, head])
                for layer in range(n_layers)
                for head in self._columns
            }
            if view.mosaic is not None:
                rgba, self._unit = view.mosaic  # coloured on the worker: only a blit here
            else:
                by_position = {(layer, self._columns[head]): values for (layer, head), values in self.cells.items()}
                rgba, self._unit = mosaic_rgba(layout, by_position, levels, colour_table(lookup_table(colormap)))
                self.gui_thread_colourings += 1
            self.image.setImage(rgba, autoLevels=False)
            self.image.setRect(QRectF(0, 0, rgba.shape[1] / self._unit, rgba.shape[0] / self._unit))
            self.mosaic_builds += 1
        self._outline(view.selected)

    def _on_pixel_clicked(self, row: int, column: int) -> None:
        if self.layout_ is None:
            return
        hit = self.layout_.hit((column + 0.5) / self._unit, (row + 0.5) / self._unit)
        if hit is not None:
            layer, index = hit
            self.head_clicked.emit(layer, self.layout_.columns[index].head)

    def cell_centre(self, layer: int, head: int) -> tuple[float, float]:
        """Plot coordinates of the centre of cell (layer, head) (head -1 = mean)."""
        return self.layout_.column_x()[self._columns[head]] + 0.5, layer + 0.5

    def _outline(self, selected: tuple[int, int]) -> None:
        layer, head = selected
        if self.layout_ is None or head not in self._columns or not 0 <= layer < len(self.layout_.row_labels):
            self.outline.hide()
        else:
            self.outline.setRect(QRectF(self.layout_.column_x()[self._columns[head]], layer, 1, 1))
            self.outline.show()
        self._selected = selected

    @property
    def selected(self) -> tuple[int, int] | None:
        return self._selected
