"""The analysis modes' side of the main window: their docks, worker answers and options.

A mixin of ``MainWindow``. Each mode's dock is made with the window, with an empty
stand-in for a widget, so the Analysis menu, tabs and saved layouts (``restoreState``
finds docks by object name) work from the start. The mode's own widgets are built the
first time they are needed: when its dock first shows (a tab, the menu, a restored
layout, ``--show``) or the paint loop first paints it. Building every mode with the
window cost about 140 ms of each start, for docks that start tabbed away.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget, QWidget

from .window_paint import HEAD_TILE_TOPIC, NEXT_TOKEN_TOPIC


class ModeDocks:
    """Docks and routing for the analysis modes (mixed into ``MainWindow``)."""

    def _add_mode_docks(self) -> None:
        """One dock per mode, after the panels' docks, with its features and signals."""
        for name, mode in self.modes.items():
            dock = QDockWidget(mode.title, self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(QWidget())  # the stand-in, until the mode is built
            dock.setFeatures(self.docks["head"].features())
            self.docks[name] = dock
            mode.widget_built.connect(lambda panel=name: self._on_mode_built(panel))
            # Connected first: the mode is built before the paint loop hears that its dock shows.
            dock.visibilityChanged.connect(lambda visible, panel=name: self._on_mode_dock_visibility_changed(panel, visible))
            dock.visibilityChanged.connect(lambda visible, panel=name: self._on_dock_visibility_changed(panel, visible))

    def _on_analysis_answer(self, topic: str, value: object, failed: bool) -> None:
        if topic == NEXT_TOKEN_TOPIC:
            self._on_next_token(value, failed)
            return
        if topic == HEAD_TILE_TOPIC:
            self._on_head_tile(value, failed)
            return
        name, _, sub_topic = topic.partition("/")
        if name in self.modes:
            self.modes[name].answered(sub_topic, value, failed)

    def _on_mode_dock_visibility_changed(self, name: str, visible: bool) -> None:
        if visible:
            self.modes[name].widget  # noqa: B018 - builds the mode's widgets the first time its dock shows

    def _on_mode_built(self, name: str) -> None:
        """Put the newly built widgets of mode ``name`` in its dock, in place of the stand-in."""
        dock, widget = self.docks[name], self.modes[name].widget
        stand_in = dock.widget()
        dock.setWidget(widget)
        if stand_in is not None and stand_in is not widget:
            stand_in.deleteLater()
        if dock.isVisible():
            widget.show()  # setWidget leaves a widget added to a shown dock hidden
        navigation = getattr(self, "navigation", None)  # None while the window is being built
        if navigation is not None:
            navigation.install(widget)

    def _on_mode_settled(self) -> None:
        if not self.modes_busy():
            self.modes_settled.emit()

    def modes_busy(self) -> bool:
        """Whether any analysis mode, or the next-token line, still waits for the worker."""
        return self.next_token_pending or any(mode.busy for mode in self.modes.values())

    def apply_mode_args(self, args: object) -> bool:
        """Hand the command-line options to every mode; True when one opened a model itself.

        ``--show NAME`` brings that panel's or mode's dock to the front.
        """
        opened = False
        for mode in self.modes.values():
            opened = mode.apply_args(args) or opened
        shown = getattr(args, "show", None)
        if shown:
            self.docks[shown].show()
            self.docks[shown].raise_()
        return opened
