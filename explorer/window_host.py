"""The main window seen through the ``ModeHost`` protocol: what the analysis modes get.

The modes hold this adapter, not the window, so they can only use the protocol's
members (see ``modes/host.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QWidget

from . import dialogs

if TYPE_CHECKING:
    from .main_window import MainWindow


class WindowHost:
    """``ModeHost`` over a ``MainWindow``."""

    def __init__(self, window: "MainWindow") -> None:
        self._window = window
        self.state = window.state
        self.controller = window.controller
        self.trace_painted = window.trace_painted
        self.model_changed = window.model_changed

    @property
    def model(self):
        return self._window.model

    @property
    def painted(self):
        return self._window.painted

    def select(self, **changes: Any) -> None:
        self._window.select(**changes)

    def source_text(self) -> str:
        return self._window.input_panel.texts()[0]

    def model_device(self) -> str:
        return self._window.usable_device(self._window.settings.value("model/device"))

    def panel_showing(self, name: str) -> bool:
        return self._window.panel_showing(name)

    def raise_panel(self, name: str) -> None:
        dock = self._window.docks[name]
        dock.show()
        dock.raise_()
        dock.setFocus(Qt.FocusReason.OtherFocusReason)

    def repaint_when_shown(self, name: str) -> None:
        self._window.stale_panels.add(name)

    def show_status(self, text: str, timeout_ms: int) -> None:
        self._window.statusBar().showMessage(text, timeout_ms)

    def show_error(self, title: str, text: str) -> None:
        self._window.last_error_dialog = dialogs.show_message(self._window, title, text)

    def dialog_parent(self) -> QWidget:
        return self._window

    def panel_menu(self, name: str, parent: QWidget) -> QMenu:
        return self._window.exports.panel_menu(name, parent)
