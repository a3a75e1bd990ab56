"""The GUI side of exporting: File ▸ Export…, Ctrl+E and each panel's right-click menu.

Figures and data are written by ``explorer.export``; this module only turns the
window's state into a ``FigureRequest`` (so an export shows exactly what the panel
shows: colour map, probabilities or scores, colour range), asks for a file name and
reports errors in a dialog. When ``explorer.export`` is not installed the actions are
present but disabled, with a tooltip saying why. An analysis mode whose dock can be
exported (it has a ``figure_request(export)`` method, as the aggregation mode does)
builds its own request.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Mapping

from PySide6.QtGui import QAction, QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from .core import views
from .core.state import ExplorerState
from .dialogs import show_message
from .errors import first_line

log = logging.getLogger(__name__)
IMAGE_FILTER = "PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"
DATA_FILTER = "NumPy arrays (*.npz);;CSV table (*.csv)"
# Which figure each panel exports.
PANEL_FIGURES = {"grid": "grid", "head": "head", "distribution": "distribution", "cross": "cross"}


def export_module():
    """``explorer.export`` or None when it is not available."""
    try:
        from . import export
    except ImportError:
        return None
    needed = ("FigureRequest", "export_figure", "figure_png_bytes", "export_trace_data")
    return export if all(hasattr(export, name) for name in needed) else None


def figure_request(state: ExplorerState, figure: str, region: tuple[slice, slice] | None = None):
    """The ``FigureRequest`` of what ``figure``'s panel shows now: it carries the panel's view
    (and for the head figure, ``region``: the rows and keys on screen, None for the whole head)."""
    export = export_module()
    if export is None or state.trace is None:
        raise RuntimeError("export is not available")
    selection = state.selection
    kind = "cross" if figure == "cross" else selection.kind
    layer = selection.layer
    if kind != selection.kind:
        layer = min(layer, state.trace.attention[kind].n_layers - 1)
    query = selection.query
    return export.FigureRequest(
        trace=state.trace,
        figure=figure,
        kind=kind,
        layer=layer,
        head=selection.head,
        values=selection.values,
        colormap=selection.colormap,
        levels=state.levels(kind=kind),
        query=query,
        temperature=selection.temperature,
        show_mean_column=selection.show_mean_column,
        hide_special=selection.hide_special,
        colour_range=selection.colour_range,
        view=views.current(state, figure),
        region=region if figure == "head" else None,
    )


def _with_suffix(path: str, selected_filter: str, default: str) -> Path:
    result = Path(path)
    if not result.suffix:
        suffix = selected_filter.split("*")[-1].rstrip(")") if "*" in selected_filter else default
        result = result.with_suffix(suffix)
    return result


class ExportActions:
    """Owns the export actions of one window and runs them."""

    def __init__(
        self, window: QWidget, state: ExplorerState, current_panel: Callable[[], str], modes: Mapping[str, object]
    ) -> None:
        self._window = window
        self._modes = modes
        self._state = state
        self._current_panel = current_panel
        self.last_error: QMessageBox | None = None
        # The (rows, keys) a zoomed panel shows, for "Export visible region…"; None: not zoomed.
        self.visible_region: Callable[[str], tuple[slice, slice] | None] = lambda _panel: None
        self.export_action = QAction("&Export figure…", window)
        self.export_action.setShortcut("Ctrl+E")
        self.export_action.triggered.connect(lambda: self.export_image(self._current_panel()))
        self.export_data_action = QAction("Export &data…", window)
        self.export_data_action.triggered.connect(self.export_data)
        available = export_module() is not None
        for action in (self.export_action, self.export_data_action):
            action.setEnabled(available)
            if not available:
                action.setToolTip("Export is not installed in this build.")

    @property
    def available(self) -> bool:
        return export_module() is not None

    def panel_menu(self, panel: str, parent: QWidget) -> QMenu:
        """The right-click menu of one panel."""
        menu = QMenu(parent)
        enabled = self.available and self._state.trace is not None
        region = self.visible_region(panel)
        actions = [("Export image…", lambda: self.export_image(panel))]
        if region is not None:
            actions.append(("Export visible region…", lambda: self.export_image(panel, region)))
        for text, handler in (
            *actions,
            ("Copy image to clipboard", lambda: self.copy_image(panel)),
            ("Export data…", self.export_data),
        ):
            action = menu.addAction(text)
            action.triggered.connect(handler)
            action.setEnabled(enabled)
        if not self.available:
            menu.addSeparator()
            menu.addAction("Export is not installed in this build.").setEnabled(False)
        return menu

    def export_image(self, panel: str, region: tuple[slice, slice] | None = None) -> Path | None:
        if self._state.trace is None or not self.available:
            return None
        path, selected = QFileDialog.getSaveFileName(self._window, "Export figure", f"{panel}.png", IMAGE_FILTER)
        if not path:
            return None
        # The dialog asks before overwriting an existing file.
        return self.write_image(panel, _with_suffix(path, selected, ".png"), region)

    def request_for(self, panel: str, region: tuple[slice, slice] | None = None):
        """The ``FigureRequest`` of what ``panel`` (a panel or an analysis mode's name) shows."""
        export = export_module()
        mode = self._modes.get(panel)
        if mode is not None and hasattr(mode, "figure_request"):
            return mode.figure_request(export)
        return figure_request(self._state, PANEL_FIGURES.get(panel, "head"), region)

    def write_image(self, panel: str, path: Path, region: tuple[slice, slice] | None = None) -> Path | None:
        export = export_module()
        try:
            return export.export_figure(self.request_for(panel, region), path)
        except Exception as error:  # noqa: BLE001 - any failure becomes a dialog, never a crash
            self._fail("Export failed", error)
            return None

    def copy_image(self, panel: str) -> bool:
        export = export_module()
        if export is None or self._state.trace is None:
            return False
        try:
            data = export.figure_png_bytes(self.request_for(panel))
        except Exception as error:  # noqa: BLE001
            self._fail("Copy failed", error)
            return False
        image = QImage.fromData(data, "PNG")
        # setImage, not setMimeData with image data: the latter has crashed Qt's
        # offscreen platform at exit.
        QGuiApplication.clipboard().setImage(image)
        return not image.isNull()

    def export_data(self) -> Path | None:
        if self._state.trace is None or not self.available:
            return None
        path, selected = QFileDialog.getSaveFileName(self._window, "Export attention data", "attention.npz", DATA_FILTER)
        if not path:
            return None
        return self.write_data(_with_suffix(path, selected, ".npz"))

    def write_data(self, path: Path) -> Path | None:
        export = export_module()
        try:
            return export.export_trace_data(self._state.trace, path)
        except Exception as error:  # noqa: BLE001
            self._fail("Export failed", error)
            return None

    def _fail(self, title: str, error: BaseException) -> None:
        log.debug("export failed", exc_info=True)
        self.last_error = show_message(self._window, title, first_line(error))
