"""What a figure shows: the request, its validation and the numbers it selects from a trace.

Plain numpy, no Qt: the desktop app builds a ``FigureRequest`` from what its panels show,
the CLI builds one from its arguments, and both get the same checks and the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model.trace import KIND_TITLES, KINDS, TokenAxis, Trace

from .. import colormaps
from ..analysis.aggregation import (
    ACROSS_LAYERS,
    AGGREGATIONS,
    METHODS,
    aggregate,
    filtered_axis,
    flow_refusal,
    kept_keys,
    mean_over_heads,
    without_special_keys,
)

FIGURES = ("head", "grid", "cross", "distribution", "aggregate")
VALUES = ("weights", "scores")
VALUE_TITLES = {"weights": "attention weight", "scores": "score (before softmax)"}


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
        raise ValueError(f"unknown values {request.values!r}; choose weights or scores")
    colormaps.colormap(request.colormap)  # raises ValueError naming the maps
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
        if request.aggregate == "flow" and (refusal := flow_refusal(maps.weights.shape[-1])):
            raise ValueError(refusal)
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


def filtered_request(request: FigureRequest) -> FigureRequest:
    """The request with its trace narrowed to its kind without the hidden key columns.

    Every figure then reads filtered matrices from ``request.trace`` and labels them with
    ``figure_axes``. An aggregate figure keeps the whole trace: a rollout needs the
    square matrices and is filtered after it is computed (``aggregate_matrix``).
    """
    if not request.hide_special or request.figure == "aggregate":
        return request
    return replace(request, trace=without_special_keys(request.trace, request.kind))


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


def _stack(request: FigureRequest) -> np.ndarray:
    """Weights or scores of the request's kind, ``(L, H, Q, K)``."""
    maps = request.trace.attention[request.kind]
    return maps.weights if request.values == "weights" else maps.scores


def head_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the head axis of ``(..., H, Q, K)`` (``mean_over_heads``): masked keys stay -inf."""
    return mean_over_heads(values, axis=-3)


def selected_matrix(request: FigureRequest) -> np.ndarray:
    """The ``(Q, K)`` matrix of the request's layer and head (or the mean over heads)."""
    layer_values = _stack(request)[request.layer]  # (H, Q, K)
    return head_mean(layer_values) if request.head is None else layer_values[request.head]


def grid_matrices(request: FigureRequest) -> list[list[np.ndarray]]:
    """Rows of ``(Q, K)`` matrices per layer: each head, then the mean if the request asks for it."""
    stack = _stack(request)
    rows = []
    for layer in range(stack.shape[0]):
        row = [stack[layer, head] for head in range(stack.shape[1])]
        if request.show_mean_column:
            row.append(head_mean(stack[layer]))
        rows.append(row)
    return rows


def default_levels(values: str, raw: np.ndarray) -> tuple[float, float]:
    """[0, 1] for weights, so colours compare across inputs; for scores, which have no natural
    range, the finite minimum and maximum of ``raw``."""
    if values == "weights":
        return 0.0, 1.0
    finite = raw[np.isfinite(raw)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    # A constant matrix still needs a range to draw a colour bar.
    return (low - 0.5, high + 0.5) if low == high else (low, high)


def resolved_levels(request: FigureRequest) -> tuple[float, float]:
    """The colour range the figure uses: the request's, or the default for the request's kind."""
    if request.levels is not None:
        return float(request.levels[0]), float(request.levels[1])
    # Every layer and head of the kind shares one range, as the panels do, so a head's
    # colours mean the same in its heatmap and in the grid.
    return default_levels(request.values, _stack(request))


@dataclass(frozen=True)
class Distribution:
    """One query row as the distribution chart shows it."""

    probabilities: np.ndarray  # (K,) softmax(scores / temperature); masked keys 0
    model_probabilities: np.ndarray  # (K,) the model's own weights (temperature 1)
    scores: np.ndarray  # (K,) raw scores (the mean over heads for the mean); masked keys -inf
    entropy_bits: float


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax over the last axis; -inf entries get 0 and a fully masked row is all zeros."""
    scaled = scores.astype(np.float64) / temperature
    finite = np.isfinite(scaled)
    peak = np.where(finite, scaled, -np.inf).max(axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    exponentials = np.where(finite, np.exp(np.where(finite, scaled - peak, 0.0)), 0.0)
    total = exponentials.sum(axis=-1, keepdims=True)
    return np.divide(exponentials, total, out=np.zeros_like(exponentials), where=total > 0)


def distribution(request: FigureRequest) -> Distribution:
    """Softmax of the query row's scores at the request's temperature (per head, then averaged)."""
    maps = request.trace.attention[request.kind]
    scores = maps.scores[request.layer, :, request.query]  # (H, K)
    weights = maps.weights[request.layer, :, request.query].astype(np.float64)  # (H, K)
    probabilities = softmax(scores, request.temperature)  # (H, K)
    if request.head is None:
        row_probabilities, row_weights = probabilities.mean(axis=0), weights.mean(axis=0)
        row_scores = head_mean(scores[:, np.newaxis, :])[0]  # (1, K) through the head axis, then (K,)
    else:
        row_probabilities, row_weights = probabilities[request.head], weights[request.head]
        row_scores = scores[request.head]
    positive = row_probabilities[row_probabilities > 0]
    entropy_bits = float(-(positive * np.log2(positive)).sum())
    return Distribution(row_probabilities, row_weights, row_scores.astype(np.float64), entropy_bits)


def head_title(request: FigureRequest) -> str:
    """ "layer 1, head 2" or "layer 1, mean over heads"."""
    head = "mean over heads" if request.head is None else f"head {request.head}"
    return f"layer {request.layer}, {head}"
