"""The main window: docks for every panel, menus, status bar, and the paint loop.

The window owns an ``ExplorerState`` (pure) and an ``InferenceController`` (worker
thread). Edits in the input panel become trace requests; the newest result is set on
the state and every panel is repainted from it in one pass; selection edits repaint
from the state without touching the model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QProgressBar, QWidget

from model.trace import KIND_AXES

from . import dialogs
from .devices import available_devices, normalise_device
from .export_actions import ExportActions
from .navigation import NavigationKeys
from .panels.cross_attention import CrossAttentionPanel
from .panels.distribution import DistributionPanel
from .panels.head_detail import HeadDetail
from .panels.heatmap import DisabledNotice, plain_label
from .panels.input_panel import InputPanel
from .panels.overview_grid import OverviewGrid
from .jobs import ModelInfo, TraceResult
from .modes import MODES
from .selection_bar import SelectionBar
from .settings import Settings
from .text_files import TextFileError, read_text_file
from .state import ExplorerState, kind_title, panel_availability
from .worker import InferenceController

log = logging.getLogger(__name__)
BUNDLED_EXAMPLE = "date: wednesday, 25 november 2026"
GENERIC_EXAMPLE = "The quick brown fox jumps over the lazy dog."
DEFAULT_SIZE = (1600, 1000)
PANELS = ("input", "grid", "head", "distribution", "cross")
PANEL_TITLES = {
    "input": "Input",
    "grid": "Overview: layers × heads",
    "head": "Head detail",
    "distribution": "Softmax distribution",
    "cross": "Cross-attention",
}


@dataclass
class StagedPaint:
    """A new trace whose panels are being painted one per turn of the event loop."""

    result: TraceResult
    panels: list[str]  # still to paint, in order
    paint_ms: float  # GUI-thread time spent on it so far


class MainWindow(QMainWindow):
    """The Attention Explorer window."""

    trace_painted = Signal(object)  # TraceResult, after every panel shows it
    model_changed = Signal(object)  # ModelInfo
    modes_settled = Signal()  # no analysis mode waits for the worker any more

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
        self.painted: TraceResult | None = None
        self.last_error_dialog: QMessageBox | None = None
        self.last_timings: dict[str, float] = {}
        self._loading_location: str | None = None
        self.last_notice = ""
        self._new_model = False
        self._staged: StagedPaint | None = None  # the newest trace while its panels are painted one by one
        # One timer owned by the window drives the staged paint: a turn of the event loop
        # between panels, and nothing left to a callback that could be collected.
        self._stage_timer = QTimer(self)
        self._stage_timer.setSingleShot(True)
        self._stage_timer.setInterval(0)
        self._stage_timer.timeout.connect(self._paint_next_stage)
        self._cross_has_room = True  # the default layout gives cross-attention a column
        # Panels not repainted since the state changed because their dock was not showing.
        self.stale_panels: set[str] = set()
        self._dock_shown: dict[str, bool] = {}  # from visibilityChanged
        self.panel_paints: dict[str, int] = {}  # a regression guard reads it

        self.input_panel = InputPanel()
        self.grid = OverviewGrid()
        self.head_detail = HeadDetail()
        self.distribution = DistributionPanel()
        self.cross = CrossAttentionPanel()
        self.containers: dict[str, DisabledNotice] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.selection_bar = SelectionBar(self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.selection_bar)
        self.exports = ExportActions(self, self.state, self._focused_panel)
        self.modes = {mode.name: mode(self) for mode in MODES}
        for mode in self.modes.values():
            mode.settled.connect(self._on_mode_settled)
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self.navigation = NavigationKeys(self.step_head, self.step_query, self.step_layer, self)
        for name in ("grid", "head", "distribution", "cross", *self.modes):
            self.navigation.install(self.docks[name])
        self.resize(*DEFAULT_SIZE)
        self._sized = False
        if restore_layout:
            self._sized = self._restore_layout()
        self._show_availability(None)

    # -- construction ------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowNestedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        widgets = {
            "input": self.input_panel,
            "grid": self.grid,
            "head": self.head_detail,
            "distribution": self.distribution,
            "cross": self.cross,
        }
        for name in PANELS:
            container = DisabledNotice(widgets[name])
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
        for name, mode in self.modes.items():
            dock = QDockWidget(mode.title, self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(mode.widget)
            dock.setFeatures(self.docks["head"].features())
            self.docks[name] = dock
            dock.visibilityChanged.connect(lambda visible, panel=name: self._on_dock_visibility_changed(panel, visible))
        self._dock_shown.update(dict.fromkeys(self.docks, True))
        self.panel_paints.update(dict.fromkeys(self.docks, 0))
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
        self.tokens_label = plain_label()
        self.timings_label = plain_label()
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
        devices = available_devices()
        for device in devices:
            action = self.device_menu.addAction(device.label)
            action.setCheckable(True)
            action.setData(device.name)
            self.device_group.addAction(action)
            self.device_actions[device.name] = action
            action.triggered.connect(lambda _checked=False, name=device.name: self.set_device(name))
        if len(devices) == 1:
            self.device_menu.addSeparator()
            self.device_menu.addAction("No GPU found (neither CUDA nor Apple MPS is available)").setEnabled(False)
        self.device_actions["cpu"].setChecked(True)

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
        self.cross.heatmap.row_clicked.connect(self._on_cross_row_clicked)
        self.distribution.temperature_changed.connect(lambda value: self.select(temperature=value))
        controller = self.controller
        controller.trace_ready.connect(self._on_trace_ready)
        controller.trace_failed.connect(self._on_trace_failed)
        controller.load_started.connect(self._on_load_started)
        controller.model_loaded.connect(self._on_model_loaded)
        controller.load_failed.connect(self._on_load_failed)
        controller.device_changed.connect(self._on_device_changed)
        controller.analysis_ready.connect(lambda topic, value: self._on_analysis_answer(topic, value, False))
        controller.analysis_failed.connect(lambda topic, reason: self._on_analysis_answer(topic, reason, True))

    # -- model and device -------------------------------------------------------------------
    def open_checkpoint(self, location: str | None, device: str | None = None) -> int:
        """Load a checkpoint on the worker; the current model keeps working meanwhile.

        ``device`` overrides the remembered device for this load only (``--device``).
        """
        self._loading_location = location
        device = normalise_device(device or self.settings.value("model/device"))
        if device not in self.device_actions:
            device = "cpu"
        return self.controller.load(location, device)

    def open_checkpoint_dialog(self) -> None:
        location = dialogs.choose_checkpoint_folder(self, self._dialog_start())
        if location:
            self.open_checkpoint(location)

    def open_checkpoint_file_dialog(self) -> None:
        location = dialogs.choose_checkpoint_file(self, self._dialog_start())
        if location:
            self.open_checkpoint(location)

    def open_text_file_dialog(self) -> None:
        path = dialogs.choose_text_file(self, str(Path.home()))
        if path:
            self.open_text_file(path)

    def open_text_file(self, path: str) -> bool:
        """Put a UTF-8 file's text in the source box; a file that can't be used explains itself."""
        try:
            text = read_text_file(path)
        except TextFileError as error:
            self.last_error_dialog = dialogs.show_message(self, "Open text file", str(error))
            return False
        self.input_panel.source.setPlainText(text)
        return True

    def _dialog_start(self) -> str:
        return str(Path(self.model.source).parent) if self.model and self.model.source else str(Path.home())

    def open_cached_model_dialog(self) -> None:
        repo_id = dialogs.choose_cached_model(self)
        if repo_id:
            self.open_checkpoint(repo_id)

    def set_device(self, device: str) -> None:
        self.settings.set_value("model/device", device)
        if self.model is not None:
            self.controller.move_to(device)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent()
        for location in recent:
            self.recent_menu.addAction(location, lambda loc=location: self.open_checkpoint(loc))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _on_load_started(self, what: str) -> None:
        self.progress.show()
        self.statusBar().showMessage(f"Loading {what}…")

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.progress.setVisible(self.controller.loading)
        self.model = info
        if self._loading_location and not info.from_run:
            self.settings.add_recent(self._loading_location)
        self.statusBar().showMessage(f"Loaded {info.name}", 4000)
        self._show_model(info)
        availability = panel_availability(info.architecture)
        self.input_panel.set_availability(availability["target"], availability["pair"])
        # A step of a training run keeps the view, so scrubbing shows one head changing.
        self._new_model = not info.from_run
        self.model_changed.emit(info)
        if not self.input_panel.source.toPlainText():
            # Setting the text requests the trace.
            self.input_panel.source.setPlainText(self.example_text(info))
        else:
            self.request_trace()

    def _on_load_failed(self, location: str, reason: str) -> None:
        self.progress.setVisible(self.controller.loading)
        self.statusBar().showMessage(f"Could not open {location}", 6000)
        self.last_error_dialog = dialogs.show_message(self, "Could not open checkpoint", reason)
        if self.model is None:
            self._show_availability(None, "No model is loaded: " + reason)

    def _on_device_changed(self, info: ModelInfo, notice: str) -> None:
        self.model = info
        self._show_model(info)
        name = info.device if info.device in self.device_actions else "cpu"
        self.device_actions[name].setChecked(True)
        if notice:
            self.statusBar().showMessage(notice, 10000)
            self.last_notice = notice
        self.request_trace()

    def _show_model(self, info: ModelInfo) -> None:
        self.setWindowTitle(f"Attention Explorer — {info.name}")
        self.model_label.setText(f"{info.name} · {info.architecture}")
        self.model_label.setToolTip(f"{info.description}\n{info.source}")
        self.device_label.setText(f"device: {info.device}")
        action = self.device_actions.get(info.device)
        if action is not None:
            action.setChecked(True)

    @staticmethod
    def example_text(info: ModelInfo) -> str:
        return BUNDLED_EXAMPLE if info.bundled else GENERIC_EXAMPLE

    # -- input and traces ---------------------------------------------------------------------
    def request_trace(self) -> int | None:
        if self.model is None and not self.controller.loading:
            return None
        text, target, pair = self.input_panel.texts()
        return self.controller.request_trace(text, target, pair, self.state.selection.hide_special, self._new_model)

    def _on_trace_ready(self, result: TraceResult) -> None:
        trace = result.trace
        if any(axis is not None and len(axis) == 0 for axis in (trace.encoder, trace.decoder)):
            # A decoder-only model without a start token gives an empty text no tokens at all.
            self.statusBar().showMessage("The input has no tokens to show; type some text.", 10000)
            return
        start = time.perf_counter()
        self.state.set_trace(result.trace, result.prepared)
        if self._new_model:
            # A newly opened model starts on its most telling view: cross-attention when it
            # has one, at its most focused head.
            self._new_model = False
            kind = "cross" if "cross" in result.trace.kinds else result.trace.kinds[0]
            layer, head = self.state.sharpest_head(kind)
            self.state.select(kind=kind, layer=layer, head=head, query=0)
        self._show_availability(result.trace.architecture)
        self._staged = StagedPaint(result, self._plan_paint(), (time.perf_counter() - start) * 1000)
        self._paint_next_stage()

    def _paint_next_stage(self) -> None:
        """Paint one panel of the newest trace, then let the event loop draw it before the next.

        One panel per turn of the event loop keeps the GUI thread's longest stall to one
        panel's conversion and drawing instead of the whole window's, so typing and the
        other panels stay responsive while a long trace is shown.
        """
        staged = self._staged
        if staged is None:
            return
        if staged.panels:
            start = time.perf_counter()
            self._paint_panel(staged.panels.pop(0))
            staged.paint_ms += (time.perf_counter() - start) * 1000
            self._stage_timer.start()
            return
        self._staged = None
        self._finish_trace(staged.result, staged.paint_ms)

    def _finish_trace(self, result: TraceResult, paint_ms: float) -> None:
        """Every showing panel shows ``result``: record it and say so."""
        trace = result.trace
        self.painted = result
        self.last_timings = {"tokenise": result.tokenise_ms, "forward": result.forward_ms, "paint": paint_ms}
        self.timings_label.setText(
            f"tokenise {result.tokenise_ms:.1f} ms · forward {result.forward_ms:.1f} ms · paint {paint_ms:.1f} ms"
        )
        counts = []
        if trace.encoder is not None:
            counts.append(f"{len(trace.encoder)} source")
        if trace.decoder is not None:
            counts.append(f"{len(trace.decoder)} {'generated' if trace.generated else 'target'}")
        self.tokens_label.setText(" · ".join(counts) + " tokens")
        self.trace_painted.emit(result)

    def _on_trace_failed(self, _request_id: int, reason: str) -> None:
        self.statusBar().showMessage(f"Could not run the model: {reason}", 10000)

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

    # -- painting -------------------------------------------------------------------------------
    def paint(self) -> None:
        """Repaint every showing panel from the state; hidden ones catch up when shown.

        A panel whose dock is closed or tabbed away is not drawn (converting and drawing
        it would only cost time on the GUI thread); it is marked stale and repainted from
        the state when its dock becomes visible again. Before the window is first shown
        every panel is painted, so a window built without being shown is complete.
        """
        if self.state.trace is None:
            return
        for name in self._plan_paint():
            self._paint_panel(name)
        staged, self._staged = self._staged, None
        if staged is not None:
            # A trace still being painted panel by panel is now shown everywhere.
            self._finish_trace(staged.result, staged.paint_ms)

    def _plan_paint(self) -> list[str]:
        """Update the selection bar; the panels to paint now (the others are marked stale)."""
        selection = self.state.selection
        self.selection_bar.show_selection(selection, self.state.kinds, self.state.n_layers, self.state.n_heads)
        showing = []
        for name in self.docks:
            if self.panel_showing(name):
                showing.append(name)
            else:
                self.stale_panels.add(name)
        return showing

    def panel_showing(self, name: str) -> bool:
        """Whether the dock of panel or mode ``name`` is on screen (always, before the window shows)."""
        # A dock tabbed away stays isVisible(); only its visibilityChanged says it is not shown.
        return not self.isVisible() or (self.docks[name].isVisible() and self._dock_shown[name])

    def _on_dock_visibility_changed(self, name: str, visible: bool) -> None:
        self._dock_shown[name] = visible
        if visible and name in self.stale_panels and self.state.trace is not None:
            self._paint_panel(name)

    def _paint_panel(self, name: str) -> None:
        self.stale_panels.discard(name)
        self.panel_paints[name] += 1
        if name in self.modes:
            self.modes[name].paint()
            return
        {
            "input": self._paint_tokens,
            "grid": self._paint_grid,
            "head": self._paint_head,
            "distribution": self._paint_distribution,
            "cross": self._paint_cross,
        }[name]()

    def _paint_tokens(self) -> None:
        trace, selection = self.state.trace, self.state.selection
        query_side = KIND_AXES[selection.kind][0]
        rows = []
        if trace.encoder is not None:
            rows.append(("encoder", "source", trace.encoder))
        if trace.decoder is not None:
            heading = "text" if trace.encoder is None else ("generated" if trace.generated else "target")
            rows.append(("decoder", heading, trace.decoder))
        self.input_panel.show_tokens(rows, (query_side, selection.query), list(trace.notices))

    def _paint_grid(self) -> None:
        state, selection = self.state, self.state.selection
        grid_title = f"{kind_title(selection.kind)} · {'probabilities' if selection.values == 'weights' else 'raw scores'}"
        self.grid.show_grid(
            state.grid(),
            state.grid_means() if selection.show_mean_column else None,
            state.levels(),
            selection.colormap,
            (selection.layer, -1 if selection.head is None else selection.head),
            grid_title,
        )

    def _paint_head(self) -> None:
        state, selection = self.state, self.state.selection
        query_axis, key_axis = state.axes()
        self.head_detail.show_head(
            state.title(),
            selection.values,
            state.head_matrix(values="weights"),
            state.head_matrix(values="scores"),
            query_axis.tokens,
            key_axis.tokens,
            state.levels(),
            selection.colormap,
            selection.query,
            query_axis.special,
            key_axis.special,
        )

    def _paint_distribution(self) -> None:
        state, selection = self.state, self.state.selection
        query_axis = state.axes()[0]
        query_token = query_axis.tokens[selection.query] if len(query_axis) else ""
        self.distribution.show_distribution(
            f"query {selection.query} {query_token!r} · {state.title()}", state.distribution(), selection.temperature
        )

    def _paint_cross(self) -> None:
        state, trace, selection = self.state, self.state.trace, self.state.selection
        if "cross" not in trace.kinds:
            return
        query_side = KIND_AXES[selection.kind][0]
        cross_maps = trace.attention["cross"]
        layer = min(selection.layer, cross_maps.n_layers - 1)
        head = selection.head
        head_text = "mean over heads" if head is None else f"head {head}"
        decoder_axis, encoder_axis = state.axes("cross")  # the encoder axis without hidden special tokens
        self.cross.show_cross(
            f"layer {layer} · {head_text}",
            state.head_matrix(kind="cross", layer=layer, head=head),
            state.head_matrix(kind="cross", layer=layer, head=head, values="weights"),
            decoder_axis.tokens,
            encoder_axis.tokens,
            decoder_axis.special,
            encoder_axis.special,
            state.levels(kind="cross"),
            selection.colormap,
            selection.query if query_side == "decoder" else None,
        )

    def _show_availability(self, architecture: str | None, reason: str | None = None) -> None:
        availability = panel_availability(architecture)
        for name in ("grid", "head", "distribution", "cross"):
            entry = availability[name]
            self.containers[name].set_available(entry.enabled, reason or entry.reason)
            self.docks[name].setWindowTitle(PANEL_TITLES[name] + ("" if entry.enabled else " (not available)"))
        if architecture is not None and availability["cross"].enabled != self._cross_has_room:
            self._cross_has_room = availability["cross"].enabled
            # A disabled cross-attention panel keeps its one-line reason in a narrow
            # strip and gives its width to the head detail; it gets it back when it applies.
            share = 0.53 if availability["cross"].enabled else 0.14
            total = self.docks["head"].width() + self.docks["cross"].width()
            self.resizeDocks(
                [self.docks["head"], self.docks["cross"]],
                [int(total * (1 - share)), int(total * share)],
                Qt.Orientation.Horizontal,
            )

    # -- analysis modes ------------------------------------------------------------------------------
    def _on_analysis_answer(self, topic: str, value: object, failed: bool) -> None:
        name, _, sub_topic = topic.partition("/")
        if name in self.modes:
            self.modes[name].answered(sub_topic, value, failed)

    def _on_mode_settled(self) -> None:
        if not self.modes_busy():
            self.modes_settled.emit()

    def modes_busy(self) -> bool:
        """Whether any analysis mode still waits for the worker."""
        return any(mode.busy for mode in self.modes.values())

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
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        return isinstance(state, QByteArray) and not state.isEmpty() and self.restoreState(state)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._sized:
            # Dock sizes only stick once the window has its real size.
            self._sized = True
            self._apply_default_sizes()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.settings.set_value("window/geometry", self.saveGeometry())
        self.settings.set_value("window/state", self.saveState())
        self.settings.sync()
        self.controller.stop()
        super().closeEvent(event)
