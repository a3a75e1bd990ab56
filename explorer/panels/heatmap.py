"""Pieces every heatmap panel shares: token tick labels, a clickable image, a disabled notice.

Heatmaps follow pyqtgraph's matrix-display pattern: a row-major ``ImageItem`` in a
``PlotItem`` with the y axis inverted (query 0 at the top), no padding, token labels as
axis ticks. Items are created once and updated with ``setImage``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QTransform
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QStackedWidget, QVBoxLayout, QWidget

from ..colormaps import colormap
from ..token_labels import display_token, elide
from .theme import plot_theme

BACKGROUND = "#ffffff"  # the light theme's; panels ask plot_theme()
FOREGROUND = "#222222"
SELECTION_COLOUR = "#e8261c"
MUTED = "#888888"
SPECIAL_COLOUR = "#8a8a8a"
LABEL_WIDTH = 10  # characters a tick label may take before it is elided
AXIS_FONT_POINTS = 8


@lru_cache(maxsize=1 << 16)
def token_label(token: str) -> str:
    """How a token reads on an axis: visible whitespace marks, elided to LABEL_WIDTH characters.

    Cached: an 8,192-token input labels the same few thousand strings on every keystroke."""
    return elide(display_token(token), LABEL_WIDTH)


def thinned_ticks(
    labels: Sequence[str], pixels_per_token: float, label_pixels: Sequence[float] | float, gap: float = 4.0
) -> list[tuple[float, str]]:
    """(position, label) for the tokens whose labels fit without overlapping; cells centred at i + 0.5.

    Greedy from the first token: a label is kept when it starts after the previous kept
    label ends, so short tokens between long ones still get their label.
    """
    sizes = [float(label_pixels)] * len(labels) if isinstance(label_pixels, (int, float)) else list(label_pixels)
    ticks: list[tuple[float, str]] = []
    previous_end = -math.inf
    for index, label in enumerate(labels):
        centre = (index + 0.5) * pixels_per_token
        half = sizes[index] / 2
        if centre - half >= previous_end + gap:
            ticks.append((index + 0.5, label))
            previous_end = centre + half
    return ticks


def plot_views(panel: QWidget) -> list[pg.GraphicsView]:
    """The pyqtgraph views inside ``panel`` (a walk of its widgets: look them up once)."""
    return panel.findChildren(pg.GraphicsView)


def settle_plots(views: list[pg.GraphicsView]) -> None:
    """Apply the view ranges a panel's update just set, before its ``views`` are drawn.

    pyqtgraph applies a new view range lazily, while the view paints: the transform
    change then moves items' bounding rects (scatter marks, lines) and retitles axes,
    which asks for a second paint of the same plot right after the first. Applied here,
    those changes join the update already pending, and each plot is drawn once.
    """
    for view in views:
        view.scene().prepareForPaint()


def style_plot(plot: pg.PlotItem) -> None:
    """A fixed, inert plot: no mouse panning/zooming, no autoscale button, no context menu."""
    plot.invertY(True)
    plot.setDefaultPadding(0.0)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    font = QFont()
    font.setPointSize(AXIS_FONT_POINTS)
    foreground = plot_theme().foreground
    for side in ("left", "bottom", "top", "right"):
        axis = plot.getAxis(side)
        axis.setTickFont(font)
        axis.setPen(pg.mkPen(foreground))
        axis.setTextPen(pg.mkPen(foreground))
        axis.enableAutoSIPrefix(False)


class StableAxisItem(pg.AxisItem):
    """An axis that throws its drawing away only when its ticks or its range really change.

    pyqtgraph discards an axis' picture on every ``setTicks`` and ``setRange`` call, even
    when nothing changed, and rebuilding it (tick text layout, grid lines) is the largest
    part of a repaint. Typing a character rarely changes the tokens or the view range, so
    an unchanged call is dropped.
    """

    def setTicks(self, ticks: list[list[tuple[float, str]]] | None) -> None:  # noqa: N802 - pyqtgraph override
        if ticks == self._tickLevels:
            return
        super().setTicks(ticks)

    def setRange(self, mn: float, mx: float) -> None:  # noqa: N802 - pyqtgraph override
        if getattr(self, "picture", None) is not None and self.range == [mn, mx]:
            return
        super().setRange(mn, mx)

    def drawPicture(self, painter, axisSpec, tickSpecs, textSpecs) -> None:  # noqa: N802, N803 - pyqtgraph override
        # Grid lines are translucent one-pixel lines without antialiasing, which Qt's raster
        # engine blends pixel by pixel (about 0.2 ms per line across a plot, several ms per
        # repaint for a y grid). They are kept out of the picture and filled in ``paint``.
        self._grid_lines = [] if self.grid is False else [spec for spec in tickSpecs if _is_thin_horizontal(spec)]
        kept = [spec for spec in tickSpecs if not any(spec is line for line in self._grid_lines)]
        super().drawPicture(painter, axisSpec, kept, textSpecs)

    def paint(self, painter: QPainter, option, widget) -> None:
        super().paint(painter, option, widget)
        lines = getattr(self, "_grid_lines", [])
        if not lines:
            return
        transform = painter.transform()
        translating_only = transform.type().value <= QTransform.TransformationType.TxTranslate.value
        painter.save()
        try:
            if not translating_only:
                # Scaled (high-DPI) devices: draw the lines as pyqtgraph would.
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
                for pen, start, end in lines:
                    painter.setPen(pen)
                    painter.drawLine(start, end)
                return
            # A one-pixel horizontal line from (x1, y) to (x2, y) without antialiasing covers
            # row floor(y) from column floor(min x) to floor(max x), both included, in device
            # pixels: the same pixels as this fill, which the raster engine blends a span at a time.
            dx, dy = transform.dx(), transform.dy()
            for pen, start, end in lines:
                first, last = sorted((math.floor(start.x() + dx), math.floor(end.x() + dx)))
                row = math.floor(start.y() + dy)
                painter.fillRect(QRectF(first - dx, row - dy, last - first + 1, 1), QColor(pen.color()))
        finally:
            painter.restore()


def _is_thin_horizontal(spec: tuple) -> bool:
    pen, start, end = spec
    return (
        start.y() == end.y()
        and pen.style() == Qt.PenStyle.SolidLine
        and pen.brush().style() == Qt.BrushStyle.SolidPattern
        and pen.widthF() <= 1.0
    )


def stable_axes(*sides: str) -> dict[str, StableAxisItem]:
    """``axisItems`` for a ``PlotItem`` whose ``sides`` skip unchanged tick and range updates."""
    return {side: StableAxisItem(side) for side in sides}


ROTATED_LABEL_PIXELS = 90.0  # the most height a rotated key label may take


class TokenAxisItem(StableAxisItem):
    """An axis whose special-token labels (``<s>``, ``[CLS]``, …) are drawn grey and italic.

    A bottom axis can draw its labels rotated (reading upwards), so every key keeps its
    label while a cell is at least a line wide; ``set_token_ticks(..., rotated=True)``.
    """

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.special_labels: set[str] = set()
        self.rotated = False
        self._rotated_height = 0.0

    def set_token_ticks(
        self, ticks: list[tuple[float, str]], special_labels: set[str], rotated: bool = False, label_pixels: float = 0.0
    ) -> None:
        if special_labels != self.special_labels or rotated != self.rotated:
            self.special_labels = special_labels
            self.rotated = rotated
            # The grey labels are drawn into the picture: a new set needs a new picture.
            self.picture = None
            self.update()
        if rotated:
            height = math.ceil(min(label_pixels, ROTATED_LABEL_PIXELS))
            if height != self._rotated_height:
                self._rotated_height = height
                title = self.label.boundingRect().height() * 0.8 if self.label.isVisible() else 0.0
                self.setHeight(height + self.style["tickTextOffset"][1] + max(0, self.style["tickLength"]) + title)
        elif self._rotated_height:
            self._rotated_height = 0.0
            self.setHeight(None)
        self.setTicks([ticks])

    def drawPicture(self, painter, axisSpec, tickSpecs, textSpecs) -> None:  # noqa: N802, N803 - pyqtgraph override
        if self.rotated:
            super().drawPicture(painter, axisSpec, tickSpecs, [])
            self._draw_rotated(painter, tickSpecs)
            return
        plain = [spec for spec in textSpecs if spec[2] not in self.special_labels]
        special = [spec for spec in textSpecs if spec[2] in self.special_labels]
        super().drawPicture(painter, axisSpec, tickSpecs, plain)
        if not special:
            return
        font = QFont(self.style["tickFont"] or painter.font())
        font.setItalic(True)
        painter.setFont(font)
        painter.setPen(pg.mkPen(SPECIAL_COLOUR))
        for rect, flags, text in special:
            painter.drawText(rect, int(flags), text)

    def _draw_rotated(self, painter: QPainter, tickSpecs: list) -> None:  # noqa: N803 - pyqtgraph's name
        ticks = (self._tickLevels or [[]])[0]
        if len(ticks) != len(tickSpecs):
            # Ticks beyond the view range get no spec (a linked plot's range may start inside
            # the first cell): pair the specs with the ticks within it.
            low, high = sorted(self.range)
            ticks = [tick for tick in ticks if low <= tick[0] <= high]
            if len(ticks) != len(tickSpecs):
                return  # nothing sensible to pair them with
        plain_font = QFont(self.style["tickFont"] or painter.font())
        special_font = QFont(plain_font)
        special_font.setItalic(True)
        line = QFontMetricsF(plain_font).height()
        top = max(0, self.style["tickLength"]) + self.style["tickTextOffset"][1]
        text_pen, special_pen = self.textPen(), pg.mkPen(SPECIAL_COLOUR)
        for (_value, text), (_pen, start, _end) in zip(ticks, tickSpecs):
            special = text in self.special_labels
            painter.setFont(special_font if special else plain_font)
            painter.setPen(special_pen if special else text_pen)
            painter.save()
            painter.translate(start.x(), top)
            painter.rotate(-90)
            # Reading upwards, the label ends at the axis.
            painter.drawText(
                QRectF(-self._rotated_height, -line / 2, self._rotated_height, line),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                text,
            )
            painter.restore()


_LABEL_WIDTHS: dict[str, dict[str, float]] = {}  # font key -> label -> pixels
MAX_MEASURED_LABELS = 1 << 16  # per font; more and the table starts again


def label_widths(labels: Sequence[str], font: QFont) -> list[float]:
    """Each label's width in ``font``, measured once: typing in a long input puts the same
    thousand labels on an axis on every keystroke."""
    widths = _LABEL_WIDTHS.setdefault(font.key(), {})
    if len(widths) > MAX_MEASURED_LABELS:
        widths.clear()
    metrics = QFontMetricsF(font)
    for label in labels:
        if label not in widths:
            widths[label] = metrics.horizontalAdvance(label)
    return [widths[label] for label in labels]


def key_ticks(labels: Sequence[str], pixels_per_token: float, font: QFont) -> tuple[list[tuple[float, str]], bool, float]:
    """(ticks, rotated, longest label in pixels) for a key axis.

    Horizontal labels when every one fits; otherwise rotated labels, all of them while a
    cell is at least a line wide, thinned to one per line height below that.
    """
    metrics = QFontMetricsF(font)
    widths = label_widths(labels, font)
    horizontal = thinned_ticks(labels, pixels_per_token, widths)
    if len(horizontal) == len(labels):
        return horizontal, False, 0.0
    rotated = thinned_ticks(labels, pixels_per_token, metrics.height(), gap=0.0)
    return rotated, True, max(widths, default=0.0)


def label_token_axes(
    plot: pg.PlotItem, shape: tuple[int, int], query_labels: list[str], key_labels: list[str], special_labels: set[str]
) -> None:
    """Put as many query labels on the left axis and key labels on the bottom axis as fit
    the plot's current size without overlapping (keys rotated when that keeps more of
    them); ``shape`` is the matrix's (Q, K)."""
    box = plot.getViewBox()
    width, height = box.width(), box.height()
    if width <= 0 or height <= 0:
        return
    rows, columns = shape
    font = plot.getAxis("bottom").style.get("tickFont") or QFont()
    metrics = QFontMetricsF(font)
    ticks, rotated, longest = key_ticks(key_labels, width / max(columns, 1), font)
    plot.getAxis("bottom").set_token_ticks(ticks, special_labels, rotated, longest)
    plot.getAxis("left").set_token_ticks(thinned_ticks(query_labels, height / max(rows, 1), metrics.height()), special_labels)


