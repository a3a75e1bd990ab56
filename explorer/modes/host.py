"""What an analysis mode may ask of the window it sits in: the ``ModeHost`` protocol.

Modes are written against this protocol, never against ``MainWindow``: they cannot reach
into the window's docks, menus or private bookkeeping, and the window can change
without touching them. ``MainWindow`` implements it (``window_host.py``); a test can
hand a mode any object with these members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # type names only: this module imports no window, worker or Qt
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QMenu, QWidget

    from ..core.state import ExplorerState
    from ..jobs import ModelInfo, TraceResult
    from ..worker import InferenceController


class ModeHost(Protocol):
    """The window as a mode sees it."""

    state: "ExplorerState"  # the trace on show and the selection (read; change it with ``select``)
    controller: "InferenceController"  # the worker: ``request_analysis``, ``load`` and their signals
    trace_painted: "SignalInstance"  # (TraceResult) every panel shows a new trace
    model_changed: "SignalInstance"  # (ModelInfo) a model was opened

    @property
    def model(self) -> "ModelInfo | None":
        """The model on show, or None before the first one loads."""

    @property
    def painted(self) -> "TraceResult | None":
        """The newest trace every panel shows."""

    def select(self, **changes: Any) -> None:
        """Change the selection; every showing panel and mode repaints."""

    def source_text(self) -> str:
        """The source text in the input panel."""

    def model_device(self) -> str:
        """The device a model opened now goes to (the Device menu's choice)."""

    def panel_showing(self, name: str) -> bool:
        """Whether the dock of panel or mode ``name`` is on screen."""

    def raise_panel(self, name: str) -> None:
        """Show the dock of panel or mode ``name`` in front and give it the focus."""

    def repaint_when_shown(self, name: str) -> None:
        """Paint panel or mode ``name`` the next time its dock shows."""

    def show_status(self, text: str, timeout_ms: int) -> None:
        """A passing message in the status bar."""

    def show_error(self, title: str, text: str) -> None:
        """A dialog saying what went wrong (kept as the window's last error dialog)."""

    def dialog_parent(self) -> "QWidget":
        """The widget file dialogs and messages are centred on."""

    def panel_menu(self, name: str, parent: "QWidget") -> "QMenu":
        """The export menu of panel or mode ``name``."""
