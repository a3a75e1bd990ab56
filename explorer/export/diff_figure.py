"""The diff figure: A, B and B − A of one attention kind, layer and head, side by side.

A and B share one colour bar (the sequential map, over the extent of both), the
difference has its own on the diverging map, symmetric about 0, so white means "no
change". Token labels run along every map, since B's tokens may differ from A's (two
inputs of the same length). Painted with QPainter in points like every other figure and
written as PNG, SVG or PDF through the same writers, atomically.

    from explorer.export.diff_figure import export_diff_figure
    export_diff_figure(trace_a, trace_b, "cross", 1, 2, "diff.pdf", labels=("checkpoint 500", "checkpoint 4000"))
"""

from __future__ import annotations

import os
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter

from model.trace import KIND_AXES, KIND_TITLES, TokenAxis, Trace

from .. import colormaps
from ..analysis.compare import check_comparable, difference_levels, shared_levels
from ..analysis.compare_job import head_pair
from .canvas import (
    AXIS_TITLE_FONT,
    ColourBar,
    Figure,
    TokenAxisLabels,
    draw_column_labels,
    draw_frame,
    draw_rgb,
    draw_rotated_text,
    draw_row_labels,
    draw_text,
    ensure_application,
    font,
    line_height,
    text_width,
)
from .raster import to_rgb
from .request import PAGE_THEMES
from .titles import AXIS_NAMES, page_figure
from .writers import DEFAULT_SCALE, image_format, write_figure

# Each of the three maps' longer side, in points, and the largest cell.
MAP_SIDE = 300.0
MAX_CELL = 24.0
MIN_COLOUR_BAR_HEIGHT = 140.0
MAP_GAP = 18.0
GROUP_GAP = 30.0
BAR_GAP = 10.0
CAPTION_GAP = 4.0
WEIGHT_TITLE = "attention weight"
DIFFERENCE_TITLE = "B − A"


@dataclass(frozen=True)
class DiffMatrices:
    """The three matrices of the figure and their token axes (special keys hidden if asked)."""

    a: np.ndarray  # (Q, K)
    b: np.ndarray  # (Q, K)
    difference: np.ndarray  # (Q, K) b − a
    axes_a: tuple[TokenAxis, TokenAxis]
    axes_b: tuple[TokenAxis, TokenAxis]


def diff_matrices(
    trace_a: Trace, trace_b: Trace, kind: str, layer: int, head: int | None, hide_special: bool = False
) -> DiffMatrices:
    """The ``(Q, K)`` weights of A and B at ``layer``/``head`` (None: the mean over heads) and B − A.

    Raises ``ValueError`` (``ComparisonError`` for traces that cannot be compared) with one
    sentence naming the valid choices.
    """
    # Only the shapes are checked: the figure needs no statistics, and the one head is
    # subtracted below.
    n_layers, n_heads = check_comparable(trace_a, trace_b, kind, same_tokens=False)
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: {KIND_TITLES[kind]} has layers 0–{n_layers - 1}")
    if head is not None and not 0 <= head < n_heads:
        raise ValueError(f"head {head} is out of range: this model has heads 0–{n_heads - 1} (or the mean over heads)")
    a, b, axes_a, axes_b = head_pair(trace_a, trace_b, kind, layer, head, hide_special)
    return DiffMatrices(a, b, b - a, axes_a, axes_b)


@dataclass
class MapBlock:
    """One captioned heatmap with row labels on its left and column labels below."""

    caption: str
    rgb: np.ndarray  # (Q, K, 3) uint8
    cell: float
    rows: TokenAxisLabels
    columns: TokenAxisLabels

    @classmethod
    def build(cls, caption: str, values: np.ndarray, axes: tuple[TokenAxis, TokenAxis], colormap: str,
              levels: tuple[float, float], cell: float) -> "MapBlock":
        query_axis, key_axis = axes
        return cls(
            caption,
            to_rgb(values, colormap, levels),
            cell,
            TokenAxisLabels.build(query_axis.tokens, query_axis.special, cell),
            TokenAxisLabels.build(key_axis.tokens, key_axis.special, cell),
        )

    @property
    def map_size(self) -> tuple[float, float]:
        return self.rgb.shape[1] * self.cell, self.rgb.shape[0] * self.cell

    @property
    def width(self) -> float:
        return self.rows.extent + self.map_size[0]

    @property
    def caption_height(self) -> float:
        return line_height(font(AXIS_TITLE_FONT, bold=True)) + CAPTION_GAP

    def paint(self, painter: QPainter, left: float, top: float) -> None:
        """``top`` is the top of the maps; the caption sits above it."""
        map_left = left + self.rows.extent
        map_width, map_height = self.map_size
        caption_font = font(AXIS_TITLE_FONT, bold=True)
        draw_text(
            painter,
            QRectF(map_left, top - self.caption_height, map_width, line_height(caption_font)),
            self.caption,
            caption_font,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
        )
        rect = QRectF(map_left, top, map_width, map_height)
        draw_rgb(painter, rect, self.rgb)
        draw_frame(painter, rect)
        draw_row_labels(painter, self.rows, top, map_left, self.cell)
        draw_column_labels(painter, self.columns, map_left, top + map_height, self.cell)


