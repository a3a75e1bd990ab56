"""What each panel shows, as one small frozen object made by one function from the state.

The data path: the worker's trace is set on ``ExplorerState``; ``current(state, name)``
makes the panel's view (or returns the one already made for this trace and selection);
the Qt panel's ``show(view)`` draws it, and an export draws the very same object
(``explorer.export`` builds its figure from the view). Views hold numpy arrays, token
axes, titles and colour levels; nothing in them needs Qt or torch.

- ``TokensView``: the token rows of the input panel and the selected token.
- ``GridView``: every layer × head of a kind as thumbnails, with per-layer means.
- ``HeadView``: one head (or the mean over heads) with probabilities and raw scores.
- ``DistributionView``: one query row re-softmaxed at the temperature.
- ``CrossView``: decoder × encoder cross-attention and the weights its lines are drawn with.

``panel_availability`` says which panels apply to a model, and if not, why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from model.trace import KIND_AXES, TokenAxis

from .head_matrix import HeadMatrix, is_dense
from .numeric import entropy_bits, softmax_with_temperature, top_k
from .selection import VALUE_TITLES, Selection, kind_title
from .special import drop_keys, mean_over_heads
from .thumbnails import grid_note
from .state import ExplorerState
from .sink_scale import head_sink_scale
from .value_weighted import VALUE_WEIGHTED, has_value_norms, summed_refusal
from .viewport import TileRequest

PANEL_NAMES = ("grid", "head", "distribution", "cross", "target", "pair")


@dataclass(frozen=True)
class PanelAvailability:
    """Whether a panel applies to the loaded model, and if not, the one-line reason."""

    enabled: bool
    reason: str = ""


def panel_availability(architecture: str | None) -> dict[str, PanelAvailability]:
    """Which panels apply to a model of ``architecture`` (None: no model loaded yet)."""
    if architecture is None:
        waiting = PanelAvailability(False, "Waiting for a model to load.")
        return dict.fromkeys(PANEL_NAMES, waiting)
    names = {"encoder": "an encoder-only", "decoder": "a decoder-only", "encoder-decoder": "an encoder–decoder"}
    this = names.get(architecture, architecture)
    cross = architecture == "encoder-decoder"
    return {
        "grid": PanelAvailability(True),
        "head": PanelAvailability(True),
        "distribution": PanelAvailability(True),
        "cross": PanelAvailability(cross, "" if cross else f"Cross-attention needs an encoder–decoder model; this is {this} model."),
        "target": PanelAvailability(cross, "" if cross else f"A target text needs an encoder–decoder model; this is {this} model."),
        "pair": PanelAvailability(
            architecture == "encoder",
            "" if architecture == "encoder" else f"A sentence pair needs an encoder-only model; this is {this} model.",
        ),
    }


# Views compare by identity (eq=False): they hold arrays, and "the panel was given this
# object" is what a test of an export asserts.


@dataclass(frozen=True, eq=False)
class TokensView:
    """The input panel's token rows: (axis name, heading, tokens), the selected chip, notices."""

    rows: list[tuple[str, str, TokenAxis]]
    selected: tuple[str, int]  # (axis name, token index)
    notices: list[str]


@dataclass(frozen=True, eq=False)
class GridView:
    """Every layer × head of one kind: (L, H, q, k) thumbnails, masked cells nan."""

    kind: str
    values: str
    title: str
    thumbnails: np.ndarray  # (L, H, q, k), max-pooled to at most THUMBNAIL_SIDE per side
    means: np.ndarray | None  # (L, q, k) per-layer mean over heads, or None without the mean column
    levels: tuple[float, float]
    colormap: str
    selected: tuple[int, int]  # (layer, head); head -1 is the mean column
    query_axis: TokenAxis
    key_axis: TokenAxis  # without hidden special tokens
    # The worker's coloured mosaic of these thumbnails: (rgba, pixels per cell), or None.
    mosaic: tuple | None = None
    # The attention's structure (``AttentionMaps``): shared key/value heads, layer windows.
    kv_heads: np.ndarray | None = None
    windows: tuple[int | None, ...] | None = None

    @property
    def pooled(self) -> bool:
        """Whether a thumbnail cell stands for a block of tokens (a long input)."""
        return self.thumbnails.shape[-2:] != (len(self.query_axis), len(self.key_axis))


