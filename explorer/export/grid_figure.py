"""The overview grid: every layer × head of one attention kind as thumbnails on one colour scale."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter

from model.trace import KIND_AXES

from .. import colormaps
from .canvas import (
    AXIS_TITLE_FONT,
    ColourBar,
    Figure,
    TokenAxisLabels,
    draw_column_labels,
    draw_frame,
    draw_rgb,
    draw_row_labels,
    draw_text,
    font,
    line_height,
    text_width,
)
from .heatmap_figures import COLOUR_BAR_GAP
from .raster import block_maximum, to_rgb
from .request import VALUE_TITLES, FigureRequest, figure_view
from .titles import AXIS_NAMES, titled_figure

THUMB_FONT = 7
# The grid's total width in points that the thumbnails share, and their size limits.
GRID_WIDTH = 1100.0
MAX_THUMB = 150.0
MIN_THUMB = 48.0
MAX_THUMB_CELL = 8.0
THUMB_GAP = 6.0
MEAN_GAP = 14.0
# Thumbnails are downsampled to this many pixels per point, enough for the default 2× PNG.
PIXELS_PER_POINT = 2


def grid_figure(request: FigureRequest) -> Figure:
    """Every layer (rows) × head (columns), optionally with each layer's mean over heads.

    The thumbnails are the overview panel's (its ``GridView``): a long input shows the
    same max-pooled blocks in the figure as on screen.
    """
    view = figure_view(request)
    rows = [
        [view.thumbnails[layer, head] for head in range(view.thumbnails.shape[1])]
        + ([view.means[layer]] if view.means is not None else [])
        for layer in range(view.thumbnails.shape[0])
    ]
    levels = view.levels
    n_columns = len(rows[0])
    query_axis, key_axis = view.query_axis, view.key_axis
    n_queries, n_keys = len(query_axis), len(key_axis)
    thumb_side = min(MAX_THUMB, max(MIN_THUMB, GRID_WIDTH / n_columns))
    n_tokens = max(n_queries, n_keys)
    # Small cells for a few tokens, but never a thumbnail too small for its "head n" header.
    cell = min(thumb_side / n_tokens, max(MAX_THUMB_CELL, MIN_THUMB / n_tokens))
    thumb_width, thumb_height = n_keys * cell, n_queries * cell
    max_pixels = math.ceil(thumb_side * PIXELS_PER_POINT)
    thumbnails = []
    any_masked = False
    for row in rows:
        thumbnail_row = []
        for values in row:
            small = block_maximum(values, max_pixels)
            any_masked |= not np.isfinite(small).all()
            thumbnail_row.append(to_rgb(small, view.colormap, levels))
        thumbnails.append(thumbnail_row)

    row_labels = TokenAxisLabels.build(query_axis.tokens, query_axis.special, cell, THUMB_FONT)
    column_labels = TokenAxisLabels.build(key_axis.tokens, key_axis.special, cell, THUMB_FONT)
    header_font = font(AXIS_TITLE_FONT)
    header_height = line_height(header_font) + 4
    layer_names = [f"layer {layer}" for layer in range(len(rows))]
    head_names = [f"head {head}" for head in range(n_columns - (1 if (view.means is not None) else 0))]
    if (view.means is not None):
        head_names.append("mean")
    layer_label_width = max(text_width(header_font, name) for name in layer_names) + 8
    grid_left = layer_label_width + row_labels.extent
    column_lefts = [
        grid_left
        + column * (thumb_width + THUMB_GAP)
        + (MEAN_GAP if (view.means is not None) and column == n_columns - 1 else 0.0)
        for column in range(n_columns)
    ]
    row_tops = [header_height + row * (thumb_height + THUMB_GAP) for row in range(len(rows))]
    grid_right = column_lefts[-1] + thumb_width
    grid_bottom = row_tops[-1] + thumb_height
    axis_font = font(AXIS_TITLE_FONT)
    colour_bar = ColourBar(colormaps.lookup_table(view.colormap), levels, VALUE_TITLES[view.values], any_masked)
    bar_height = max(grid_bottom - header_height, 120.0)
    query_side, key_side = KIND_AXES[request.kind]
    axes_note = f"rows: query ({AXIS_NAMES[query_side]}) · columns: key ({AXIS_NAMES[key_side]})"
    if view.pooled or max(n_queries, n_keys) > max_pixels:
        axes_note += " · each pixel shows the largest value of its block of tokens"
    note_width = max(text_width(axis_font, axes_note), grid_right - grid_left)
    # Below the column labels and, for a short grid, below the colour bar too.
    note_top = max(grid_bottom + column_labels.extent, header_height + bar_height) + 4
    width = max(grid_right + COLOUR_BAR_GAP + colour_bar.extent, grid_left + note_width)
    height = note_top + line_height(axis_font)

    def paint(painter: QPainter, left: float, top: float) -> None:
        for column, name in enumerate(head_names):
            rect = QRectF(left + column_lefts[column], top, thumb_width, header_height)
            draw_text(painter, rect, name, header_font, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        for row, thumbnail_row in enumerate(thumbnails):
            row_top = top + row_tops[row]
            label_rect = QRectF(left, row_top, layer_label_width - 8, thumb_height)
            draw_text(
                painter,
                label_rect,
                layer_names[row],
                header_font,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            )
            for column, rgb in enumerate(thumbnail_row):
                rect = QRectF(left + column_lefts[column], row_top, thumb_width, thumb_height)
                draw_rgb(painter, rect, rgb)
                draw_frame(painter, rect)
            draw_row_labels(painter, row_labels, row_top, left + column_lefts[0], cell)
        for column in range(n_columns):
            draw_column_labels(painter, column_labels, left + column_lefts[column], top + grid_bottom, cell)
        draw_text(
            painter,
            QRectF(left + grid_left, top + note_top, note_width, line_height(axis_font)),
            axes_note,
            axis_font,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
        )
        colour_bar.paint(painter, left + grid_right + COLOUR_BAR_GAP, top + header_height, bar_height)

    return titled_figure(request, width, height, paint)
