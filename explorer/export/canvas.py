"""QPainter drawing blocks shared by the figures: text, heatmaps with token axes, colour bars.

Lengths are in points (1/72 inch): a figure is laid out once in points and painted onto a
PNG image (scaled), an SVG generator or a PDF page alike. Fonts use pixel sizes in those
same units and no hinting, so text measures the same at every scale.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication, QImage, QPainter, QPen

from .raster import MASKED_RGB, upsample
from .ticks import format_ticks, label_step, labelled_indices, nice_ticks, token_label

@dataclass(frozen=True)
class PageTheme:
    """The colours of a figure's page: paper, text, muted text (special tokens, notes), frames."""

    name: str
    paper: QColor
    ink: QColor
    muted: QColor
    frame: QColor


PAGE_COLOURS = {
    "light": PageTheme("light", QColor(255, 255, 255), QColor(34, 34, 34), QColor(120, 120, 120), QColor(68, 68, 68)),
    "dark": PageTheme("dark", QColor(30, 31, 34), QColor(220, 220, 220), QColor(150, 150, 150), QColor(170, 170, 170)),
}
# The theme of the figure being painted. A figure's drawing blocks are many small
# functions; they read their colours here rather than each taking the theme, and
# ``painting_in`` sets it (per thread and task) only while one figure paints.
_PAGE: ContextVar[PageTheme] = ContextVar("page theme", default=PAGE_COLOURS["light"])


def page() -> PageTheme:
    """The colours of the page being painted (light outside ``painting_in``)."""
    return _PAGE.get()


@contextmanager
def painting_in(theme: str):
    """Paint figures on the ``theme`` page (``"light"`` or ``"dark"``) inside this block."""
    token = _PAGE.set(PAGE_COLOURS[theme])
    try:
        yield
    finally:
        _PAGE.reset(token)

TICK_LENGTH = 3.0
LABEL_GAP = 2.0
# Font sizes in points.
TITLE_FONT = 14
SUBTITLE_FONT = 10
AXIS_TITLE_FONT = 10
LABEL_FONT = 9


def ensure_application() -> None:
    """Create an offscreen Qt application if the process has none (the CLI, scripts).

    Fonts and painting need one; exports never show a window, so no display is needed.
    """
    if QGuiApplication.instance() is None:
        # A QApplication rather than a QGuiApplication, so that widgets created later in
        # the same process still work. Kept on the function so it outlives this call.
        from PySide6.QtWidgets import QApplication

        ensure_application.application = QApplication(["attention-explorer", "-platform", "offscreen"])


def font(pixel_size: int, bold: bool = False, italic: bool = False) -> QFont:
    """The figure font, ``pixel_size`` points tall (one pixel of the layout is one point)."""
    result = QFont("DejaVu Sans")
    result.setStyleHint(QFont.StyleHint.SansSerif)
    result.setPixelSize(pixel_size)
    result.setBold(bold)
    result.setItalic(italic)
    result.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    return result


def text_width(text_font: QFont, text: str) -> float:
    return QFontMetricsF(text_font).horizontalAdvance(text)


def line_height(text_font: QFont) -> float:
    return QFontMetricsF(text_font).height()


def draw_text(
    painter: QPainter,
    rect: QRectF,
    text: str,
    text_font: QFont,
    flags: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
    colour: QColor | None = None,
) -> None:
    painter.setFont(text_font)
    painter.setPen(page().ink if colour is None else colour)
    # Layouts leave room for every text; never cut one off at its rectangle.
    painter.drawText(rect, int(flags | Qt.TextFlag.TextDontClip), text)


def draw_rotated_text(
    painter: QPainter,
    anchor: QPointF,
    text: str,
    text_font: QFont,
    width: float,
    colour: QColor | None = None,
    align_end: bool = True,
) -> None:
    """Text reading bottom to top, centred on ``anchor.x()``; it ends (or starts) at ``anchor.y()``."""
    painter.save()
    painter.translate(anchor)
    painter.rotate(-90)
    height = line_height(text_font)
    # After the rotation, x runs upwards from the anchor and y runs to the right.
    rect = QRectF(-width, -height / 2, width, height) if align_end else QRectF(0, -height / 2, width, height)
    flags = Qt.AlignmentFlag.AlignRight if align_end else Qt.AlignmentFlag.AlignLeft
    draw_text(painter, rect, text, text_font, flags | Qt.AlignmentFlag.AlignVCenter, colour)
    painter.restore()