@dataclass(frozen=True, eq=False)
class HeadView:
    """One head, or the mean over heads (``head`` None), of one layer and kind."""

    kind: str
    layer: int
    head: int | None
    values: str  # which of the two matrices the heatmap shows
    title: str
    # The head's rows and tiles (``core.head_matrix``): a long input's matrix is never held
    # whole; the panel and a figure ask it for the region they show.
    source: HeadMatrix
    query_axis: TokenAxis
    key_axis: TokenAxis  # without hidden special tokens
    levels: tuple[float, float]
    colormap: str
    query: int | None  # the outlined query row
    # The layer's sliding window in tokens (None: it attends to every key it may).
    window: int | None = None
    # (q, k) the whole head pooled (the overview's thumbnail): the zoomed view's minimap.
    overview: np.ndarray | None = None
    # Key columns the colour range leaves out (an attention sink; ``core.sink_scale``):
    # drawn saturated and marked.
    excluded_keys: tuple[int, ...] = ()
    # Why value-weighted attention cannot be shown for this trace ('' when it can).
    value_weighted_refusal: str = ""

    @cached_property
    def weights(self) -> np.ndarray:
        """(Q, K) probabilities, whole (refused for a head too large to hold: use ``tile``)."""
        return self.source.matrix("weights")

    @cached_property
    def scores(self) -> np.ndarray:
        """(Q, K) raw scores before the softmax, masked keys -inf (whole, as ``weights``)."""
        return self.source.matrix("scores")

    @cached_property
    def value_weighted(self) -> np.ndarray | None:
        """(Q, K) α_ij·‖f(x_j)‖ (the mean over heads: the norm of the summed heads) when
        ``values`` is "value-weighted", whole as ``weights``; None otherwise."""
        return self.source.matrix(VALUE_WEIGHTED) if self.values == VALUE_WEIGHTED else None

    @property
    def shape(self) -> tuple[int, int]:
        return self.source.shape

    def tile(self, request: TileRequest, should_stop=None) -> np.ndarray:
        """What the heatmap shows of ``request``'s region, pooled to its cells (see ``matrix``).

        ``should_stop`` is asked between blocks of rows (``HeadMatrix.tile``)."""
        return self.source.tile(request.rows, request.columns, request.out_shape, self.values, display=True, should_stop=should_stop)

    @property
    def matrix(self) -> np.ndarray:
        """What the heatmap shows: the probabilities, the raw scores or the value-weighted norms.

        In a windowed layer the keys the window cuts off are nan (drawn empty, apart from
        keys that merely got little weight); a causal decoder's future keys stay 0 as in
        every other layer.
        """
        if self.values == VALUE_WEIGHTED and self.value_weighted is not None:
            return self.value_weighted
        if self.values != "weights":
            return self.scores
        if self.window is None:
            return self.weights
        return np.where(outside_window(self.scores, causal=self.kind == "decoder_self"), np.nan, self.weights)


def outside_window(scores: np.ndarray, causal: bool) -> np.ndarray:
    """(Q, K) bool: masked keys (score -inf) that a window cut off, not the causal future."""
    masked = np.isneginf(scores)
    if causal:
        masked &= np.tri(*scores.shape, dtype=bool)  # keys at or before the query
    return masked


@dataclass(frozen=True, eq=False)
class CrossView(HeadView):
    """Cross-attention (decoder queries × encoder keys): the heatmap and the alignment lines.

    ``weights`` always holds probabilities: the alignment drawing's line widths.
    """


@dataclass(frozen=True, eq=False)
class DistributionView:
    """One query token's attention over the key tokens, for the softmax panel."""

    kind: str
    layer: int
    head: int | None
    query: int
    temperature: float
    title: str
    keys: list[str]
    special: np.ndarray  # (K,) bool
    probabilities: np.ndarray  # (K,) softmax(scores / T); masked keys are 0
    model_probabilities: np.ndarray  # (K,) what the model computed (temperature 1)
    scores: np.ndarray  # (K,) raw pre-softmax scores; masked keys are -inf, as in the trace
    entropy_bits: float
    max_entropy_bits: float  # log2 of the number of unmasked keys
    top: list[tuple[int, float]]  # (key index, probability), strongest first
    colormap: str = "viridis"


