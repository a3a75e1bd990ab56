"""What a figure shows: the request, its validation, and the view it draws.

Plain numpy, no Qt. A figure of a panel draws that panel's view (``explorer.core.views``):
the desktop app puts the view its panel shows into the request, and the CLI builds the
same view from its arguments with the same function, so both get the same numbers and
the same checks. The aggregate figure, which no main panel shows, computes its map here
from the analysis module the aggregation mode uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from model.trace import KIND_TITLES, KINDS, TokenAxis, Trace

from .. import colormaps
from ..analysis.aggregation import ACROSS_LAYERS, AGGREGATIONS, METHODS, aggregate, aggregate_refusal
from ..core import views
from ..core.selection import VALUES, Selection
from ..core.special import filtered_axis, kept_keys
from ..core.state import ExplorerState

FIGURES = ("head", "grid", "cross", "distribution", "aggregate")
VALUE_TITLES = {
    "weights": "attention weight",
    "scores": "score (before softmax)",
    "value-weighted": "‖α·f(x)‖ (value-weighted)",
}


@dataclass(frozen=True)
class FigureRequest:
    """One figure of one trace, as a panel shows it.

    Attributes:
        trace: the attention of one input.
        figure: ``"head"`` (one head or the mean as a heatmap), ``"grid"`` (every layer ×
            head of the kind), ``"cross"`` (cross-attention heatmap with the source↔target
            alignment drawing), ``"distribution"`` (softmax bars for one query row) or
            ``"aggregate"`` (the ``aggregate`` method's map at ``layer``, as the aggregation
            panel shows it; ``head`` is ignored).
        kind: ``"encoder_self"``, ``"decoder_self"`` or ``"cross"``.
        layer: layer index, from 0.
        head: head index from 0, or None for the mean over heads.
        values: ``"weights"`` (softmax probabilities) or ``"scores"`` (what entered the softmax).
        colormap: a name from ``explorer.colormaps``.
        levels: the colour range (low, high); None is the default for ``values``: [0, 1]
            for weights, the finite minimum and maximum for scores.
        query: the query row that ``"distribution"`` shows.
        temperature: ``"distribution"`` shows softmax(scores / temperature).
        show_mean_column: ``"grid"`` adds each layer's mean over heads as a last column.
        aggregate: ``"aggregate"``'s method: ``"mean"`` or ``"max"`` over the heads of
            ``layer``, ``"rollout"`` or ``"flow"`` through layers 0…``layer``.
        hide_special: drop the special and padding key columns and renormalise the
            rows, as the app's "Hide special tokens" does.
        view: the view the figure draws; the app passes the one its panel shows, and
            None (the command line) makes it from the fields above (``figure_view``).
        region: ``"head"``'s (rows, key columns) to draw, as slices of the head's matrix
            (the zoomed view's visible region); None draws the whole head. A region of
            more than ``FIGURE_EXACT_CELLS`` cells is max-pooled, and the figure says so.
    """

    trace: Trace
    figure: str
    kind: str
    layer: int
    head: int | None
    values: str = "weights"
    colormap: str = colormaps.DEFAULT
    levels: tuple[float, float] | None = None
    query: int = 0
    temperature: float = 1.0
    show_mean_column: bool = False
    aggregate: str = "rollout"
    hide_special: bool = False
    # Keys left out of a head figure's colour range (``core.sink_scale``); the command line's
    # default keeps every key, the app passes its own view.
    colour_range: str = "all"
    # The page: "light" (the default, also on a dark desktop) or "dark".
    theme: str = "light"
    # The panel's HeadView, CrossView, GridView or DistributionView (not compared: it holds arrays).
    view: "views.HeadView | views.GridView | views.DistributionView | None" = field(default=None, compare=False, repr=False)
    region: tuple[slice, slice] | None = None


# The pages a figure can be painted on (``canvas.PAGE_COLOURS`` holds their colours).
PAGE_THEMES = ("light", "dark")


def _index_range(count: int) -> str:
    return "0" if count == 1 else f"0–{count - 1}"


def validate(request: FigureRequest) -> None:
    """Raise ``ValueError`` with a sentence naming the valid choices if the request cannot be drawn."""
    if request.figure not in FIGURES:
        raise ValueError(f"unknown figure {request.figure!r}; choose one of {', '.join(FIGURES)}")
    if request.kind not in KINDS:
        raise ValueError(f"unknown attention kind {request.kind!r}; choose one of {', '.join(KINDS)}")
    trace = request.trace
    if request.kind not in trace.kinds:
        raise ValueError(
            f"this model has no {KIND_TITLES[request.kind]}; it has {', '.join(trace.kinds) or 'no attention'}"
        )
    if request.figure == "cross" and request.kind != "cross":
        raise ValueError(f"the cross figure shows cross-attention, not {KIND_TITLES[request.kind]}")
    if request.values not in VALUES:
        raise ValueError(f"unknown values {request.values!r}; choose weights or scores, or value-weighted")
    colormaps.colormap(request.colormap)  # raises ValueError naming the maps
    if request.theme not in PAGE_THEMES:
        raise ValueError(f"unknown theme {request.theme!r}; choose one of {', '.join(PAGE_THEMES)}")
    maps = trace.attention[request.kind]
    if request.figure != "grid":
        if not 0 <= request.layer < maps.n_layers:
            raise ValueError(
                f"layer {request.layer} is out of range: this model's {KIND_TITLES[request.kind]} "
                f"has layers {_index_range(maps.n_layers)}"
            )
        if request.head is not None and not 0 <= request.head < maps.n_heads:
            raise ValueError(
                f"head {request.head} is out of range: this model has heads {_index_range(maps.n_heads)} "
                "(or the mean over heads)"
            )
    if request.figure == "aggregate":
        if request.aggregate not in METHODS:
            raise ValueError(f"unknown aggregation {request.aggregate!r}; choose one of {', '.join(METHODS)}")
        if request.values != "weights":
            raise ValueError("an aggregate figure combines attention weights; raw scores have no rollout or mean share")
        if request.aggregate in ACROSS_LAYERS and request.kind == "cross":
            raise ValueError(
                f"{request.aggregate} needs self-attention (queries and keys on one sequence); cross-attention "
                "has decoder queries and encoder keys — choose encoder_self or decoder_self"
            )
        if refusal := aggregate_refusal(request.aggregate, *maps.weights.shape[-2:]):
            raise ValueError(refusal)
    if request.region is not None:
        if request.figure != "head":
            raise ValueError(f"a region is drawn by the head figure, not the {request.figure} figure")
        for (name, part), size in zip((("query rows", request.region[0]), ("keys", request.region[1])), maps.weights.shape[2:]):
            start, stop, step = part.indices(size)
            if step != 1 or stop <= start or part.start is not None and not 0 <= part.start < size:
                raise ValueError(f"the region's {name} must be a run of positions within 0–{size - 1}")
    if request.levels is not None:
        low, high = request.levels
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"the colour range must be two finite numbers, low < high; got {request.levels}")
    if request.figure == "distribution":
        n_queries = maps.weights.shape[2]
        if not 0 <= request.query < n_queries:
            raise ValueError(f"query {request.query} is out of range: valid query tokens are {_index_range(n_queries)}")
        if not (np.isfinite(request.temperature) and request.temperature > 0):
            raise ValueError(f"the temperature must be a positive number, got {request.temperature}")


def selection_of(request: FigureRequest) -> Selection:
    """The selection a panel would have to show what ``request`` asks for."""
    return Selection(
        kind=request.kind,
        layer=request.layer,
        head=request.head,
        query=request.query,
        values=request.values,
        temperature=request.temperature,
        colormap=request.colormap,
        show_mean_column=request.show_mean_column,
        hide_special=request.hide_special,
        colour_range=request.colour_range,
    )


def figure_view(request: FigureRequest):
    """The view the figure draws: the request's own, or one made as its panel would make it.

    ``levels``, when given, replaces the view's colour range.
    """
    view = request.view
    if view is None:
        view = views.MAKERS[request.figure](ExplorerState.of(request.trace, selection_of(request)))
    levels = None if request.levels is None else (float(request.levels[0]), float(request.levels[1]))
    if levels is not None and hasattr(view, "levels") and tuple(view.levels) != levels:
        view = replace(view, levels=levels)
    return view


def figure_axes(request: FigureRequest, kind: str | None = None) -> tuple[TokenAxis, TokenAxis]:
    """(query axis, key axis) of the request's ``kind`` (its own by default), the key axis
    filtered as the figure's matrices are; query rows are never dropped."""
    query_axis, key_axis = request.trace.axes(kind or request.kind)
    return query_axis, filtered_axis(key_axis, _keep(request, kind))


def _keep(request: FigureRequest, kind: str | None = None) -> np.ndarray | None:
    return kept_keys(request.trace.axes(kind or request.kind)[1]) if request.hide_special else None


def aggregate_matrix(request: FigureRequest) -> np.ndarray:
    """The ``(Q, K)`` map the aggregate figure shows (see ``analysis.aggregation.aggregate``)."""
    weights = request.trace.attention[request.kind].weights
    return aggregate(weights, request.aggregate, request.layer, _keep(request))


def aggregate_title(request: FigureRequest) -> str:
    """'attention rollout (layers 0–2)'."""
    return AGGREGATIONS[request.aggregate].title(request.layer)


def resolved_levels(request: FigureRequest) -> tuple[float, float]:
    """The colour range the figure uses: the request's, or the one its panel uses.

    Every layer and head of the kind shares one range, as the panels do, so a head's
    colours mean the same in its heatmap and in the grid.
    """
    if request.levels is not None:
        return float(request.levels[0]), float(request.levels[1])
    return ExplorerState.of(request.trace, selection_of(request)).levels()


def distribution(request: FigureRequest) -> "views.DistributionView":
    """The query row a distribution figure draws (its ``DistributionView``)."""
    return figure_view(replace(request, figure="distribution"))


def head_title(request: FigureRequest) -> str:
    """ "layer 1, head 2" or "layer 1, mean over heads"."""
    head = "mean over heads" if request.head is None else f"head {request.head}"
    if request.head is None and request.values == "value-weighted" and request.kind in request.trace.attention:
        from ..core.value_weighted import summed_refusal

        if not summed_refusal(request.trace.attention[request.kind]):
            head = "norm of the summed heads"
    return f"layer {request.layer}, {head}"
