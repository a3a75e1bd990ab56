"""What every analysis mode shares: a dock in the main window, worker requests, readiness.

A mode is a panel of the main window that shows an analysis of the current trace
(head statistics, rollout, comparison, the training timeline, step-through
generation). The window treats its dock like any other panel: it is painted from the
window's state only while it shows, and marked stale otherwise. Work that needs the
model, or that is too slow for the GUI thread, goes to the worker as an
``AnalysisRequest``; answers come back by topic, the newest request of a topic winning.

A mode's widgets are built when they are first needed, not with the window: most
sessions open few modes, and building all of them cost about 140 ms of every start.
The mode object itself (its state, menu entries, command-line options and worker
requests) exists from the start; ``widget`` builds the widgets on first use, and the
window asks for it when the mode's dock first shows or the mode is first painted.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QMenu, QWidget

from .host import ModeHost


class AnalysisMode(QObject):
    """Base of the analysis modes; subclasses implement ``build`` and ``show_state``.

    State that must answer before the widgets exist (what was computed, what is being
    waited for, options given on the command line) is set in ``__init__``; widgets and
    nothing else in ``build``.

    Class attributes:
        name: short id; the dock's object name is ``dock-<name>``.
        title: the dock's title.
        tab_with: the panel whose dock area this mode's dock shares, as a tab.
    """

    name = ""
    title = ""
    tab_with = "head"
    settled = Signal()  # no request of this mode is waiting for the worker any more
    widget_built = Signal()  # ``widget`` has just been built; the window puts it in the dock

    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.waiting: set[str] = set()  # topics requested and not yet answered
        self._widget: QWidget | None = None
        self._building = False

    # -- for subclasses ---------------------------------------------------------------
    def build(self) -> QWidget:
        """The dock's widget, made once, on first use (see ``widget``)."""
        raise NotImplementedError

    def show_state(self) -> None:
        """Show the window's current state in the built widgets (called by ``paint``)."""

    # -- the widgets, built on first use ------------------------------------------------
    @property
    def built(self) -> bool:
        """Whether ``build`` has run."""
        return self._widget is not None

    @property
    def widget(self) -> QWidget:
        """The dock's widget; built here the first time it is asked for."""
        if self._widget is None:
            self._building = True
            try:
                widget = self.build()
            finally:
                self._building = False
            self._widget = widget
            self.widget_built.emit()
        return self._widget

    def __getattr__(self, name: str) -> Any:
        # Reached only when ordinary lookup fails: an attribute ``build`` makes (a combo
        # box, the table, a view), asked for before the dock was first shown, by an
        # export, a command-line option or a test. Building now gives the caller the
        # real widget; after the build a missing name is an AttributeError as usual, and
        # widgets are never built off the GUI thread (a worker computation, say).
        if (
            name.startswith("__")
            or self.__dict__.get("_building", True)
            or self.__dict__.get("_widget") is not None
            or QThread.currentThread() != self.thread()
        ):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.widget  # noqa: B018 - builds the widgets
        return getattr(self, name)

    def paint(self) -> None:
        """Show the window's current state, building the widgets first if need be.

        The window calls it only while the dock shows (or before the window is shown).
        """
        self.widget  # noqa: B018 - a mode first painted is built here
        self.show_state()

    def add_actions(self, menu: QMenu) -> None:
        """Add this mode's entries to the Analysis menu."""

    def apply_args(self, args: argparse.Namespace) -> bool:
        """Take this mode's command-line options; True when the mode opened a model itself.

        Called once at start-up, before the window opens its first model (``--show``,
        ``--compare-text``, ``--run`` …); ``--screenshot`` waits until no mode is busy.
        """
        return False

    def on_result(self, topic: str, value: Any) -> None:
        """The worker answered the newest request of ``topic`` with ``value``."""

    def on_failure(self, topic: str, reason: str) -> None:
        """The newest request of ``topic`` failed with the one-line ``reason``."""
        self.host.show_status(f"{self.title}: {reason}", 10000)

    # -- helpers --------------------------------------------------------------------------
    def request(self, topic: str, compute: Callable[[Any], Any]) -> int:
        """Run ``compute(model)`` on the worker thread; ``on_result`` gets its value."""
        self.waiting.add(topic)
        return self.host.controller.request_analysis(f"{self.name}/{topic}", compute)

    def answered(self, topic: str, value: Any, failed: bool) -> None:
        """Route a worker answer (called by the window for topics of this mode)."""
        self.waiting.discard(topic)
        if failed:
            self.on_failure(topic, value)
        else:
            self.on_result(topic, value)
        if not self.waiting:
            self.settled.emit()

    def settle(self, topic: str) -> None:
        """Stop waiting for ``topic``: it was answered some other way or is no longer wanted."""
        if topic in self.waiting:
            self.waiting.discard(topic)
            if not self.waiting:
                self.settled.emit()

    @property
    def busy(self) -> bool:
        return bool(self.waiting)

    def showing(self) -> bool:
        return self.host.panel_showing(self.name)

    def raise_dock(self) -> None:
        self.host.raise_panel(self.name)