def tokens_view(state: ExplorerState) -> TokensView:
    trace, selection = state.trace, state.selection
    rows = []
    if trace.encoder is not None:
        rows.append(("encoder", "source", trace.encoder))
    if trace.decoder is not None:
        heading = "text" if trace.encoder is None else ("generated" if trace.generated else "target")
        rows.append(("decoder", heading, trace.decoder))
    return TokensView(rows, (KIND_AXES[selection.kind][0], selection.query), list(trace.notices))


def grid_view(state: ExplorerState) -> GridView:
    selection = state.selection
    query_axis, key_axis = state.axes()
    values_title = VALUE_TITLES[selection.values]
    if selection.values == VALUE_WEIGHTED and selection.show_mean_column:
        refusal = summed_refusal(state.trace.attention[selection.kind])
        values_title += f" · last column: {'norm of the summed heads' if not refusal else refusal}"
    note = grid_note(state.trace.attention[selection.kind], state.kept_keys(), selection.values)
    return GridView(
        kind=selection.kind,
        values=selection.values,
        title=f"{kind_title(selection.kind)} · {values_title}" + (f" · {note}" if note else ""),
        thumbnails=state.grid(),
        means=state.grid_means() if selection.show_mean_column else None,
        levels=state.levels(),
        colormap=selection.colormap,
        selected=(selection.layer, -1 if selection.head is None else selection.head),
        query_axis=query_axis,
        key_axis=key_axis,
        mosaic=_prepared_mosaic(state),
        kv_heads=state.trace.attention[selection.kind].kv_heads,
        windows=state.trace.attention[selection.kind].windows,
    )


def _prepared_mosaic(state: ExplorerState) -> tuple | None:
    prepared = state.prepared_mosaic()
    if prepared is None:
        return None
    thumbnails, means, rgba, unit = prepared
    selection = state.selection
    if thumbnails is not state.grid() or (selection.show_mean_column and means is not state.grid_means()):
        return None  # coloured from other arrays: not this grid's picture
    return rgba, unit


def _value_title(state: ExplorerState, kind: str) -> str:
    """' · value-weighted ‖α·f(x)‖' (and for the mean, what the layer's map is), or ''."""
    selection = state.selection
    if selection.values != VALUE_WEIGHTED:
        return ""
    if selection.head is not None:
        return f" · {VALUE_TITLES[VALUE_WEIGHTED]}"
    refusal = summed_refusal(state.trace.attention[kind])
    return " · ‖Σ_h α·f_h(x)‖, the norm of the summed heads" if not refusal else f" · {refusal}"


def head_view(state: ExplorerState) -> HeadView:
    selection = state.selection
    query_axis, key_axis = state.axes()
    source = state.head_source()
    excluded, levels, range_title = head_sink_scale(
        source, selection.colour_range, selection.values, key_axis, selection.kind == "decoder_self", state.levels()
    )
    return HeadView(
        kind=selection.kind,
        layer=selection.layer,
        head=selection.head,
        values=selection.values,
        title=state.title() + _value_title(state, selection.kind) + range_title,
        source=source,
        query_axis=query_axis,
        key_axis=key_axis,
        levels=levels,
        colormap=selection.colormap,
        query=selection.query,
        window=state.trace.attention[selection.kind].window(selection.layer),
        overview=_head_thumbnail(state),
        excluded_keys=excluded if levels != state.levels() else (),
        value_weighted_refusal=_value_weighted_refusal(state.trace.attention[selection.kind]),
    )


def _value_weighted_refusal(maps) -> str:
    if has_value_norms(maps):
        return ""
    if not is_dense(maps):
        return (
            "Value-weighted attention needs each key's value-vector norms, which a trace recomputed on "
            "demand (a long input) does not keep"
        )
    return "This trace holds no value-vector norms (it was saved without them)"


def _head_thumbnail(state: ExplorerState) -> np.ndarray | None:
    """The selected head's thumbnail in the overview (the mean column's for the mean)."""
    selection = state.selection
    if selection.head is None:
        return state.grid_means()[selection.layer]
    return state.grid()[selection.layer, selection.head]


