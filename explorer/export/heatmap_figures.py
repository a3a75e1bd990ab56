"""The head figure (one head or the mean as a heatmap), the cross figure (heatmap plus alignment)
and the aggregate figure (mean or max over heads, rollout or flow through layers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from model.trace import KIND_AXES, TokenAxis

from .. import colormaps
from .canvas import (
    AXIS_TITLE_FONT,
    LABEL_FONT,
    page,
    ColourBar,
    Figure,
    TokenAxisLabels,
    draw_column_labels,
    draw_frame,
    draw_rgb,
    draw_rotated_text,
    draw_row_labels,
    draw_text,
    font,
    line_height,
    text_width,
)
from ..core.viewport import TileRequest
from .raster import to_rgb
from ..analysis.aggregation import AGGREGATIONS
from .request import VALUE_TITLES, FigureRequest, aggregate_matrix, figure_axes, figure_view
from .titles import AXIS_NAMES, titled_figure

# The heatmap's longer side in points, and the largest cell: short inputs get big cells,
# 512 tokens still fit on a page.
HEATMAP_SIDE = 560.0
MAX_CELL = 28.0
MIN_COLOUR_BAR_HEIGHT = 160.0
COLOUR_BAR_GAP = 14.0
ALIGNMENT_GAP = 30.0
SOURCE_TITLE = "source (encoder)"
TARGET_TITLE = "target (decoder)"
LINES_LEGEND = "line width = weight"
# A head figure draws up to this many cells exactly (1,024 tokens a side); a larger
# region is max-pooled to FIGURE_SIDE cells a side.
FIGURE_EXACT_CELLS = 1024 * 1024
FIGURE_SIDE = 1024


def head_region(view, region: tuple[slice, slice] | None):
    """``(values, query axis, key axis, note)`` of a head figure: the region (None: the whole
    head) in exact cells up to ``FIGURE_EXACT_CELLS``, else max-pooled to ``FIGURE_SIDE``
    cells a side with position labels; ``note`` says which rows and keys, and any pooling."""
    queries, keys = view.shape
    rows, columns = region or (slice(0, queries), slice(0, keys))
    r0, r1, _ = rows.indices(queries)
    c0, c1, _ = columns.indices(keys)
    exact = (r1 - r0) * (c1 - c0) <= FIGURE_EXACT_CELLS
    out_shape = (r1 - r0, c1 - c0) if exact else (min(r1 - r0, FIGURE_SIDE), min(c1 - c0, FIGURE_SIDE))
    values = view.tile(TileRequest(slice(r0, r1), slice(c0, c1), out_shape))
    parts = []
    if region is not None:
        parts.append(f"rows {r0:,}–{r1 - 1:,}, keys {c0:,}–{c1 - 1:,}")
    if exact:
        query_axis, key_axis = _axis_part(view.query_axis, r0, r1), _axis_part(view.key_axis, c0, c1)
    else:
        parts.append(f"max-pooled to {values.shape[0]:,} × {values.shape[1]:,} cells")
        query_axis = _position_axis(r0, r1, values.shape[0])
        key_axis = _position_axis(c0, c1, values.shape[1])
    return values, query_axis, key_axis, " · ".join(parts)


def _axis_part(axis: TokenAxis, start: int, stop: int) -> TokenAxis:
    if (start, stop) == (0, len(axis)):
        return axis
    return TokenAxis(
        ids=np.asarray(axis.ids)[start:stop],
        tokens=list(axis.tokens[start:stop]),
        special=np.asarray(axis.special)[start:stop],
        padding=np.asarray(axis.padding)[start:stop],
    )


def _position_axis(start: int, stop: int, bins: int) -> TokenAxis:
    """Labels of a pooled axis: each bin's first token position."""
    starts = start + (np.arange(bins) * (stop - start)) // bins
    zeros = np.zeros(bins, dtype=bool)
    return TokenAxis(ids=starts.astype(np.int64), tokens=[str(int(p)) for p in starts], special=zeros, padding=zeros)


