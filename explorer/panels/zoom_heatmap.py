"""The head detail's zoomable heatmap: wheel or pinch to zoom, drag to pan, a minimap.

The widget is thin: it shows whatever tile it is given where the tile belongs, reports
the region on screen as a ``core.viewport.Viewport`` (``viewport_changed``), and labels
the axes with the tokens that fit (``Viewport.labelled``) or, when cells are too thin for
any label, round token positions. Which tile to compute, and where (here or on the
worker), is the panel's business (``panels.head_detail``).

While zoomed in, a minimap in the corner shows the whole head (its pooled thumbnail)
with the visible region outlined; a click on it moves the view there.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ..colormaps import lookup_table
from ..core.mosaic import colour_indices, colour_table
from ..core.numeric import display_values
from ..core.viewport import MIN_CELLS, TileRequest, Viewport, position_ticks
from .heatmap import (
    AXIS_FONT_POINTS,
    ColourBarSync,
    build_heatmap,
    SELECTION_COLOUR,
    token_label,
)
from .theme import plot_theme

MINIMAP_PIXELS = 110  # the minimap's longer side


class _LabelWidths:
    """Pixel widths of tick labels, measured only for the indices asked about."""

    def __init__(self, labels: list[str], metrics: QFontMetricsF) -> None:
        self.labels, self.metrics, self._known = labels, metrics, {}

    def __getitem__(self, index: int) -> float:
        if index not in self._known:
            self._known[index] = self.metrics.horizontalAdvance(self.labels[index])
        return self._known[index]


class Minimap(QWidget):
    """The whole matrix, pooled, with the visible region outlined; a click centres the view there."""

    centre_requested = Signal(float, float)  # row, column of the matrix

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self._rgba: np.ndarray | None = None
        self.viewport: Viewport | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("The whole head; click to move the view there")

    def set_picture(self, thumbnail: np.ndarray | None, levels: tuple[float, float], colormap: str) -> None:
        if thumbnail is None or thumbnail.size == 0:
            self.image, self._rgba = None, None
            return
        table = colour_table(lookup_table(colormap))
        words = np.ascontiguousarray(table).view(np.uint32).reshape(-1)
        rgba = np.take(words, colour_indices(thumbnail, levels)).view(np.uint8).reshape(*thumbnail.shape, 4)
        self._rgba = np.ascontiguousarray(rgba)
        height, width = thumbnail.shape
        self.image = QImage(self._rgba.data, width, height, width * 4, QImage.Format.Format_RGBA8888)
        self.update()

    def set_viewport(self, viewport: Viewport) -> None:
        self.viewport = viewport
        rows, columns = max(viewport.rows, 1), max(viewport.columns, 1)
        scale = MINIMAP_PIXELS / max(rows, columns)
        self.setFixedSize(max(int(columns * scale), 24) + 2, max(int(rows * scale), 24) + 2)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        inner = QRectF(1, 1, self.width() - 2, self.height() - 2)
        painter.fillRect(self.rect(), QColor(plot_theme().foreground))
        if self.image is not None:
            painter.drawImage(inner, self.image)
        viewport = self.viewport
        if viewport is not None and viewport.rows and viewport.columns:
            sx, sy = inner.width() / viewport.columns, inner.height() / viewport.rows
            pen = QPen(QColor(SELECTION_COLOUR), 1.5)
            painter.setPen(pen)
            painter.drawRect(
                QRectF(inner.left() + viewport.left * sx, inner.top() + viewport.top * sy,
                       max(viewport.width * sx, 2.0), max(viewport.height * sy, 2.0))
            )
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        viewport = self.viewport
        if viewport is None:
            return
        position = event.position()
        column = (position.x() - 1) / max(self.width() - 2, 1) * viewport.columns
        row = (position.y() - 1) / max(self.height() - 2, 1) * viewport.rows
        self.centre_requested.emit(row, column)


class _PinchFilter(QObject):
    """Turns a touchpad's pinch (a native zoom gesture) into a zoom of the view."""

    def __init__(self, heatmap: "ZoomHeatmap") -> None:
        super().__init__(heatmap)
        self.heatmap = heatmap

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.NativeGesture and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
            self.heatmap.pinch(1.0 + float(event.value()), event.position())
            return True
        return False