def cross_view(state: ExplorerState) -> CrossView | None:
    """The cross-attention panel's view; None when the model has no cross-attention."""
    trace, selection = state.trace, state.selection
    if "cross" not in trace.kinds:
        return None
    layer = min(selection.layer, trace.attention["cross"].n_layers - 1)
    head = selection.head
    decoder_axis, encoder_axis = state.axes("cross")  # the encoder axis without hidden special tokens
    return CrossView(
        kind="cross",
        layer=layer,
        head=head,
        values=selection.values,
        title=f"layer {layer} · {'mean over heads' if head is None else f'head {head}'}",
        source=state.head_source(kind="cross", layer=layer, head=head),
        query_axis=decoder_axis,
        key_axis=encoder_axis,
        levels=state.levels(kind="cross"),
        colormap=selection.colormap,
        query=selection.query if KIND_AXES[selection.kind][0] == "decoder" else None,
    )


def distribution_view(state: ExplorerState) -> DistributionView:
    """The selected query's row of the selected head, re-softmaxed at the temperature.

    For the mean over heads the probabilities are the mean of each head's
    softmax(scores / T) and the scores the mean of the heads' scores.
    """
    selection = state.selection
    query_axis, key_axis = state.axes()
    keep = state.kept_keys()
    maps = state.trace.attention[selection.kind]
    layer_scores = maps.scores[selection.layer, :, selection.query]  # (H, K)
    if is_dense(maps):
        layer_weights = maps.weights[selection.layer, :, selection.query]  # (H, K): the stored numbers
    else:
        # Recomputed: the row's softmax is its weights (exp(score − lse)) to rounding, and
        # saves a second read of the stored queries and keys.
        layer_weights = softmax_with_temperature(layer_scores, 1.0).astype(np.float32)
    # (H, kept): softmax of the kept scores is the renormalised kept weights.
    layer_scores, layer_weights = drop_keys(layer_scores, keep, "scores"), drop_keys(layer_weights, keep)
    if selection.head is None:
        probabilities = softmax_with_temperature(layer_scores, selection.temperature).mean(axis=0)
        model_probabilities = layer_weights.astype(np.float64).mean(axis=0)
        scores = mean_over_heads(layer_scores[None], axis=1)[0]
    else:
        probabilities = softmax_with_temperature(layer_scores[selection.head], selection.temperature)
        model_probabilities = layer_weights[selection.head].astype(np.float64)
        scores = layer_scores[selection.head]
    unmasked = int(np.isfinite(scores).sum())
    query_token = query_axis.tokens[selection.query] if len(query_axis) else ""
    return DistributionView(
        kind=selection.kind,
        layer=selection.layer,
        head=selection.head,
        query=selection.query,
        temperature=selection.temperature,
        title=f"query {selection.query} {query_token!r} · {state.title()}",
        keys=list(key_axis.tokens),
        special=np.asarray(key_axis.special, dtype=bool),
        probabilities=probabilities,
        model_probabilities=model_probabilities,
        scores=np.asarray(scores, dtype=np.float64),
        entropy_bits=entropy_bits(probabilities),
        max_entropy_bits=math.log2(unmasked) if unmasked > 0 else 0.0,
        top=top_k(probabilities),
        colormap=selection.colormap,
    )


MAKERS = {
    "input": tokens_view,
    "grid": grid_view,
    "head": head_view,
    "distribution": distribution_view,
    "cross": cross_view,
}
PANELS = tuple(MAKERS)


def current(state: ExplorerState, name: str):
    """The view of panel ``name`` for the state's trace and selection, made once.

    The panel and an export of it both ask here, so they hold the same object. Only the
    latest view per panel is kept (a view of a long input holds megabytes).
    """
    key = (id(state.trace), state.selection)
    cached = state.shown_views.get(name)
    if cached is not None and cached[0] == key and cached[1] is state.trace:
        return cached[2]
    view = MAKERS[name](state)
    state.shown_views[name] = (key, state.trace, view)
    return view


__all__ = [
    "CrossView",
    "DistributionView",
    "GridView",
    "HeadView",
    "PANELS",
    "PanelAvailability",
    "Selection",
    "TokensView",
    "current",
    "cross_view",
    "distribution_view",
    "grid_view",
    "head_view",
    "panel_availability",
    "tokens_view",
]


def next_token_text(after: str, top: list[tuple[str, float]]) -> str:
    """"next after 'fox': 'jumps' 41.2 % · 'over' 10.3 % · …": what the model would say next."""
    from ..token_labels import display_token

    guesses = " · ".join(f"{display_token(token)!r} {probability:.1%}" for token, probability in top)
    return f"next after {display_token(after)!r}: {guesses}"
