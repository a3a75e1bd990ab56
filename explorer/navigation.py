"""Keyboard navigation across heads, layers and query tokens, outside the text editors.

An event filter rather than window shortcuts: shortcuts would take the arrow keys away
from the text editors and spin boxes, where they must keep moving the cursor.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

# Widgets that use these keys themselves.
KEEP_KEYS = (QAbstractSpinBox, QComboBox, QAbstractSlider, QLineEdit, QPlainTextEdit, QTextEdit)


class NavigationKeys(QObject):
    """← / → previous / next head, ↑ / ↓ previous / next query token, PageUp / PageDown layer."""

    def __init__(self, step_head: Callable[[int], None], step_query: Callable[[int], None],
                 step_layer: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._actions = {
            Qt.Key.Key_Left: lambda: step_head(-1),
            Qt.Key.Key_Right: lambda: step_head(1),
            Qt.Key.Key_Up: lambda: step_query(-1),
            Qt.Key.Key_Down: lambda: step_query(1),
            Qt.Key.Key_PageUp: lambda: step_layer(-1),
            Qt.Key.Key_PageDown: lambda: step_layer(1),
        }

    def install(self, root: QWidget) -> None:
        """Watch ``root`` and every child that does not need these keys itself."""
        for widget in [root, *root.findChildren(QWidget)]:
            if not isinstance(widget, KEEP_KEYS):
                widget.installEventFilter(self)
                widget.setFocusPolicy(widget.focusPolicy() | Qt.FocusPolicy.ClickFocus)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
                return False
            action = self._actions.get(Qt.Key(event.key()))
            if action is not None:
                action()
                return True
        return False