def draw_rgb(painter: QPainter, rect: QRectF, rgb: np.ndarray) -> None:
    """Paint ``(rows, columns, 3)`` uint8 colours into ``rect``, one sharp-edged block per cell.

    A raster page (PNG) scales the image itself without smoothing, so cells stay sharp as
    they are. Vector pages (SVG, PDF) embed the image and viewers smooth it when they
    enlarge it: cells are repeated to twice the points they take (at most 8 pixels), enough
    to stay sharp, without embedding megapixels for a small thumbnail.
    """
    if isinstance(painter.device(), QImage):
        pixels = np.ascontiguousarray(rgb)
    else:
        points_per_cell = max(rect.width() / max(rgb.shape[1], 1), rect.height() / max(rgb.shape[0], 1))
        pixels = np.ascontiguousarray(upsample(rgb, min(8, max(1, math.ceil(2 * points_per_cell)))))  # (rows·f, columns·f, 3)
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    painter.drawImage(rect, image)
    painter.restore()


def draw_frame(painter: QPainter, rect: QRectF) -> None:
    painter.save()
    painter.setPen(QPen(page().frame, 0.6))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(rect)
    painter.restore()


@dataclass
class TokenAxisLabels:
    """Labels along one side of a heatmap: which tokens get one, and how they look."""

    labels: list[str]
    special: list[bool]
    shown: list[int]
    text_font: QFont

    @classmethod
    def build(
        cls,
        tokens: Sequence[str],
        special: Sequence[bool],
        pitch: float,
        pixel_size: int = LABEL_FONT,
        priority: Sequence[int] = (),
    ) -> "TokenAxisLabels":
        """Labels for ``tokens`` spaced ``pitch`` apart, thinned so they never overlap;
        ``priority`` indices are labelled first."""
        label_font = font(pixel_size)
        step = label_step(len(tokens), pitch, line_height(label_font) * 0.95)
        shown = labelled_indices(len(tokens), step, priority)
        return cls([token_label(t) for t in tokens], [bool(s) for s in special], shown, label_font)

    @property
    def extent(self) -> float:
        """Room the longest shown label needs, plus the tick."""
        widest = max((text_width(self.label_font(i), self.labels[i]) for i in self.shown), default=0.0)
        return math.ceil(widest) + TICK_LENGTH + LABEL_GAP + 1

    def label_font(self, index: int) -> QFont:
        if not self.special[index]:
            return self.text_font
        special_font = QFont(self.text_font)
        special_font.setItalic(True)
        return special_font

    def colour(self, index: int) -> QColor:
        return page().muted if self.special[index] else page().ink


def draw_row_labels(painter: QPainter, axis: TokenAxisLabels, top: float, right: float, pitch: float) -> None:
    """Labels to the left of a heatmap, right-aligned against its edge at ``right``."""
    width = axis.extent
    for index in axis.shown:
        centre = top + (index + 0.5) * pitch
        painter.setPen(QPen(page().frame, 0.5))
        painter.drawLine(QPointF(right - TICK_LENGTH, centre), QPointF(right, centre))
        rect = QRectF(right - width, centre - pitch / 2 - 20, width - TICK_LENGTH - LABEL_GAP, pitch + 40)
        draw_text(
            painter,
            rect,
            axis.labels[index],
            axis.label_font(index),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            axis.colour(index),
        )


def draw_column_labels(painter: QPainter, axis: TokenAxisLabels, left: float, top: float, pitch: float) -> None:
    """Labels below a heatmap whose bottom edge is at ``top``, reading bottom to top."""
    for index in axis.shown:
        centre = left + (index + 0.5) * pitch
        painter.setPen(QPen(page().frame, 0.5))
        painter.drawLine(QPointF(centre, top), QPointF(centre, top + TICK_LENGTH))
        anchor = QPointF(centre, top + TICK_LENGTH + LABEL_GAP)
        draw_rotated_text(
            painter, anchor, axis.labels[index], axis.label_font(index), axis.extent, axis.colour(index), align_end=True
        )


