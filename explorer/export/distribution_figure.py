"""The softmax distribution chart: one query row's probabilities over key tokens, raw scores beside them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from .. import colormaps
from ..core.numeric import probability_axis_end
from ..token_labels import display_token
from .canvas import (
    AXIS_TITLE_FONT,
    LABEL_FONT,
    page,
    TICK_LENGTH,
    Figure,
    TokenAxisLabels,
    draw_text,
    font,
    line_height,
    text_width,
)
from .request import FigureRequest, figure_view
from .ticks import format_number, nice_ticks
from .titles import titled_figure

BAR_AREA_WIDTH = 320.0
CHART_HEIGHT = 560.0
MAX_ROW_PITCH = 16.0
COLUMN_GAP = 10.0
TOP_COUNT = 3
# Marks the model's own probabilities when the temperature differs from 1, as the panel does.
MODEL_MARK = QColor(214, 39, 40)
# The probability axis ends at the first of these at or above the largest bar, so a flat
# distribution over hundreds of keys is still visible.


def distribution_figure(request: FigureRequest) -> Figure:
    """Horizontal bars, one per key token: softmax(scores / temperature) of the query row."""
    row = figure_view(request)  # the distribution panel's DistributionView
    n_keys = len(row.probabilities)
    pitch = min(MAX_ROW_PITCH, CHART_HEIGHT / n_keys)
    top_keys = [int(k) for k in np.argsort(-row.probabilities, kind="stable")[:TOP_COUNT] if row.probabilities[k] > 0]
    # The largest bars always get their label and numbers, however many keys are thinned out.
    labels = TokenAxisLabels.build(row.keys, row.special, pitch, priority=top_keys)
    label_font, header_font = font(LABEL_FONT), font(AXIS_TITLE_FONT)
    probability_texts = [f"{p:.3f}" for p in row.probabilities]
    score_texts = [format_number(s) for s in row.scores]
    shown = labels.shown
    probability_width = max(text_width(label_font, probability_texts[i]) for i in shown) + COLUMN_GAP
    score_width = (
        max(max(text_width(label_font, score_texts[i]) for i in shown), text_width(header_font, "score")) + COLUMN_GAP
    )
    probability_width = max(probability_width, text_width(header_font, "p") + COLUMN_GAP)
    retempered = abs(row.temperature - 1.0) > 1e-9
    largest = max(row.probabilities.max(initial=0.0), row.model_probabilities.max(initial=0.0) if retempered else 0.0)
    axis_end = probability_axis_end(largest)
    header_height = line_height(header_font) + 4
    bars_left = labels.extent
    bars_top = header_height + max(0.0, line_height(label_font) - pitch) / 2
    chart_height = n_keys * pitch
    axis_label_height = line_height(label_font) + TICK_LENGTH + 2
    content_width = bars_left + BAR_AREA_WIDTH + COLUMN_GAP + probability_width + score_width
    content_height = bars_top + chart_height + axis_label_height + 4 + line_height(header_font) * 2 + 4
    r, g, b = colormaps.colour_of(request.colormap, 0.35, 0.0, 1.0)
    bar_colour = QColor(r, g, b)
    summary = f"entropy {row.entropy_bits:.3f} bits · top {len(top_keys)}: " + ", ".join(
        f"“{display_token(row.keys[k])}” {row.probabilities[k]:.3f}" for k in top_keys
    )
    shows = f"bars: softmax(scores / T), T = {row.temperature:g}"
    if row.head is None:
        shows += ", mean over heads"
    if retempered:
        shows += " · red: the model's softmax (T = 1)"

    def paint(painter: QPainter, left: float, top: float) -> None:
        x0, y0 = left + bars_left, top + bars_top
        probability_left = x0 + BAR_AREA_WIDTH + COLUMN_GAP
        score_left = probability_left + probability_width
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        draw_text(painter, QRectF(left, top, labels.extent - 4, header_height), "key", header_font, right)
        draw_text(
            painter,
            QRectF(probability_left, top, probability_width - COLUMN_GAP, header_height),
            "p",
            header_font,
            right,
        )
        draw_text(
            painter, QRectF(score_left, top, score_width - COLUMN_GAP, header_height), "score", header_font, right
        )
        for key, probability in enumerate(row.probabilities):
            if probability > 0:
                bar = QRectF(x0, y0 + key * pitch + pitch * 0.1, BAR_AREA_WIDTH * probability / axis_end, pitch * 0.8)
                painter.fillRect(bar, bar_colour)
        if retempered:
            painter.setPen(QPen(MODEL_MARK, max(0.8, min(1.5, pitch * 0.15))))
            for key, probability in enumerate(row.model_probabilities):
                if probability <= 0:
                    continue
                x = x0 + BAR_AREA_WIDTH * probability / axis_end
                painter.drawLine(QPointF(x, y0 + key * pitch), QPointF(x, y0 + (key + 1) * pitch))
        for key in shown:
            centre = y0 + (key + 0.5) * pitch
            painter.setPen(QPen(page().frame, 0.5))
            painter.drawLine(QPointF(x0 - TICK_LENGTH, centre), QPointF(x0, centre))
            rect = QRectF(left, centre - pitch / 2 - 10, labels.extent - 4, pitch + 20)
            draw_text(painter, rect, labels.labels[key], labels.label_font(key), right, labels.colour(key))
            masked_key = not np.isfinite(row.scores[key])
            colour = page().muted if masked_key else page().ink
            draw_text(
                painter,
                QRectF(probability_left, centre - 10, probability_width - COLUMN_GAP, 20),
                probability_texts[key],
                label_font,
                right,
                colour,
            )
            draw_text(
                painter,
                QRectF(score_left, centre - 10, score_width - COLUMN_GAP, 20),
                score_texts[key],
                label_font,
                right,
                colour,
            )
        painter.setPen(QPen(page().frame, 0.6))
        painter.drawLine(QPointF(x0, y0), QPointF(x0, y0 + chart_height))
        painter.drawLine(QPointF(x0, y0 + chart_height), QPointF(x0 + BAR_AREA_WIDTH, y0 + chart_height))
        for tick in nice_ticks(0.0, axis_end, 5):
            x = x0 + BAR_AREA_WIDTH * tick / axis_end
            painter.setPen(QPen(page().frame, 0.5))
            painter.drawLine(QPointF(x, y0 + chart_height), QPointF(x, y0 + chart_height + TICK_LENGTH))
            draw_text(
                painter,
                QRectF(x - 30, y0 + chart_height + TICK_LENGTH + 1, 60, line_height(label_font)),
                format_number(tick),
                label_font,
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            )
        axis_title_top = y0 + chart_height + axis_label_height + 2
        draw_text(
            painter,
            QRectF(x0, axis_title_top, BAR_AREA_WIDTH, line_height(header_font)),
            "probability",
            header_font,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
        )
        draw_text(
            painter,
            QRectF(left, axis_title_top + line_height(header_font) + 4, content_width, line_height(header_font)),
            summary,
            header_font,
            colour=page().muted,
        )

    subtitle = f"{request.trace.model_name} · {shows}"
    return titled_figure(request, max(content_width, text_width(header_font, summary)), content_height, paint, subtitle)