def token_axes() -> dict[str, TokenAxisItem]:
    """Axis items for a heatmap's ``PlotItem``: queries on the left, keys at the bottom."""
    return {"left": TokenAxisItem("left"), "bottom": TokenAxisItem("bottom")}


class ClickableImage(pg.ImageItem):
    """An ImageItem that reports clicks as (row, column) of the clicked cell."""

    def __init__(self, on_click: Callable[[int, int], None] | None = None) -> None:
        super().__init__(axisOrder="row-major")
        self._on_click = on_click

    def mouseClickEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._on_click is None or event.button() != Qt.MouseButton.LeftButton or self.image is None:
            event.ignore()
            return
        position: QPointF = event.pos()
        rows, columns = self.image.shape[:2]
        row, column = int(position.y()), int(position.x())
        if 0 <= row < rows and 0 <= column < columns:
            event.accept()
            self._on_click(row, column)


def plain_label(text: str = "") -> QLabel:
    """A QLabel that never reads its text as HTML: a token such as ``<s>`` must stay visible."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def lookup(name: str) -> pg.ColorMap:
    return colormap(name)


class ColourBarSync:
    """Sets a colour bar's map and levels only when they change: each set redraws the bar."""

    def __init__(self, bar: pg.ColorBarItem, initial: str = "viridis") -> None:
        self.bar = bar
        self.colormap = initial  # the map the bar was made with
        self.levels: tuple[float, float] | None = None

    def show(self, colormap: str, levels: tuple[float, float]) -> None:
        if self.colormap != colormap:
            self.bar.setColorMap(lookup(colormap))
            self.colormap = colormap
        if self.levels != levels:
            self.bar.setLevels(levels)
            self.levels = levels