def diff_figure(
    trace_a: Trace,
    trace_b: Trace,
    kind: str,
    layer: int,
    head: int | None,
    labels: tuple[str, str] = ("A", "B"),
    colormap: str = colormaps.DEFAULT,
    hide_special: bool = False,
) -> Figure:
    """Lay out the figure of A, B and B − A (see the module docstring); raises ``ValueError``.

    The figure's ``heatmap`` is the rectangle of the difference map's cells.
    """
    if kind not in KIND_AXES:
        raise ValueError(f"unknown attention kind {kind!r}; choose one of {', '.join(KIND_AXES)}")
    colormaps.colormap(colormap)  # an unknown name is a ValueError naming the maps
    matrices = diff_matrices(trace_a, trace_b, kind, layer, head, hide_special)
    ensure_application()  # fonts need a GUI application
    levels = shared_levels(matrices.a, matrices.b)
    change_levels = difference_levels(matrices.difference)
    cell = min(MAX_CELL, MAP_SIDE / max(matrices.a.shape))
    blocks = [
        MapBlock.build("A", matrices.a, matrices.axes_a, colormap, levels, cell),
        MapBlock.build("B", matrices.b, matrices.axes_b, colormap, levels, cell),
        MapBlock.build(DIFFERENCE_TITLE, matrices.difference, matrices.axes_a, colormaps.DIVERGING, change_levels, cell),
    ]
    weight_bar = ColourBar(colormaps.lookup_table(colormap), levels, WEIGHT_TITLE, False)
    change_bar = ColourBar(colormaps.lookup_table(colormaps.DIVERGING), change_levels, DIFFERENCE_TITLE, False)

    query_side, key_side = KIND_AXES[kind]
    axis_font = font(AXIS_TITLE_FONT)
    row_title, column_title = f"query: {AXIS_NAMES[query_side]}", f"key: {AXIS_NAMES[key_side]}"
    row_title_room = line_height(axis_font) + 4
    map_height = blocks[0].map_size[1]
    span = max(map_height, MIN_COLOUR_BAR_HEIGHT)
    # Left to right: row title, A, B, the shared bar, then B − A and its bar.
    lefts: list[float] = []
    x = row_title_room
    for index, block in enumerate(blocks):
        lefts.append(x)
        x += block.width
        if index == 0:
            x += MAP_GAP
        elif index == 1:
            weight_bar_left = x + BAR_GAP
            x = weight_bar_left + weight_bar.extent + GROUP_GAP
        else:
            change_bar_left = x + BAR_GAP
            x = change_bar_left + change_bar.extent
    content_width = x
    caption_height = blocks[0].caption_height
    column_labels = max(block.columns.extent for block in blocks)
    column_title_top = caption_height + max(map_height + column_labels, span) + 4
    content_height = column_title_top + line_height(axis_font)

    head_text = "mean over heads" if head is None else f"head {head}"
    kind_title = KIND_TITLES[kind][0].upper() + KIND_TITLES[kind][1:]
    title = f"{kind_title} · layer {layer}, {head_text} · A, B and B − A"
    subtitle = f"A: {labels[0]}   ·   B: {labels[1]}"
    if trace_a.model_name not in labels[0]:
        # Two inputs on one model: say which model; two checkpoints are named by their labels.
        subtitle += f"   ·   {trace_a.model_name}"
        if trace_b.model_name != trace_a.model_name:
            subtitle += f" / {trace_b.model_name}"
    def paint_content(painter: QPainter, content_left: float, content_top: float) -> None:
        maps_top = content_top + caption_height
        for left, block in zip(lefts, blocks):
            block.paint(painter, content_left + left, maps_top)
            map_left = content_left + left + block.rows.extent
            draw_text(
                painter,
                QRectF(map_left, content_top + column_title_top, block.map_size[0], line_height(axis_font)),
                column_title,
                axis_font,
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
            )
        weight_bar.paint(painter, content_left + weight_bar_left, maps_top, span)
        change_bar.paint(painter, content_left + change_bar_left, maps_top, span)
        row_title_width = text_width(axis_font, row_title)
        draw_rotated_text(
            painter,
            QPointF(content_left + line_height(axis_font) / 2, maps_top + span / 2 + row_title_width / 2),
            row_title,
            axis_font,
            row_title_width + 2,
            align_end=False,
        )

    difference_map = QRectF(lefts[2] + blocks[2].rows.extent, caption_height, *blocks[2].map_size)
    return page_figure(title, subtitle, content_width, content_height, paint_content, difference_map)


def export_diff_figure(
    trace_a: Trace,
    trace_b: Trace,
    kind: str,
    layer: int,
    head: int | None,
    path: str | os.PathLike,
    labels: tuple[str, str] = ("A", "B"),
    colormap: str = colormaps.DEFAULT,
    scale: float = DEFAULT_SCALE,
    hide_special: bool = False,
    theme: str = "light",
) -> Path:
    """Write the diff figure to ``path`` (.png, .svg or .pdf, from the extension), atomically.

    Args:
        trace_a, trace_b: the two traces; ``kind`` must have the same layers, heads and
            token counts in both (tokens may differ).
        layer, head: which head; ``head=None`` shows the mean over heads.
        labels: what A and B are (input texts, checkpoint names), for the subtitle.
        colormap: the sequential map of A and B; the difference always uses the diverging map.
        scale: PNG pixels per point; SVG and PDF ignore it.
        hide_special: hide special and padding key columns, renormalising the rows first.
        theme: the page, ``"light"`` or ``"dark"``.

    Raises ``ValueError`` for what cannot be drawn (``ComparisonError`` for traces that
    cannot be compared) and ``OSError`` when the file cannot be written; an existing file
    is then left as it was.
    """
    image_format(path)  # refuses an unknown extension before anything is drawn
    if theme not in PAGE_THEMES:
        raise ValueError(f"unknown theme {theme!r}; choose one of {', '.join(PAGE_THEMES)}")
    figure = diff_figure(trace_a, trace_b, kind, layer, head, labels, colormap, hide_special)
    return write_figure(dataclasses.replace(figure, theme=theme), path, scale)
