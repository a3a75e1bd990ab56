"""The words on a figure (title lines, axis names) and the titled frame every figure sits in."""

from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter

from model.trace import KIND_TITLES

from ..analysis.aggregation import AGGREGATIONS
from ..token_labels import display_token
from .canvas import Figure, draw_titles, page, titles_height, titles_width
from .request import VALUE_TITLES, FigureRequest, aggregate_title, figure_axes, head_title

MARGIN = 14.0
TITLE_GAP = 12.0
AXIS_NAMES = {"encoder": "encoder tokens", "decoder": "decoder tokens"}


def title_of(request: FigureRequest) -> str:
    """The figure's first title line: attention kind, layer and head."""
    kind = KIND_TITLES[request.kind]
    kind = kind[0].upper() + kind[1:]
    if request.figure == "grid":
        return f"{kind} · every layer and head"
    if request.figure == "aggregate":
        return f"{kind} · {aggregate_title(request)}"
    if request.figure == "distribution":
        query_axis, _ = request.trace.axes(request.kind)
        token = display_token(query_axis.tokens[request.query])
        return f"{kind} · {head_title(request)} · query {request.query} “{token}”"
    return f"{kind} · {head_title(request)}"


def subtitle_of(request: FigureRequest, shows: str | None = None) -> str:
    """The second title line: the model, what the colours show and how the decoder side came about."""
    if shows is None:
        shows = AGGREGATIONS[request.aggregate].detail if request.figure == "aggregate" else VALUE_TITLES[request.values]
    parts = [request.trace.model_name, shows]
    if _hides_keys(request):
        parts.append("special tokens hidden")
    excluded = getattr(request.view, "excluded_keys", ()) if request.figure in ("head", "cross") else ()
    if request.figure == "head" and request.view is None:
        from .request import figure_view

        excluded = getattr(figure_view(request), "excluded_keys", ())
    if excluded:
        keys = figure_axes(request)[1]
        named = ", ".join(repr(keys.tokens[key]) for key in excluded[:3]) + (" …" if len(excluded) > 3 else "")
        parts.append(f"colour range without {named}")
    if request.trace.generated and request.kind in ("decoder_self", "cross"):
        parts.append("decoder tokens generated greedily")
    return " · ".join(parts)


def _hides_keys(request: FigureRequest) -> bool:
    """Whether the figure's key axis lost tokens to the special-token filter."""
    return len(figure_axes(request)[1]) < len(request.trace.axes(request.kind)[1])


def titled_figure(
    request: FigureRequest,
    content_width: float,
    content_height: float,
    paint_content: Callable[[QPainter, float, float], None],
    subtitle: str | None = None,
    heatmap: QRectF | None = None,
) -> Figure:
    """A white page with the title lines on top and the content, laid out by the caller, below."""
    if not subtitle:
        subtitle = subtitle_of(request)
    elif _hides_keys(request):
        # A figure's own subtitle still says that keys were hidden.
        subtitle += " · special tokens hidden"
    return page_figure(title_of(request), subtitle, content_width, content_height, paint_content, heatmap)


def page_figure(
    title: str,
    subtitle: str,
    content_width: float,
    content_height: float,
    paint_content: Callable[[QPainter, float, float], None],
    heatmap: QRectF | None = None,
) -> Figure:
    """A white page: the two title lines, then the content the caller lays out and paints.

    ``paint_content(painter, left, top)`` draws at the content's top-left corner;
    ``heatmap`` is the main heatmap's rectangle relative to that corner.
    """
    width = math.ceil(MARGIN * 2 + max(content_width, titles_width(title, subtitle)))
    height = math.ceil(MARGIN * 2 + titles_height() + TITLE_GAP + content_height)
    content_top = MARGIN + titles_height() + TITLE_GAP

    def paint(painter: QPainter) -> None:
        painter.fillRect(QRectF(0, 0, width, height), page().paper)
        draw_titles(painter, MARGIN, MARGIN, width - 2 * MARGIN, title, subtitle)
        paint_content(painter, MARGIN, content_top)

    heatmap_on_page = heatmap.translated(MARGIN, content_top) if heatmap is not None else None
    return Figure(width, height, paint, title, heatmap_on_page)
