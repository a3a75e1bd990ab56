"""The cross-attention panel: decoder × encoder heatmap and a source ↔ target alignment.

The alignment drawing puts the source (encoder) tokens in a column on the left and the
target (decoder) tokens on the right and joins them with lines whose thickness and
opacity follow the attention weight; the selected query token's lines are drawn in the
selection colour. It is painted directly with ``QPainter`` in one pass, so nothing is
created per token or per line.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from ..core.labels import alignment_priorities, labels_by_priority
from ..core.viewport import Viewport
from ..core.views import CrossView
from .heatmap import SELECTION_COLOUR, token_label
from .readout import Readout
from .theme import PlotTheme, plot_theme
from .token_heatmap import TokenHeatmap

LINE_COLOUR = QColor("#2f5d9e")
MAX_LINE_WIDTH = 7.0
# Lines below this weight are not drawn: they would only add grey haze.
MIN_DRAWN_WEIGHT = 0.04
MAX_DRAWN_LINES = 600
ROW_PIXELS = 16.0


class AlignmentView(QWidget):
    """Source tokens left, target tokens right, a line per (target, source) weight."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(180)
        self.setAutoFillBackground(True)
        self.set_theme(plot_theme())
        self.source: list[str] = []
        self.target: list[str] = []
        self.source_special: np.ndarray = np.zeros(0, dtype=bool)
        self.target_special: np.ndarray = np.zeros(0, dtype=bool)
        self.weights = np.zeros((0, 0), dtype=np.float32)  # (target, source)
        self.query: int | None = None
        self.drawn_labels: dict[bool, list[int]] = {False: [], True: []}  # target side? -> indices labelled
        self.updates = 0  # how often the drawing was asked to repaint; a regression test reads it


    def set_theme(self, theme: PlotTheme) -> None:
        """Paint on ``theme``'s background with its text colours (``theme.restyle``)."""
        self.theme = theme
        palette = self.palette()
        palette.setColor(self.backgroundRole(), QColor(theme.background))
        self.setPalette(palette)
        self.update()
    def set_alignment(
        self,
        source: list[str],
        target: list[str],
        weights: np.ndarray,
        query: int | None,
        source_special: np.ndarray | None = None,
        target_special: np.ndarray | None = None,
    ) -> None:
        source_labels = [token_label(token) for token in source]
        target_labels = [token_label(token) for token in target]
        source_special = np.zeros(len(source), dtype=bool) if source_special is None else source_special
        target_special = np.zeros(len(target), dtype=bool) if target_special is None else target_special
        weights = np.nan_to_num(np.asarray(weights, dtype=np.float32), nan=0.0, neginf=0.0)
        if (
            source_labels == self.source
            and target_labels == self.target
            and query == self.query
            and np.array_equal(source_special, self.source_special)
            and np.array_equal(target_special, self.target_special)
            and np.array_equal(weights, self.weights)
        ):
            return  # the same drawing: a selection change elsewhere need not redraw hundreds of lines
        self.source, self.target = source_labels, target_labels
        self.source_special, self.target_special = source_special, target_special
        self.weights = weights
        self.query = query
        self.updates += 1
        self.update()

    def strongest_lines(self) -> list[tuple[int, int, float]]:
        """(target, source, weight) of the lines drawn: above the threshold, strongest first."""
        if self.weights.size == 0:
            return []
        targets, sources = np.nonzero(self.weights >= MIN_DRAWN_WEIGHT)
        values = self.weights[targets, sources]
        order = np.argsort(-values, kind="stable")[:MAX_DRAWN_LINES]
        return [(int(targets[i]), int(sources[i]), float(values[i])) for i in order]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(self.theme.background))
        if not self.source or not self.target:
            painter.end()
            return
        font = QFont(self.font())
        rows = max(len(self.source), len(self.target))
        row_pixels = min(ROW_PIXELS * 1.6, max((self.height() - 24) / rows, 3.0))
        # Labels stay readable: a crowded column drops labels (by priority) rather than shrink them.
        font.setPointSizeF(max(min(row_pixels * 0.55, 10.0), 7.5))
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        label_width = min(max((metrics.horizontalAdvance(t) for t in self.source + self.target), default=10) + 8, self.width() / 3)
        left_x, right_x = label_width, self.width() - label_width
        top = 18.0
        painter.setPen(QColor(self.theme.muted))
        painter.drawText(QRectF(0, 0, label_width, 16), Qt.AlignmentFlag.AlignRight, "source")
        painter.drawText(QRectF(right_x, 0, label_width, 16), Qt.AlignmentFlag.AlignLeft, "target")

        def y_of(index: int, count: int) -> float:
            # Centre the shorter column against the longer one.
            offset = (rows - count) * row_pixels / 2
            return top + offset + (index + 0.5) * row_pixels

        for target_index, source_index, weight in reversed(self.strongest_lines()):
            selected = target_index == self.query
            colour = QColor(SELECTION_COLOUR) if selected else QColor(LINE_COLOUR)
            colour.setAlphaF(min(0.15 + 0.85 * weight, 1.0))
            pen = QPen(colour, max(MAX_LINE_WIDTH * weight, 0.6))
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            painter.setPen(pen)
            painter.drawLine(
                QPointF(left_x + 4, y_of(source_index, len(self.source))),
                QPointF(right_x - 4, y_of(target_index, len(self.target))),
            )
        source_priority, target_priority = alignment_priorities(self.weights, self.query)
        line = metrics.height()
        for labels, special, x, alignment, count, priority in (
            (self.source, self.source_special, 0.0, Qt.AlignmentFlag.AlignRight, len(self.source), source_priority),
            (self.target, self.target_special, right_x + 8, Qt.AlignmentFlag.AlignLeft, len(self.target), target_priority),
        ):
            # Too many tokens for every label: the selected token's and the strongest
            # links' labels are kept; the lines still show the rest.
            self.drawn_labels[x > 0] = shown = labels_by_priority(priority, row_pixels, line)
            for index in shown:
                label = metrics.elidedText(labels[index], Qt.TextElideMode.ElideRight, label_width - 8)
                is_query = x > 0 and index == self.query
                painter.setPen(QColor(SELECTION_COLOUR if is_query else self.theme.special if special[index] else self.theme.foreground))
                y = y_of(index, count)
                painter.drawText(
                    QRectF(x, y - line / 2, label_width - 8, line),
                    alignment | Qt.AlignmentFlag.AlignVCenter,
                    label,
                )
        painter.end()


