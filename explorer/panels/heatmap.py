"""Pieces every heatmap panel shares: token tick labels, a clickable image, a disabled notice.

Heatmaps follow pyqtgraph's matrix-display pattern: a row-major ``ImageItem`` in a
``PlotItem`` with the y axis inverted (query 0 at the top), no padding, token labels as
axis ticks. Items are created once and updated with ``setImage``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from ..colormaps import colormap
from ..token_labels import display_token, elide

BACKGROUND = "#ffffff"
FOREGROUND = "#222222"
SELECTION_COLOUR = "#e8261c"
MUTED = "#888888"
SPECIAL_COLOUR = "#8a8a8a"
LABEL_WIDTH = 10  # characters a tick label may take before it is elided
AXIS_FONT_POINTS = 8


def token_label(token: str) -> str:
    """How a token reads on an axis: visible whitespace marks, elided to LABEL_WIDTH characters."""
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


def style_plot(plot: pg.PlotItem) -> None:
    """A fixed, inert plot: no mouse panning/zooming, no autoscale button, no context menu."""
    plot.invertY(True)
    plot.setDefaultPadding(0.0)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    font = QFont()
    font.setPointSize(AXIS_FONT_POINTS)
    for side in ("left", "bottom", "top", "right"):
        axis = plot.getAxis(side)
        axis.setTickFont(font)
        axis.setPen(pg.mkPen(FOREGROUND))
        axis.setTextPen(pg.mkPen(FOREGROUND))
        axis.enableAutoSIPrefix(False)


class TokenAxisItem(pg.AxisItem):
    """An axis whose special-token labels (``<s>``, ``[CLS]``, …) are drawn grey and italic."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.special_labels: set[str] = set()

    def set_token_ticks(self, ticks: list[tuple[float, str]], special_labels: set[str]) -> None:
        self.special_labels = special_labels
        self.setTicks([ticks])

    def drawPicture(self, painter, axisSpec, tickSpecs, textSpecs) -> None:  # noqa: N802, N803 - pyqtgraph override
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
