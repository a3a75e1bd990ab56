"""The main window: docks for every panel and mode, menus, status bar, and signal routing.

The window owns an ``ExplorerState`` (pure, ``core``) and an ``InferenceController``
(worker thread). Keystrokes in the input panel become trace requests (``window_models``);
the newest result is set on the state and each panel shows its view of it
(``window_paint``); selection edits repaint from the state without touching the model.
The analysis modes see the window only through ``WindowHost`` (the ``ModeHost`` protocol).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QProgressBar, QWidget

from model.trace import KIND_AXES

from . import dialogs
from .core.state import ExplorerState
from .export_actions import ExportActions
from .trace_actions import TraceFileActions
from .navigation import NavigationKeys
from .panels.cross_attention import CrossAttentionPanel
from .panels.distribution import DistributionPanel
from .panels.head_detail import HeadDetail
from .panels.heatmap import DisabledNotice, plain_label
from .panels.input_panel import InputPanel
from .panels.readout import Readout
from .panels.overview_grid import OverviewGrid
from .panels.theme import plot_theme, restyle
from .jobs import ModelInfo, TraceResult
from .window_modes import ModeDocks
from .modes import MODES
from .selection_bar import SelectionBar
from .settings import Settings
from .window_host import WindowHost
from .window_models import BUNDLED_EXAMPLE, GENERIC_EXAMPLE, ModelActions  # noqa: F401 - the examples are re-exported
from .window_paint import PANEL_TITLES, PaintLoop, StagedPaint
from .worker import InferenceController

log = logging.getLogger(__name__)
DEFAULT_SIZE = (1600, 1000)
PANELS = ("input", "grid", "head", "distribution", "cross")


class MainWindow(ModelActions, PaintLoop, ModeDocks, QMainWindow):
    """The Attention Explorer window."""

    trace_painted = Signal(object)  # TraceResult, after every panel shows it
    model_changed = Signal(object)  # ModelInfo
    modes_settled = Signal()  # no analysis mode, nor the next-token line, waits for the worker any more

    def __init__(self, settings: Settings | None = None, restore_layout: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Attention Explorer")
        self.setObjectName("attention-explorer-main-window")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.state = ExplorerState()
        self.state.select(
            colormap=self.settings.colormap,
            show_mean_column=bool(self.settings.value("view/show_mean_column")),
            hide_special=bool(self.settings.value("view/hide_special")),
        )
        self.controller = InferenceController(self)
        self.model: ModelInfo | None = None
        # The compute dtype checkpoints are opened in (--dtype; model.precision).
        self.compute_dtype = "auto"
        self.painted: TraceResult | None = None
        self.last_error_dialog: QMessageBox | None = None
        self.last_timings: dict[str, float] = {}
        self._loading_location: str | None = None
        self.last_notice = ""
        self._pick_view = False
        self._staged: StagedPaint | None = None  # the newest trace while its panels are painted one by one
        self.next_token_pending = False  # the distribution's next-token line waits for the worker
        self._heap_unsettled = False  # a model was opened: collect once its first trace is painted
        self._plot_views: dict[str, list] = {}  # each panel's pyqtgraph views (``panels.heatmap.plot_views``)
        # One timer owned by the window drives the staged paint: a turn of the event loop
        # between panels, and nothing left to a callback that could be collected.
        self._stage_timer = QTimer(self)
        self._stage_timer.setSingleShot(True)
        self._stage_timer.setInterval(0)
        self._stage_timer.timeout.connect(self._paint_next_stage)
        # Panels taken out of the layout because the loaded model has no use for them.
        self.collapsed_panels: set[str] = set()
        # Panels not repainted since the state changed because their dock was not showing.
        self.stale_panels: set[str] = set()
        self._dock_shown: dict[str, bool] = {}  # from visibilityChanged
        self._theme = plot_theme()  # the plots' colours, light or dark after the desktop

        self.input_panel = InputPanel()
        self.grid = OverviewGrid()
        self.head_detail = HeadDetail()
        self.distribution = DistributionPanel()
        self.cross = CrossAttentionPanel()
        self.panels = {
            "input": self.input_panel,
            "grid": self.grid,
            "head": self.head_detail,
            "distribution": self.distribution,
            "cross": self.cross,
        }
        self.containers: dict[str, DisabledNotice] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.selection_bar = SelectionBar(self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.selection_bar)
        self.modes: dict = {}
        self.exports = ExportActions(self, self.state, self._focused_panel, self.modes)
        self.trace_files = TraceFileActions(self)
        self.exports.visible_region = lambda panel: self.head_detail.visible_region() if panel == "head" else None
        self.host = WindowHost(self)
        self.modes.update({mode.name: mode(self.host, self) for mode in MODES})
        for mode in self.modes.values():
            mode.settled.connect(self._on_mode_settled)
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self.navigation = NavigationKeys(self.step_head, self.step_query, self.step_layer, self)
        for name in ("grid", "head", "distribution", "cross", *self.modes):
            self.navigation.install(self.docks[name])  # a mode's widgets get the keys once built
        self.resize(*DEFAULT_SIZE)
        self._sized = False
        self.geometry_restored = False
        if restore_layout:
            self._sized = self._restore_layout()
        self._show_availability(None)

    # -- construction ------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowNestedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        for name in PANELS:
            container = DisabledNotice(self.panels[name])
            dock = QDockWidget(PANEL_TITLES[name], self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(container)
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                | QDockWidget.DockWidgetFeature.DockWidgetClosable
            )
            if name != "input":
                container.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
                container.customContextMenuRequested.connect(
                    lambda point, panel=name, widget=container: self._on_context_menu(panel, widget, point)
                )
            self.containers[name] = container
            self.docks[name] = dock
            dock.visibilityChanged.connect(lambda visible, panel=name: self._on_dock_visibility_changed(panel, visible))
        self._add_mode_docks()
        self._dock_shown.update(dict.fromkeys(self.docks, True))
        self._default_layout()

    def _default_layout(self) -> None:
        """Input and overview on the left; head detail and cross-attention across the top
        right; the softmax distribution beneath them."""
        docks = self.docks
        for dock in docks.values():
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, docks["input"])
        self.splitDockWidget(docks["input"], docks["grid"], Qt.Orientation.Vertical)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks["head"])
        self.splitDockWidget(docks["head"], docks["distribution"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["head"], docks["cross"], Qt.Orientation.Horizontal)
        # Analysis modes sit as tabs behind the panel they are closest to.
        for name, mode in self.modes.items():
            self.tabifyDockWidget(docks[mode.tab_with], docks[name])
        for name in PANELS:
            docks[name].raise_()
        self._apply_default_sizes()
        if self.collapsed_panels and self.state.trace is not None:
            # A reset shows every dock: the panels the model has no use for go again.
            self.collapsed_panels.clear()
            self._show_availability(self.state.trace.architecture)

    def _apply_default_sizes(self) -> None:
        docks = self.docks
        width, height = self.width() or DEFAULT_SIZE[0], self.height() or DEFAULT_SIZE[1]
        self.resizeDocks([docks["input"], docks["head"], docks["cross"]], [int(width * 0.34), int(width * 0.31), int(width * 0.35)], Qt.Orientation.Horizontal)
        self.resizeDocks([docks["input"], docks["grid"]], [int(height * 0.24), int(height * 0.76)], Qt.Orientation.Vertical)
        self.resizeDocks([docks["head"], docks["distribution"]], [int(height * 0.6), int(height * 0.4)], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = plain_label("no model")
        self.device_label = plain_label()
        # Read-outs that change on every key: room for large numbers, so they never re-lay out the window.
        self.tokens_label = Readout(width_of="88,888 source · 88,888 generated tokens")
        self.timings_label = Readout(width_of="tokenise 8888.8 ms · forward 88888.8 ms · paint 8888.8 ms")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(False)
        self.progress.hide()
        for widget in (self.progress, self.model_label, self.device_label, self.tokens_label, self.timings_label):
            bar.addPermanentWidget(widget)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_action = file_menu.addAction("&Open checkpoint folder…", self.open_checkpoint_dialog)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        file_menu.addAction("Open checkpoint &file (config.json, model.safetensors)…", self.open_checkpoint_file_dialog)
        file_menu.addAction("Open from &Hugging Face cache…", self.open_cached_model_dialog)
        file_menu.addAction("Open &bundled model", lambda: self.open_checkpoint(None))
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction("Open &text file as source…", self.open_text_file_dialog)
        file_menu.addSeparator()
        file_menu.addAction(self.trace_files.save_action)
        file_menu.addAction(self.trace_files.open_action)
        file_menu.addSeparator()
        file_menu.addAction(self.exports.export_action)
        file_menu.addAction(self.exports.export_data_action)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))

        view_menu = menu.addMenu("&View")
        for name in PANELS:
            view_menu.addAction(self.docks[name].toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction("Reset &layout", self._default_layout)

        self.device_menu = menu.addMenu("&Device")
        self.device_group = QActionGroup(self)
        self.device_group.setExclusive(True)
        self.device_actions: dict[str, QAction] = {}
        # Listing the devices imports torch (1.5 s here). The worker imports it anyway to
        # load the first model, so the menu is filled once that model is in, or when it
        # is first opened, and the window shows without waiting for torch.
        self.device_menu.aboutToShow.connect(self.list_devices)

        analysis_menu = menu.addMenu("&Analysis")
        for name, mode in self.modes.items():
            analysis_menu.addAction(f"Show {mode.title.lower()}", mode.raise_dock)
            mode.add_actions(analysis_menu)
            analysis_menu.addSeparator()
        self.analysis_menu = analysis_menu

        help_menu = menu.addMenu("&Help")
        help_menu.addAction("&Keyboard", self._show_keyboard_help)

    def _connect(self) -> None:
        self.input_panel.input_edited.connect(self.request_trace)
        self.input_panel.token_clicked.connect(self._on_token_clicked)
        self.selection_bar.selection_edited.connect(self._on_selection_edited)
        self.grid.head_clicked.connect(self._on_grid_head_clicked)
        self.head_detail.query_clicked.connect(lambda row: self.select(query=row))
        self.head_detail.values_changed.connect(lambda values: self.select(values=values))
        self.head_detail.colour_range_changed.connect(lambda name: self.select(colour_range=name))
        self.head_detail.tile_runner = self._request_head_tile
        self.cross.heatmap.row_clicked.connect(self._on_cross_row_clicked)
        self.distribution.temperature_changed.connect(lambda value: self.select(temperature=value))
        controller = self.controller
        controller.trace_ready.connect(self._on_trace_ready)
        controller.trace_failed.connect(self._on_trace_failed)
        controller.trace_progressed.connect(self._on_trace_progressed)
        controller.load_started.connect(self._on_load_started)
        controller.model_loaded.connect(self._on_model_loaded)
        controller.load_failed.connect(self._on_load_failed)
        controller.device_changed.connect(self._on_device_changed)
        controller.analysis_ready.connect(lambda topic, value: self._on_analysis_answer(topic, value, False))
        controller.analysis_failed.connect(lambda topic, reason: self._on_analysis_answer(topic, reason, True))

    # -- selection ------------------------------------------------------------------------------
    def select(self, **changes: object) -> None:
        """Change the selection and repaint from the state (no model call)."""
        before = self.state.selection
        selection = self.state.select(**changes)
        if selection.colormap != before.colormap:
            self.settings.set_value("view/colormap", selection.colormap)
        if selection.show_mean_column != before.show_mean_column:
            self.settings.set_value("view/show_mean_column", selection.show_mean_column)
        if selection.hide_special != before.hide_special:
            self.settings.set_value("view/hide_special", selection.hide_special)
        if selection != before and self.state.trace is not None:
            self.paint()

    def step_head(self, delta: int) -> None:
        if self.state.trace is not None:
            self.state.step_head(delta)
            self.paint()

    def step_layer(self, delta: int) -> None:
        if self.state.trace is not None:
            self.state.step_layer(delta)
            self.paint()

    def step_query(self, delta: int) -> None:
        if self.state.trace is not None:
            self.select(query=max(self.state.selection.query + delta, 0))

    def _on_selection_edited(self, changes: dict) -> None:
        self.select(**changes)

    def _on_grid_head_clicked(self, layer: int, head: int) -> None:
        self.select(layer=layer, head=None if head < 0 else head)

    def _on_cross_row_clicked(self, row: int) -> None:
        self.select(kind="cross", query=row)

    def _on_token_clicked(self, axis: str, index: int) -> None:
        kinds = self.state.kinds
        if KIND_AXES.get(self.state.selection.kind, ("",))[0] == axis:
            self.select(query=index)
            return
        preferred = ("cross", "decoder_self") if axis == "decoder" else ("encoder_self",)
        for kind in preferred:
            if kind in kinds:
                self.select(kind=kind, query=index)
                return

    # -- export and context menus ----------------------------------------------------------------
    def _focused_panel(self) -> str:
        focus = self.focusWidget()
        for name, container in self.containers.items():
            if focus is not None and name != "input" and container.isAncestorOf(focus):
                return name
        for name in self.modes:
            if focus is not None and self.docks[name].isAncestorOf(focus):
                return name
        return "head"

    def _on_context_menu(self, panel: str, widget: QWidget, point: QPoint) -> None:
        self.exports.panel_menu(panel, widget).popup(widget.mapToGlobal(point))

    # -- drag and drop, keyboard help -------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if dialogs.dropped_checkpoint(paths):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        location = dialogs.dropped_checkpoint(paths)
        if location:
            event.acceptProposedAction()
            self.open_checkpoint(location)

    def _show_keyboard_help(self) -> None:
        dialogs.show_message(
            self,
            "Keyboard",
            "← / →  previous / next head (the mean comes after the last head)\n"
            "↑ / ↓  previous / next query token\n"
            "PageUp / PageDown  previous / next layer\n"
            "Ctrl+O  open a checkpoint   Ctrl+E  export   Ctrl+Q  quit\n"
            "(keys act when a plot panel has focus; editors keep their keys)",
            QMessageBox.Icon.Information,
        )

    # -- settings and closing ----------------------------------------------------------------------
    def _restore_layout(self) -> bool:
        """Restore the saved geometry and dock layout; False when there is none."""
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.geometry_restored = self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        return isinstance(state, QByteArray) and not state.isEmpty() and self.restoreState(state)

    def fill_screen(self) -> None:
        """On a first start (no remembered geometry) take the screen's available area."""
        if self.geometry_restored:
            return
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            self.setGeometry(screen.availableGeometry())
            self._apply_default_sizes()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._sized:
            # Dock sizes only stick once the window has its real size.
            self._sized = True
            self._apply_default_sizes()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange):
            theme = plot_theme()
            if theme is not self._theme:  # the desktop switched between light and dark
                self._theme = theme
                restyle(self, theme)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        for name in sorted(self.collapsed_panels):
            # The layout is remembered as the user left it, not as one model collapsed it.
            self.docks[name].show()
        self.collapsed_panels.clear()
        self.settings.set_value("window/geometry", self.saveGeometry())
        self.settings.set_value("window/state", self.saveState())
        self.settings.sync()
        self.head_detail.pending = None  # a tile being made on the worker stops at its next block
        self.controller.stop()
        super().closeEvent(event)