# Cross-attention of more cells than this (1,024²) is drawn pooled, without lines.
POOLED_CELLS = 1024 * 1024
POOLED_SIDE = 512


class CrossAttentionPanel(QWidget):
    """Title, heatmap (decoder rows × encoder columns) and the alignment drawing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = Readout()
        self.title.setStyleSheet("font-weight:600;")
        self.heatmap = TokenHeatmap()
        self.heatmap.plot.setLabel("left", "target (decoder)")
        self.heatmap.plot.setLabel("bottom", "source (encoder)")
        self.alignment = AlignmentView()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.heatmap)
        splitter.addWidget(self.alignment)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)
        self.shown: CrossView | None = None

    def show(self, view: CrossView) -> None:
        """The heatmap shows the view's probabilities or scores; the lines its probabilities.

        Beyond ``POOLED_CELLS`` the heatmap is the whole head max-pooled (labelled by token
        position) and no lines are drawn; the title says so.
        """
        self.shown = view
        decoder, encoder = view.query_axis, view.key_axis
        queries, keys = view.shape
        if queries * keys > POOLED_CELLS:
            request = Viewport.whole(queries, keys).request(POOLED_SIDE, POOLED_SIDE, exact_cells=0)
            tile = view.tile(request)
            self.title.setText(f"{view.title} · max-pooled to {tile.shape[0]:,} × {tile.shape[1]:,}: too long for every cell and line")
            rows = [str(queries * i // tile.shape[0]) for i in range(tile.shape[0])]
            columns = [str(keys * i // tile.shape[1]) for i in range(tile.shape[1])]
            self.heatmap.show_matrix(tile, rows, columns, view.levels, view.colormap, None)
            self.alignment.set_alignment([], [], np.zeros((0, 0), dtype=np.float32), None, np.zeros(0, bool), np.zeros(0, bool))
            return
        self.title.setText(view.title)
        self.heatmap.show_matrix(
            view.matrix, decoder.tokens, encoder.tokens, view.levels, view.colormap, view.query, decoder.special, encoder.special
        )
        self.alignment.set_alignment(encoder.tokens, decoder.tokens, view.weights, view.query, encoder.special, decoder.special)
