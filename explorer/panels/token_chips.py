"""The token chips: every token of the input as a small labelled box, painted in one widget.

One widget paints every chip with ``QPainter`` from cached text layouts (``QStaticText``)
instead of a rich-text document of hundreds of links re-laid out per update: the chips
are laid out again only when the tokens or the width change, and a new selected token
is one repaint. Chips outside the visible part of the scroll area are not drawn, so
thousands of tokens cost what a screenful does. Special tokens, and chat-template
tokens where an axis marks them, are greyed and italic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QMouseEvent, QPainter, QPaintEvent, QStaticText
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QWidget

from ..token_labels import display_token
from .heatmap import SELECTION_COLOUR
from .theme import PlotTheme, plot_theme

PAD_X, PAD_Y, SPACING, MARGIN = 4.0, 1.0, 4.0, 4.0


@dataclass(frozen=True)
class ChipRow:
    """One axis' chips: its name (``encoder`` / ``decoder``), heading, labels and which are greyed."""

    axis: str
    heading: str
    labels: tuple[str, ...]
    greyed: tuple[bool, ...]


class ChipCanvas(QWidget):
    """Paints the chips; ``token_clicked(axis, index)``."""

    token_clicked = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.theme = plot_theme()
        self.rows: tuple[ChipRow, ...] = ()
        self.selected: tuple[str, int] | None = None
        self._texts: dict[tuple[str, bool], QStaticText] = {}  # (label, italic) -> layout
        self._widths: dict[tuple[str, bool], float] = {}
        self._chips: list[tuple[QRectF, str, int]] = []  # (rect, axis, index), in reading order
        self._headings: list[tuple[QPointF, QStaticText]] = []
        self._laid_out_width = -1
        self._height = 0
        self.relayouts = 0  # how often the chips were laid out; a regression test reads it


    def set_theme(self, theme: PlotTheme) -> None:
        """Draw the chips in ``theme``'s colours (``theme.restyle``)."""
        self.theme = theme
        self.update()
    def set_rows(self, rows: tuple[ChipRow, ...], selected: tuple[str, int] | None) -> None:
        if rows != self.rows:
            self.rows = rows
            self._laid_out_width = -1
            self._layout()
        if selected != self.selected:
            self.selected = selected
            self.update()

    def text(self) -> str:
        """The chips as plain text, a row per axis (for tests and the clipboard)."""
        return "\n".join(f"{row.heading} " + " ".join(row.labels) for row in self.rows)

    def _font(self, italic: bool = False, bold: bool = False) -> QFont:
        font = QFont(self.font())
        font.setItalic(italic)
        font.setBold(bold)
        return font

    def _static(self, label: str, italic: bool) -> tuple[QStaticText, float]:
        key = (label, italic)
        text = self._texts.get(key)
        if text is None:
            text = QStaticText(label)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.prepare(font=self._font(italic))
            self._texts[key] = text
            self._widths[key] = QFontMetricsF(self._font(italic)).horizontalAdvance(label)
        return text, self._widths[key]

    def _layout(self) -> None:
        width = max(self.width(), 120)
        if width == self._laid_out_width:
            return
        self._laid_out_width = width
        self.relayouts += 1
        line = QFontMetricsF(self.font()).height() + 2 * PAD_Y
        chips, headings = [], []
        y = MARGIN
        for row in self.rows:
            heading = QStaticText(row.heading)
            heading.setTextFormat(Qt.TextFormat.PlainText)
            heading.prepare(font=self._font(bold=True))
            headings.append((QPointF(MARGIN, y + PAD_Y), heading))
            x = MARGIN + QFontMetricsF(self._font(bold=True)).horizontalAdvance(row.heading) + 2 * SPACING
            start = x
            for index, (label, greyed) in enumerate(zip(row.labels, row.greyed)):
                _text, text_width = self._static(label, greyed)
                chip = text_width + 2 * PAD_X
                if x + chip > width - MARGIN and x > start:
                    x, y = start, y + line + SPACING
                chips.append((QRectF(x, y, chip, line), row.axis, index))
                x += chip + SPACING
            y += line + SPACING
        self._chips, self._headings = chips, headings
        self._height = int(y + MARGIN)
        self.setMinimumHeight(self._height)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(400, max(self._height, 40))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.width() != self._laid_out_width and self.rows:
            self._layout()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        theme = self.theme
        painter.fillRect(event.rect(), QColor(theme.background))
        painter.setPen(QColor(theme.muted))
        for point, heading in self._headings:
            painter.setFont(self._font(bold=True))
            painter.drawStaticText(point, heading)
        visible = QRectF(event.rect())
        rows = {row.axis: row for row in self.rows}
        chip_colour, selected_colour = QColor(theme.chip_background), QColor(SELECTION_COLOUR)
        text_colour, special_colour, white = QColor(theme.chip_foreground), QColor(theme.special), QColor("#ffffff")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # A static text is drawn in the painter's font: the one it was prepared for.
        fonts = {False: self._font(), True: self._font(italic=True)}
        current = None
        for rect, axis, index in self._chips:
            if not rect.intersects(visible):
                continue
            row = rows[axis]
            greyed = row.greyed[index]
            selected = self.selected == (axis, index)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(selected_colour if selected else chip_colour)
            painter.drawRoundedRect(rect, 3.0, 3.0)
            if current is not greyed:
                painter.setFont(fonts[greyed])
                current = greyed
            painter.setPen(white if selected else special_colour if greyed else text_colour)
            text, _width = self._static(row.labels[index], greyed)
            painter.drawStaticText(QPointF(rect.x() + PAD_X, rect.y() + PAD_Y), text)
        painter.end()

    def chip_at(self, point: QPointF) -> tuple[str, int] | None:
        for rect, axis, index in self._chips:
            if rect.contains(point):
                return axis, index
        return None

    def chip_rect(self, axis: str, index: int) -> QRectF | None:
        for rect, chip_axis, chip_index in self._chips:
            if (chip_axis, chip_index) == (axis, index):
                return rect
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        hit = self.chip_at(event.position())
        if hit is not None and event.button() == Qt.MouseButton.LeftButton:
            self.token_clicked.emit(*hit)
            event.accept()
            return
        super().mousePressEvent(event)


class TokenChips(QScrollArea):
    """The chips in a scroll area; ``token_clicked(axis, index)``."""

    token_clicked = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = ChipCanvas()
        self.setWidget(self.canvas)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.canvas.token_clicked.connect(self.token_clicked)

    def show_tokens(self, axes: list, selected: tuple[str, int] | None) -> None:
        """``axes``: (axis name, heading, ``TokenAxis``) rows, as ``TokensView.rows``."""
        rows = []
        for axis_name, heading, axis in axes:
            greyed = np.asarray(axis.special, dtype=bool)
            template = getattr(axis, "template", None)
            if template is not None:
                greyed = greyed | np.asarray(template, dtype=bool)
            rows.append(ChipRow(axis_name, heading, tuple(display_token(t) for t in axis.tokens), tuple(greyed.tolist())))
        self.canvas.set_rows(tuple(rows), selected)

    def toPlainText(self) -> str:  # noqa: N802 - QTextEdit's name, which the tests and users know
        return self.canvas.text()
