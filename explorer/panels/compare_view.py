"""The compare panel: input B and checkpoint B controls, A | B heatmaps on one colour scale,
the difference B − A on a diverging scale centred on 0, and the heads ranked by change.

The widget only draws what it is given (a ``CompareFrame`` or a one-line message) and
reports what the user did; the compare mode decides what to request and when.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .theme import plot_theme
from .. import colormaps
from ..analysis.compare import RANKINGS
from ..analysis.compare_job import CompareFrame, shorten
from ..core.numeric import display_values
from .heatmap import (
    MUTED,
    ClickableImage,
    label_token_axes,
    lookup,
    plain_label,
    style_plot,
    token_axes,
    token_label,
)

RANKING_TITLES = {"js_divergence_bits": "JS divergence", "mean_abs_difference": "mean |Δ|"}
COLOUR_A = "#1f5fbf"
COLOUR_B = "#b8321f"
COLOUR_BAR_WIDTH = 11
UPDATING = "updating…"


class TokenPlot:
    """One heatmap with token tick labels inside a shared ``GraphicsLayoutWidget``."""

    def __init__(self, view: pg.GraphicsLayoutWidget, row: int, col: int, title: str, colour: str | None = None) -> None:
        self.plot: pg.PlotItem = view.addPlot(row=row, col=col, axisItems=token_axes())
        style_plot(self.plot)
        self.plot.setTitle(f"<b>{title}</b>", color=colour or plot_theme().foreground, size="9pt")
        self.image = ClickableImage()
        self.plot.addItem(self.image)
        self.matrix: np.ndarray | None = None
        self._query_labels: list[str] = []
        self._key_labels: list[str] = []
        self._special: set[str] = set()
        self.plot.getViewBox().sigResized.connect(self.update_ticks)

    def show(self, matrix: np.ndarray, query_axis, key_axis, levels: tuple[float, float]) -> None:
        self.matrix = matrix
        rows, columns = matrix.shape
        self.image.setImage(display_values(matrix), autoLevels=False, levels=levels)
        self.image.setRect(0, 0, columns, rows)
        self.plot.setRange(xRange=(0, columns), yRange=(0, rows), padding=0.0)
        self._query_labels = [token_label(token) for token in query_axis.tokens]
        self._key_labels = [token_label(token) for token in key_axis.tokens]
        self._special = {
            label
            for labels, axis in ((self._query_labels, query_axis), (self._key_labels, key_axis))
            for label, special in zip(labels, axis.special)
            if special
        }
        self.update_ticks()

    def update_ticks(self, *_: object) -> None:
        if self.matrix is not None:
            label_token_axes(self.plot, self.matrix.shape, self._query_labels, self._key_labels, self._special)

    def cell_at(self, scene_position: QPointF) -> tuple[int, int] | None:
        if self.matrix is None or not self.plot.sceneBoundingRect().contains(scene_position):
            return None
        point = self.plot.getViewBox().mapSceneToView(scene_position)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        rows, columns = self.matrix.shape
        return (row, column) if 0 <= row < rows and 0 <= column < columns else None


def _colour_bar(colormap: str) -> pg.ColorBarItem:
    bar = pg.ColorBarItem(interactive=False, width=COLOUR_BAR_WIDTH, colorMap=lookup(colormap))
    bar.getAxis("right").setTickFont(QFont(QFont().family(), 7))
    return bar


class CompareView(QWidget):
    """Controls, A | B and B − A heatmaps, the ranking of heads; or one line saying why not."""

    text_b_edited = Signal(str)
    checkpoint_requested = Signal()  # the "Second checkpoint…" button
    checkpoint_cleared = Signal()
    ranking_changed = Signal(str)  # one of RANKINGS
    head_clicked = Signal(int, int)  # layer, head
    menu_requested = Signal(QPoint)  # a right click anywhere on the panel, in global coordinates

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text_b = QLineEdit()
        self.text_b.setPlaceholderText("input B (empty: the same input as A)")
        self.text_b.setClearButtonEnabled(True)
        self.checkpoint_button = QPushButton("Second checkpoint…")
        self.checkpoint_button.setToolTip("Compare the same input on a second checkpoint of the same architecture")
        self.clear_button = QPushButton("Same model")
        self.clear_button.setToolTip("Forget checkpoint B: run B on the open model")
        self.clear_button.setEnabled(False)
        controls = QHBoxLayout()
        controls.addWidget(plain_label("B:"))
        controls.addWidget(self.text_b, 1)
        controls.addWidget(self.checkpoint_button)
        controls.addWidget(self.clear_button)

        self.title = plain_label()
        self.title.setStyleSheet("font-weight:600;")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # Shown while the comparison on screen is of an older input A than the window's.
        self.updating = plain_label(UPDATING)
        self.updating.setStyleSheet(f"color:{MUTED}; font-style: italic;")
        self.updating.setToolTip("Comparing the new input A; the comparison shown is of the previous one")
        self.updating.hide()
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.updating)
        self.label_a = plain_label()
        self.label_b = plain_label()
        self.label_a.setStyleSheet(f"color:{COLOUR_A};")
        self.label_b.setStyleSheet(f"color:{COLOUR_B};")
        for label in (self.label_a, self.label_b):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # A long input must not widen the dock; the tooltip holds the whole text.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.changes = plain_label()
        self.changes.setStyleSheet(f"color:{MUTED};")
        self.changes.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(self.label_a)
        names.addWidget(self.label_b)
        names.addWidget(self.changes)

        self.maps_view = pg.GraphicsLayoutWidget()
        self.maps_view.setBackground(plot_theme().background)
        self.plot_a = TokenPlot(self.maps_view, 0, 0, "A", COLOUR_A)
        self.plot_b = TokenPlot(self.maps_view, 0, 1, "B", COLOUR_B)
        self.bar = _colour_bar(colormaps.DEFAULT)
        self.bar.setImageItem([self.plot_a.image, self.plot_b.image])
        self.maps_view.addItem(self.bar, row=0, col=2)
        self.difference_view = pg.GraphicsLayoutWidget()
        self.difference_view.setBackground(plot_theme().background)
        self.plot_difference = TokenPlot(self.difference_view, 0, 0, "B − A")
        self.difference_bar = _colour_bar(colormaps.DIVERGING)
        self.difference_bar.setImageItem(self.plot_difference.image)
        self.difference_view.addItem(self.difference_bar, row=0, col=1)
        for view in (self.maps_view, self.difference_view):
            view.ci.setContentsMargins(2, 2, 2, 2)
            view.ci.setSpacing(4)

        self.ranking = QComboBox()
        for name in RANKINGS:
            self.ranking.addItem(RANKING_TITLES[name], name)
        self.ranking.setToolTip("How the heads are ranked: the most changed first")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["L", "H", "JS bits", "mean |Δ|"])
        self.table.horizontalHeaderItem(0).setToolTip("layer")
        self.table.horizontalHeaderItem(1).setToolTip("head")
        self.table.horizontalHeaderItem(2).setToolTip("Jensen–Shannon divergence of the rows, in bits, averaged over the queries")
        self.table.horizontalHeaderItem(3).setToolTip("mean absolute difference of the weights")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setToolTip("Heads ranked by how much they changed; click one to select it")
        ranking_box = QVBoxLayout()
        ranking_box.setContentsMargins(0, 0, 0, 0)
        ranking_header = QHBoxLayout()
        ranking_header.addWidget(plain_label("Rank by"))
        ranking_header.setSpacing(4)
        ranking_header.addWidget(self.ranking, 1)
        ranking_box.addLayout(ranking_header)
        ranking_box.addWidget(self.table, 1)
        ranking_holder = QWidget()
        ranking_holder.setLayout(ranking_box)
        ranking_holder.setFixedWidth(190)
        lower = QHBoxLayout()
        lower.setContentsMargins(0, 0, 0, 0)
        lower.addWidget(self.difference_view, 1)
        lower.addWidget(ranking_holder)
        maps_page = QWidget()
        maps_layout = QVBoxLayout(maps_page)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.addLayout(names)
        maps_layout.addWidget(self.maps_view, 1)
        maps_layout.addLayout(lower, 1)

        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet(f"color:{MUTED}; font-style: italic; padding: 12px;")
        self.pages = QStackedWidget()
        self.pages.addWidget(maps_page)
        self.pages.addWidget(self.message)
        self.readout = plain_label("Hover a cell to read A, B and B − A.")
        self.readout.setStyleSheet("font-family: monospace;")  # the palette's text colour: light or dark

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(controls)
        layout.addLayout(header)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.readout)

        self.frame: CompareFrame | None = None
        self._colormap = colormaps.DEFAULT
        self._rows: list[tuple[int, int]] = []  # (layer, head) of each table row
        self.text_b.textChanged.connect(self.text_b_edited)
        self.checkpoint_button.clicked.connect(self.checkpoint_requested)
        self.clear_button.clicked.connect(self.checkpoint_cleared)
        self.ranking.currentIndexChanged.connect(lambda _index: self.ranking_changed.emit(self.ranking.currentData()))
        self.table.cellClicked.connect(self._on_cell_clicked)
        # The plots would take a right click for themselves; every part asks for the panel's menu.
        for widget in (self, self.maps_view, self.difference_view, self.table):
            widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            widget.customContextMenuRequested.connect(
                lambda point, source=widget: self.menu_requested.emit(source.mapToGlobal(point))
            )
        self.maps_view.scene().sigMouseMoved.connect(lambda point: self._on_mouse_moved(point, (self.plot_a, self.plot_b)))
        self.difference_view.scene().sigMouseMoved.connect(lambda point: self._on_mouse_moved(point, (self.plot_difference,)))

    # -- showing ---------------------------------------------------------------------------
    @property
    def ranking_name(self) -> str:
        return self.ranking.currentData()

    def set_checkpoint(self, name: str | None) -> None:
        """Show which checkpoint B is (None: B runs on the open model)."""
        self.checkpoint_button.setText("Second checkpoint…" if name is None else f"B: {shorten(name, 24)}")
        self.checkpoint_button.setToolTip(
            "Compare the same input on a second checkpoint of the same architecture" if name is None else f"checkpoint B: {name}"
        )
        self.clear_button.setEnabled(name is not None)

    def set_updating(self, updating: bool) -> None:
        """Mark what is shown as about to be replaced (a muted note in the header)."""
        self.updating.setVisible(updating)

    @property
    def is_updating(self) -> bool:
        return not self.updating.isHidden()

    def show_message(self, text: str, title: str = "") -> None:
        """One line in place of the heatmaps (why there is nothing to compare)."""
        self.frame = None
        self.title.setText(title)
        self.message.setText(text)
        self.pages.setCurrentIndex(1)

    @property
    def message_text(self) -> str:
        return self.message.text() if self.pages.currentIndex() == 1 else ""

    def show_frame(self, frame: CompareFrame, colormap: str) -> None:
        self.frame = frame
        self.pages.setCurrentIndex(0)
        self.title.setText(frame.title)
        self.label_a.setText(f"A: {frame.label_a}")
        self.label_b.setText(f"B: {frame.label_b}")
        self.label_a.setToolTip(frame.label_a)
        self.label_b.setToolTip(frame.label_b)
        self.changes.setText(frame.changes)
        self.changes.setToolTip(frame.changes)
        self.changes.setVisible(bool(frame.changes))
        if colormap != self._colormap:
            self.bar.setColorMap(lookup(colormap))
            self._colormap = colormap
        self.plot_a.show(frame.a, *frame.axes_a, frame.levels)
        self.plot_b.show(frame.b, *frame.axes_b, frame.levels)
        self.bar.setLevels(frame.levels)
        self.plot_difference.show(frame.difference, *frame.axes_a, frame.difference_levels)
        self.difference_bar.setLevels(frame.difference_levels)
        self._fill_table(frame)

    def _fill_table(self, frame: CompareFrame) -> None:
        self.table.blockSignals(True)
        try:
            rows = [(head.layer, head.head) for head in frame.ranking]
            if rows != self._rows or self.table.rowCount() != len(rows):
                self.table.setRowCount(len(rows))
            for row, head in enumerate(frame.ranking):
                texts = (str(head.layer), str(head.head), f"{head.js_divergence_bits:.4f}", f"{head.mean_abs_difference:.4f}")
                for column, text in enumerate(texts):
                    item = self.table.item(row, column)
                    if item is None:
                        item = QTableWidgetItem()
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                        self.table.setItem(row, column, item)
                    item.setText(text)
            self._rows = rows
            selected = (frame.layer, frame.head)
            if selected in rows:
                self.table.selectRow(rows.index(selected))
                self.table.scrollToItem(self.table.item(rows.index(selected), 0))
            else:
                self.table.clearSelection()
        finally:
            self.table.blockSignals(False)

    def ranked_heads(self) -> list[tuple[int, int]]:
        """(layer, head) of the table's rows, top to bottom."""
        return list(self._rows)

    # -- user input ----------------------------------------------------------------------------
    def _on_cell_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._rows):
            self.head_clicked.emit(*self._rows[row])

    def readout_text(self, row: int, column: int) -> str:
        frame = self.frame
        if frame is None:
            return ""
        query_axis, key_axis = frame.axes_a
        return (
            f"query {row} {token_label(query_axis.tokens[row])!r} → key {column} {token_label(key_axis.tokens[column])!r}   "
            f"A {float(frame.a[row, column]):.3f}  B {float(frame.b[row, column]):.3f}  "
            f"B−A {float(frame.difference[row, column]):+.3f}"
        )

    def _on_mouse_moved(self, scene_position: QPointF, plots: tuple[TokenPlot, ...]) -> None:
        for plot in plots:
            cell = plot.cell_at(scene_position)
            if cell is not None:
                self.readout.setText(self.readout_text(*cell))
                return