@dataclass
class ColourBar:
    """A vertical colour bar: the colour map from low (bottom) to high (top) with round ticks."""

    table: np.ndarray  # (256, 3) uint8
    levels: tuple[float, float]
    title: str
    show_masked: bool
    width: float = 12.0

    @property
    def ticks(self) -> list[float]:
        return nice_ticks(*self.levels)

    @property
    def extent(self) -> float:
        """Total width: bar, tick labels and the rotated title."""
        label_font = font(LABEL_FONT)
        widest = max(text_width(label_font, text) for text in format_ticks(self.ticks))
        return self.width + TICK_LENGTH + LABEL_GAP + math.ceil(widest) + 6 + line_height(font(AXIS_TITLE_FONT))

    def paint(self, painter: QPainter, left: float, top: float, height: float) -> None:
        swatch = 10.0 if self.show_masked else 0.0
        bar_height = height - (swatch + 6 if self.show_masked else 0.0)
        bar = QRectF(left, top, self.width, bar_height)
        draw_rgb(painter, bar, self.table[::-1][:, np.newaxis, :])  # (256, 1, 3): high end on top
        draw_frame(painter, bar)
        low, high = self.levels
        label_font = font(LABEL_FONT)
        label_left = left + self.width + TICK_LENGTH + LABEL_GAP
        widest = 0.0
        for tick, text in zip(self.ticks, format_ticks(self.ticks)):
            y = top + bar_height * (1 - (tick - low) / (high - low))
            painter.setPen(QPen(page().frame, 0.5))
            painter.drawLine(QPointF(left + self.width, y), QPointF(left + self.width + TICK_LENGTH, y))
            widest = max(widest, text_width(label_font, text))
            draw_text(painter, QRectF(label_left, y - 8, 80, 16), text, label_font)
        title_font = font(AXIS_TITLE_FONT)
        title_x = label_left + math.ceil(widest) + 6 + line_height(title_font) / 2
        painter.save()
        painter.translate(QPointF(title_x, top + bar_height / 2))
        painter.rotate(-90)
        draw_text(
            painter, QRectF(-bar_height, -10, 2 * bar_height, 20), self.title, title_font, Qt.AlignmentFlag.AlignCenter
        )
        painter.restore()
        if self.show_masked:
            swatch_rect = QRectF(left, top + bar_height + 6, self.width, swatch)
            painter.fillRect(swatch_rect, QColor(*MASKED_RGB))
            draw_frame(painter, swatch_rect)
            draw_text(
                painter,
                QRectF(label_left, swatch_rect.top() - 4, 80, swatch + 8),
                "masked",
                font(LABEL_FONT),
                colour=page().muted,
            )


@dataclass
class Figure:
    """A laid-out figure: its size in points and how to paint it."""

    width: float
    height: float
    paint: Callable[[QPainter], None]
    title: str
    # Where the main heatmap's cells lie, in points, for figures that have one.
    heatmap: QRectF | None = None
    # The page it is painted on: a key of ``PAGE_COLOURS``.
    theme: str = "light"


def draw_titles(painter: QPainter, left: float, top: float, width: float, title: str, subtitle: str) -> None:
    title_font, subtitle_font = font(TITLE_FONT, bold=True), font(SUBTITLE_FONT)
    draw_text(painter, QRectF(left, top, width, line_height(title_font)), title, title_font)
    draw_text(
        painter,
        QRectF(left, top + line_height(title_font) + 2, width, line_height(subtitle_font)),
        subtitle,
        subtitle_font,
        colour=page().muted,
    )


def titles_height() -> float:
    return line_height(font(TITLE_FONT, bold=True)) + 2 + line_height(font(SUBTITLE_FONT))


def titles_width(title: str, subtitle: str) -> float:
    return max(text_width(font(TITLE_FONT, bold=True), title), text_width(font(SUBTITLE_FONT), subtitle))