@dataclass
class HeatmapPanel:
    """A heatmap with token labels on both axes, axis titles and a colour bar, laid out in points."""

    rgb: np.ndarray  # (Q, K, 3) uint8
    cell: float
    rows: TokenAxisLabels
    columns: TokenAxisLabels
    row_title: str
    column_title: str
    colour_bar: ColourBar

    @classmethod
    def build(cls, request: FigureRequest) -> "HeatmapPanel":
        if request.figure == "aggregate":
            query_axis, key_axis = figure_axes(request)
            values = aggregate_matrix(request)
            # Every method's values lie in [0, 1], like probabilities.
            levels = request.levels or (0.0, 1.0)
            value_title = AGGREGATIONS[request.aggregate].value_title
            note = ""
        else:
            view = figure_view(request)  # the panel's HeadView or CrossView
            query_axis, key_axis = view.query_axis, view.key_axis
            levels = view.levels
            value_title = VALUE_TITLES[view.values]
            if request.figure == "head":
                values, query_axis, key_axis, note = head_region(view, request.region)
            else:
                values, note = view.matrix, ""
        cell = min(MAX_CELL, HEATMAP_SIDE / max(values.shape))
        query_side, key_side = KIND_AXES[request.kind]
        column_title = f"key: {AXIS_NAMES[key_side]}"
        return cls(
            rgb=to_rgb(values, request.colormap, levels),
            cell=cell,
            rows=TokenAxisLabels.build(query_axis.tokens, query_axis.special, cell),
            columns=TokenAxisLabels.build(key_axis.tokens, key_axis.special, cell),
            row_title=f"query: {AXIS_NAMES[query_side]}",
            column_title=f"{column_title} · {note}" if note else column_title,
            colour_bar=ColourBar(
                colormaps.lookup_table(request.colormap),
                levels,
                value_title,
                not np.isfinite(values).all(),
            ),
        )

    @property
    def map_size(self) -> tuple[float, float]:
        return self.rgb.shape[1] * self.cell, self.rgb.shape[0] * self.cell

    @property
    def map_offset(self) -> QPointF:
        """Where the heatmap's top-left corner sits relative to the panel's."""
        return QPointF(line_height(font(AXIS_TITLE_FONT)) + 4 + self.rows.extent, 0.0)

    @property
    def span(self) -> float:
        """Height of the colour bar, which the row title is centred on: the map's, or more for short maps."""
        return max(self.map_size[1], MIN_COLOUR_BAR_HEIGHT)

    @property
    def column_title_top(self) -> float:
        """Below the column labels and, for short maps, below the colour bar too."""
        return max(self.map_size[1] + self.columns.extent, self.span) + 4

    @property
    def width(self) -> float:
        map_width = self.map_size[0]
        # A title wider than a narrow map spreads evenly to both sides of it.
        title_half = text_width(font(AXIS_TITLE_FONT), self.column_title) / 2
        return self.map_offset.x() + max(
            map_width + COLOUR_BAR_GAP + self.colour_bar.extent, map_width / 2 + title_half
        )

    @property
    def height(self) -> float:
        return self.column_title_top + line_height(font(AXIS_TITLE_FONT))

    @property
    def map_rect(self) -> QRectF:
        """The cells' rectangle relative to the panel's top-left corner."""
        return QRectF(self.map_offset, QSizeF(*self.map_size))

    def paint(self, painter: QPainter, left: float, top: float) -> None:
        map_left, map_top = left + self.map_offset.x(), top
        map_width, map_height = self.map_size
        draw_rgb(painter, QRectF(map_left, map_top, map_width, map_height), self.rgb)
        draw_frame(painter, QRectF(map_left, map_top, map_width, map_height))
        draw_row_labels(painter, self.rows, map_top, map_left, self.cell)
        draw_column_labels(painter, self.columns, map_left, map_top + map_height, self.cell)
        axis_font = font(AXIS_TITLE_FONT)
        title_height = line_height(axis_font)
        row_title_width = text_width(axis_font, self.row_title)
        draw_rotated_text(
            painter,
            # The text runs upwards from the anchor, so the anchor sits half its length below the centre.
            QPointF(left + title_height / 2, map_top + self.span / 2 + row_title_width / 2),
            self.row_title,
            axis_font,
            row_title_width + 2,
            align_end=False,
        )
        draw_text(
            painter,
            QRectF(map_left, map_top + self.column_title_top, map_width, title_height),
            self.column_title,
            axis_font,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
        )
        self.colour_bar.paint(painter, map_left + map_width + COLOUR_BAR_GAP, map_top, self.span)


def head_figure(request: FigureRequest) -> Figure:
    """One head (or the mean over heads) as a heatmap: queries down, keys across."""
    panel = HeatmapPanel.build(request)
    return titled_figure(request, panel.width, panel.height, panel.paint, heatmap=panel.map_rect)


def aggregate_figure(request: FigureRequest) -> Figure:
    """The aggregation panel's map: mean or max over heads, or rollout or flow through layers."""
    panel = HeatmapPanel.build(request)
    return titled_figure(request, panel.width, panel.height, panel.paint, heatmap=panel.map_rect)