def outline_pen(width: float = 2.0) -> QPen:
    pen = pg.mkPen(QColor(SELECTION_COLOUR), width=width)
    pen.setCosmetic(True)
    return pen


class DisabledNotice(QStackedWidget):
    """Shows the panel's content, or in its place one line saying why it does not apply."""

    def __init__(self, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content = content
        self._notice = QLabel()
        self._notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._notice.setWordWrap(True)
        self._notice.setStyleSheet(f"color: {MUTED}; font-style: italic; padding: 12px;")
        holder = QWidget()
        layout = QVBoxLayout(holder)
        layout.addWidget(self._notice)
        self.addWidget(content)
        self.addWidget(holder)

    def set_available(self, enabled: bool, reason: str = "") -> None:
        self._notice.setText(reason)
        self.setCurrentIndex(0 if enabled else 1)

    @property
    def reason(self) -> str:
        return self._notice.text() if self.currentIndex() == 1 else ""

    @property
    def available(self) -> bool:
        return self.currentIndex() == 0


def build_heatmap(owner: QWidget, on_click) -> None:
    """Give ``owner`` the parts every token × token heatmap has: ``view`` (in ``owner``'s
    layout), ``plot`` with token axes titled query and key, ``image`` (``on_click(row,
    column)``), ``colour_bar`` and ``row_outline``, the query row's frame."""
    owner.view = pg.GraphicsLayoutWidget()
    owner.view.setBackground(plot_theme().background)
    owner.plot = owner.view.addPlot(row=0, col=0, axisItems=token_axes())
    style_plot(owner.plot)
    owner.plot.setLabel("left", "query", color=plot_theme().foreground)
    owner.plot.setLabel("bottom", "key", color=plot_theme().foreground)
    owner.image = ClickableImage(on_click=on_click)
    owner.plot.addItem(owner.image)
    owner.colour_bar = pg.ColorBarItem(interactive=False, width=14, colorMap=lookup("viridis"))
    owner.colour_bar.setImageItem(owner.image, insert_in=owner.plot)
    owner.row_outline = QGraphicsRectItem()
    owner.row_outline.setPen(outline_pen(2.0))
    owner.row_outline.setZValue(10)
    owner.plot.addItem(owner.row_outline)
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(owner.view)