class ZoomHeatmap(QWidget):
    """A zoomable token × token heatmap drawn from tiles; see the module docstring."""

    viewport_changed = Signal(object)  # Viewport
    cell_hovered = Signal(int, int)  # query row, key column of the matrix; (-1, -1) outside
    row_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        build_heatmap(self, on_click=self._on_tile_clicked)
        self.plot.setMouseEnabled(x=True, y=True)  # wheel zooms around the cursor, drag pans
        self.box: pg.ViewBox = self.plot.getViewBox()
        self.minimap = Minimap(self.view)
        self.minimap.hide()
        self.minimap.centre_requested.connect(lambda row, column: self.set_viewport(self.viewport.centred_on(row, column)))
        self._bar = ColourBarSync(self.colour_bar)
        self.shape: tuple[int, int] = (0, 0)
        self.viewport = Viewport.whole(0, 0)
        self.request: TileRequest | None = None  # the region the image shows
        self.matrix: np.ndarray | None = None  # the tile shown (exact cells when zoomed in)
        self._query_labels: list[str] = []
        self._key_labels: list[str] = []
        self._special_labels: set[str] = set()
        self._setting_range = False
        self.box.sigRangeChanged.connect(self._on_range_changed)
        self.box.sigResized.connect(self._on_resized)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.viewport().installEventFilter(_PinchFilter(self))

    # -- what to show --------------------------------------------------------------------
    def set_matrix(
        self,
        shape: tuple[int, int],
        query_tokens: list[str],
        key_tokens: list[str],
        levels: tuple[float, float],
        colormap: str,
        query: int | None,
        query_special: np.ndarray | None = None,
        key_special: np.ndarray | None = None,
        overview: np.ndarray | None = None,
    ) -> None:
        """A matrix of ``shape`` (Q, K) will be shown; the view keeps its place where it fits.

        A view that showed the whole matrix keeps showing the whole (typing at the end of
        a long text extends it); a zoomed one keeps its region, clamped to the new shape.
        """
        previous, self.shape = self.viewport, shape
        if previous.zoomed_in and previous.rows and previous.columns:
            viewport = Viewport(shape[0], shape[1], previous.top, previous.left, previous.height, previous.width).clamped()
        else:
            viewport = Viewport.whole(*shape)
        self._bar.show(colormap, levels)
        self.image.setLevels(levels)
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
        rows, columns = shape
        self.box.setLimits(
            xMin=0, xMax=max(columns, 1), yMin=0, yMax=max(rows, 1),
            minXRange=min(MIN_CELLS, max(columns, 1)), minYRange=min(MIN_CELLS, max(rows, 1)),
            maxXRange=max(columns, 1), maxYRange=max(rows, 1),
        )
        if query is not None and 0 <= query < rows:
            self.row_outline.setRect(QRectF(0, query, columns, 1))
            self.row_outline.show()
        else:
            self.row_outline.hide()
        self.minimap.set_picture(overview, levels, colormap)
        self.request, self.matrix = None, None  # the old tile belongs to another matrix
        if overview is not None and overview.size:
            # Until its tile comes (at once, or from the worker), the head's pooled
            # thumbnail stands in for the whole matrix.
            self.image.setImage(display_values(overview), autoLevels=False, levels=levels)
            self.image.setRect(0, 0, columns, rows)
        self.set_viewport(viewport, force=True)

    def show_tile(self, tile: np.ndarray, request: TileRequest) -> None:
        """Draw ``tile`` over the region of ``request`` (in matrix cells)."""
        self.matrix, self.request = tile, request
        self.image.setImage(display_values(tile), autoLevels=False, levels=self._levels)
        rows, columns = request.rows, request.columns
        self.image.setRect(columns.start, rows.start, columns.stop - columns.start, rows.stop - rows.start)

    # -- the viewport ----------------------------------------------------------------------
    def pixels(self) -> tuple[float, float]:
        """(height, width) of the plotting area in device pixels."""
        ratio = self.devicePixelRatioF() or 1.0
        return self.box.height() * ratio, self.box.width() * ratio

    def set_viewport(self, viewport: Viewport, force: bool = False) -> None:
        """Show ``viewport`` (clamped) and report it."""
        viewport = viewport.clamped()
        changed = force or viewport != self.viewport
        self.viewport = viewport
        self._setting_range = True
        try:
            self.box.setRange(
                xRange=(viewport.left, viewport.left + viewport.width),
                yRange=(viewport.top, viewport.top + viewport.height),
                padding=0.0,
            )
        finally:
            self._setting_range = False
        if changed:
            self._viewport_moved()

    def zoom(self, factor: float, row: float | None = None, column: float | None = None) -> None:
        """Zoom in (``factor`` > 1) or out, keeping (``row``, ``column``) in place."""
        self.set_viewport(self.viewport.zoomed(factor, row, column))

    def pinch(self, factor: float, position: QPointF) -> None:
        """A pinch of ``factor`` at widget ``position``: zoom around the point under the fingers."""
        point = self.box.mapSceneToView(self.view.mapToScene(position.toPoint()))
        self.zoom(factor, point.y(), point.x())

    def _on_range_changed(self, *_: object) -> None:
        if self._setting_range:
            return
        (left, right), (top, bottom) = self.box.viewRange()
        rows, columns = self.shape
        viewport = Viewport(rows, columns, top, left, bottom - top, right - left).clamped()
        if viewport != self.viewport:
            self.viewport = viewport
            self._viewport_moved()

    def _on_resized(self, *_: object) -> None:
        self._viewport_moved()

    def _viewport_moved(self) -> None:
        viewport = self.viewport
        self._update_ticks()
        if viewport.zoomed_in and viewport.rows and viewport.columns:
            self.minimap.set_viewport(viewport)
            # Inside the plot's top-right corner, clear of the colour bar.
            corner = self.view.mapFromScene(self.box.sceneBoundingRect().topRight())
            self.minimap.move(corner.x() - self.minimap.width() - 6, corner.y() + 6)
            self.minimap.show()
            self.minimap.raise_()
        else:
            self.minimap.hide()
        self.viewport_changed.emit(viewport)

    # -- axes ------------------------------------------------------------------------------
    def _update_ticks(self) -> None:
        height, width = self.box.height(), self.box.width()
        viewport = self.viewport
        if height <= 0 or width <= 0 or not viewport.rows or not viewport.columns:
            return
        font = self.plot.getAxis("bottom").style.get("tickFont") or QFont()
        if font.pointSize() <= 0:
            font.setPointSize(AXIS_FONT_POINTS)
        metrics = QFontMetricsF(font)
        line = metrics.height()
        bottom, left = self.plot.getAxis("bottom"), self.plot.getAxis("left")
        columns = viewport.labelled("columns", width, _LabelWidths(self._key_labels, metrics))
        visible_columns = len(viewport.visible()[1])
        rotated = False
        if columns and len(columns) < visible_columns:
            upright = viewport.labelled("columns", width, line, gap=0.0)
            if len(upright) > len(columns):
                columns, rotated = upright, True
        if columns:
            ticks = [(index + 0.5, self._key_labels[index]) for index in columns]
            longest = max((metrics.horizontalAdvance(label) for _, label in ticks), default=0.0)
            bottom.set_token_ticks(ticks, self._special_labels, rotated, longest)
        else:
            first, last = viewport.left, viewport.left + viewport.width
            bottom.set_token_ticks([(p + 0.5, f"{p:,}") for p in position_ticks(first, last - 1, width)], set())
        rows = viewport.labelled("rows", height, line)
        if rows:
            left.set_token_ticks([(index + 0.5, self._query_labels[index]) for index in rows], self._special_labels)
        else:
            first, last = viewport.top, viewport.top + viewport.height
            left.set_token_ticks([(p + 0.5, f"{p:,}") for p in position_ticks(first, last - 1, height, 30.0)], set())

    # -- the mouse -------------------------------------------------------------------------
    def _cell_at(self, scene_position: QPointF) -> tuple[int, int]:
        point = self.box.mapSceneToView(scene_position)
        row, column = int(math.floor(point.y())), int(math.floor(point.x()))
        rows, columns = self.shape
        return (row, column) if 0 <= row < rows and 0 <= column < columns else (-1, -1)

    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        if not self.plot.sceneBoundingRect().contains(scene_position):
            self.cell_hovered.emit(-1, -1)
            return
        self.cell_hovered.emit(*self._cell_at(scene_position))

    def _on_tile_clicked(self, tile_row: int, _tile_column: int) -> None:
        request, tile = self.request, self.matrix
        if request is None or tile is None:
            return
        # A tile row covers rows edges[i]:edges[i + 1] of its region (``model.tiles``).
        region = request.rows.stop - request.rows.start
        row = request.rows.start + (tile_row * region) // max(tile.shape[0], 1)
        self.row_clicked.emit(int(row))
