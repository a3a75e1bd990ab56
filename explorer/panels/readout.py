"""A read-out line whose new text never re-lays out the window.

A QLabel asks for a new layout on every new text: the request climbs from layout to
layout, through the dock, up to the main window, which then lays out (and animates)
every dock again; typing changes a title, a summary and the status bar's timings on
every key. A ``Readout`` keeps its label inside a widget without a layout, of a height
of ``lines`` lines, so a new text only repaints the label: the climb stops here.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolTip, QWidget


class Readout(QWidget):
    """A plain-text label of fixed height; ``width_of`` sets the width it asks for.

    Text the width cuts off is shown whole in its tooltip.
    """

    def __init__(self, lines: int = 1, wrap: bool = False, width_of: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = QLabel(self)
        self._label.setTextFormat(Qt.TextFormat.PlainText)  # a token such as <s> stays visible
        self._label.setWordWrap(wrap)
        self._label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._lines = lines
        self._width_of = width_of
        horizontal = QSizePolicy.Policy.Preferred if width_of else QSizePolicy.Policy.Ignored
        self.setSizePolicy(horizontal, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        metrics = self._label.fontMetrics()
        width = metrics.horizontalAdvance(self._width_of) + 8 if self._width_of else 0
        return QSize(width, metrics.lineSpacing() * self._lines + 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(0, self.sizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._label.setGeometry(self.rect())
        super().resizeEvent(event)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.toolTip() == "" and self._cut_off():
            QToolTip.showText(event.globalPos(), self._label.text(), self)
            return True
        return super().event(event)

    def _cut_off(self) -> bool:
        needed = self._label.heightForWidth(self.width()) if self._label.wordWrap() else self._label.sizeHint().height()
        return needed > self.height() or (not self._label.wordWrap() and self._label.sizeHint().width() > self.width())

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name
        self._label.setText(text)

    def text(self) -> str:
        return self._label.text()

    def setTextInteractionFlags(self, flags: Qt.TextInteractionFlag) -> None:  # noqa: N802 - QLabel's name
        self._label.setTextInteractionFlags(flags)

    def setAlignment(self, alignment: Qt.AlignmentFlag) -> None:  # noqa: N802 - QLabel's name
        self._label.setAlignment(alignment)