@dataclass
class AlignmentDrawing:
    """Source tokens on the left, target tokens on the right, a line per pair, thickness = weight.

    The target column shares the heatmap's row pitch, so each target token stands level
    with its heatmap row; the source column is spread over the same height.
    """

    weights: np.ndarray  # (Q target, K source)
    source: TokenAxisLabels
    target: TokenAxisLabels
    target_pitch: float
    source_pitch: float
    ink: QColor
    lines_width: float = 150.0
    # Lines below this weight would only add grey haze.
    min_weight: float = 0.02

    @classmethod
    def build(cls, request: FigureRequest, row_pitch: float) -> "AlignmentDrawing":
        view = figure_view(request)  # the cross-attention panel's CrossView
        weights, target_axis, source_axis = view.weights, view.query_axis, view.key_axis
        n_targets, n_sources = weights.shape
        source_pitch = row_pitch * n_targets / n_sources
        # A dark end of the map on a light page, a light end on a dark one.
        r, g, b = colormaps.colour_of(request.colormap, 0.75 if request.theme == "dark" else 0.25, 0.0, 1.0)
        return cls(
            weights=weights,
            source=TokenAxisLabels.build(source_axis.tokens, source_axis.special, source_pitch),
            target=TokenAxisLabels.build(target_axis.tokens, target_axis.special, row_pitch),
            target_pitch=row_pitch,
            source_pitch=source_pitch,
            ink=QColor(r, g, b),
        )

    @property
    def _column_widths(self) -> tuple[float, float]:
        header_font = font(AXIS_TITLE_FONT)
        return (
            max(self.source.extent, text_width(header_font, SOURCE_TITLE) + 4),
            max(self.target.extent, text_width(header_font, TARGET_TITLE) + 4),
        )

    @property
    def width(self) -> float:
        source_width, target_width = self._column_widths
        return source_width + self.lines_width + target_width

    @property
    def body_height(self) -> float:
        return self.weights.shape[0] * self.target_pitch

    @property
    def height(self) -> float:
        return max(self.body_height, MIN_COLOUR_BAR_HEIGHT) + 6 + line_height(font(AXIS_TITLE_FONT))

    def paint(self, painter: QPainter, left: float, top: float) -> None:
        source_width, target_width = self._column_widths
        lines_left = left + source_width
        lines_right = lines_left + self.lines_width
        source_y = [top + (index + 0.5) * self.source_pitch for index in range(self.weights.shape[1])]
        target_y = [top + (index + 0.5) * self.target_pitch for index in range(self.weights.shape[0])]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        max_line = min(6.0, min(self.source_pitch, self.target_pitch) * 0.8)
        # Faint lines first so strong ones stay on top.
        for flat in np.argsort(self.weights, axis=None, kind="stable"):
            target, source = np.unravel_index(flat, self.weights.shape)
            weight = float(self.weights[target, source])
            if not weight >= self.min_weight:
                continue
            colour = QColor(self.ink)
            colour.setAlphaF(0.25 + 0.75 * weight)
            pen = QPen(colour, max(0.3, weight * max_line))
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            painter.setPen(pen)
            painter.drawLine(QPointF(lines_left + 2, source_y[source]), QPointF(lines_right - 2, target_y[target]))
        painter.restore()
        label_height = line_height(font(LABEL_FONT))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        left_aligned = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        for index in self.source.shown:
            rect = QRectF(left, source_y[index] - label_height / 2, source_width - 4, label_height)
            draw_text(
                painter,
                rect,
                self.source.labels[index],
                self.source.label_font(index),
                right,
                self.source.colour(index),
            )
        for index in self.target.shown:
            rect = QRectF(lines_right + 4, target_y[index] - label_height / 2, target_width, label_height)
            draw_text(
                painter,
                rect,
                self.target.labels[index],
                self.target.label_font(index),
                left_aligned,
                self.target.colour(index),
            )
        header_font = font(AXIS_TITLE_FONT)
        header_top = top + max(self.body_height, MIN_COLOUR_BAR_HEIGHT) + 6
        header_height = line_height(header_font)
        draw_text(painter, QRectF(left, header_top, source_width - 4, header_height), SOURCE_TITLE, header_font, right)
        draw_text(
            painter,
            QRectF(lines_right + 4, header_top, target_width, header_height),
            TARGET_TITLE,
            header_font,
            left_aligned,
        )
        legend_rect = QRectF(lines_left, header_top, self.lines_width, header_height)
        centred = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter
        draw_text(painter, legend_rect, LINES_LEGEND, font(LABEL_FONT), centred, page().muted)


def cross_figure(request: FigureRequest) -> Figure:
    """Cross-attention: the heatmap, and beside it the source↔target alignment drawing."""
    panel = HeatmapPanel.build(request)
    # The lines always show probabilities, whatever the heatmap shows (the view's weights).
    alignment = AlignmentDrawing.build(request, panel.cell)
    content_width = panel.width + ALIGNMENT_GAP + alignment.width
    content_height = max(panel.height, alignment.height)

    def paint(painter: QPainter, left: float, top: float) -> None:
        panel.paint(painter, left, top)
        alignment.paint(painter, left + panel.width + ALIGNMENT_GAP, top)

    return titled_figure(request, content_width, content_height, paint, heatmap=panel.map_rect)
