"""What the user has selected and what every panel derives from it, with no Qt at all.

``ExplorerState`` holds the current trace and the selection (attention kind, layer, head
or the mean over heads, query token, probabilities or raw scores, temperature, colour
map, whether special tokens are hidden). Each panel asks it for exactly the numpy arrays
it draws, so the numbers a panel shows — and the numbers an export writes — are computed
here once and tested without a display.

With ``hide_special`` every derived view (matrices, thumbnails, distribution, colour
range, key axis) drops the key columns of special and padding tokens and renormalises
the probability rows over the keys that remain; query rows are never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

from model.trace import KIND_TITLES, KINDS, TokenAxis, Trace

from .analysis.aggregation import drop_keys, filtered_axis, kept_keys, mean_over_heads
from .colormaps import DEFAULT as DEFAULT_COLORMAP

VALUES = ("weights", "scores")
VALUE_TITLES = {"weights": "probabilities", "scores": "raw scores"}
TOP_K = 3
# Thumbnails in the overview grid never need more pixels than this per side; longer
# inputs are block-averaged so a 2,048-token grid costs what a 96-token one does.
THUMBNAIL_SIDE = 96
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
SHARPNESS_ROWS = 64


@dataclass(frozen=True)
class Selection:
    """Everything the user picked; immutable so a change is one assignment."""

    kind: str = "encoder_self"
    layer: int = 0
    head: int | None = 0  # None = the mean over heads
    query: int = 0
    values: str = "weights"
    temperature: float = 1.0
    colormap: str = DEFAULT_COLORMAP
    show_mean_column: bool = True
    # Drop [CLS]/[SEP]/BOS/EOS/padding key columns and renormalise the rows.
    hide_special: bool = False


@dataclass(frozen=True)
class Distribution:
    """One query token's attention over the key tokens, for the softmax panel."""

    keys: list[str]
    special: np.ndarray  # (K,) bool
    probabilities: np.ndarray  # (K,) softmax(scores / T); masked keys are 0
    model_probabilities: np.ndarray  # (K,) what the model computed (temperature 1)
    scores: np.ndarray  # (K,) raw pre-softmax scores; masked keys are nan
    entropy_bits: float
    max_entropy_bits: float  # log2 of the number of unmasked keys
    top: list[tuple[int, float]]  # (key index, probability), strongest first


@dataclass(frozen=True)
class PanelAvailability:
    """Whether a panel applies to the loaded model, and if not, the one-line reason."""

    enabled: bool
    reason: str = ""


def softmax_with_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(scores / T) along the last axis; -inf (masked) keys get 0, a fully masked row all 0."""
    scaled = np.asarray(scores, dtype=np.float64) / float(temperature)
    finite = np.isfinite(scaled)
    row_max = np.where(finite, scaled, -np.inf).max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exponentials = np.where(finite, np.exp(np.where(finite, scaled, 0.0) - row_max), 0.0)
    total = exponentials.sum(axis=-1, keepdims=True)
    return np.divide(exponentials, total, out=np.zeros_like(exponentials), where=total > 0)


def entropy_bits(probabilities: np.ndarray) -> float:
    """Shannon entropy of one distribution in bits; zero-probability entries add nothing."""
    positive = probabilities[probabilities > 0]
    entropy = float(-(positive * np.log2(positive)).sum())
    # A one-hot row gives -0.0, which would read "-0.000 bits".
    return entropy if entropy > 0 else 0.0


def top_k(probabilities: np.ndarray, k: int = TOP_K) -> list[tuple[int, float]]:
    """The ``k`` largest entries as (index, value), largest first, ties by position."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(index), float(probabilities[index])) for index in order]


def display_values(matrix: np.ndarray) -> np.ndarray:
    """A float32 matrix an image can show: masked (-inf) scores become nan (drawn empty)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    return np.where(np.isfinite(matrix), matrix, np.nan) if not np.isfinite(matrix).all() else matrix


def thumbnail(matrix: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """Max-pool a (..., Q, K) array so neither of its last two sides exceeds ``side``.

    The maximum rather than the mean: one sharply attended key must stay visible in a
    thumbnail of a long input. Masked (-inf or nan) cells lose to any real value; a
    block with nothing else stays masked.
    """
    *lead, rows, columns = matrix.shape
    row_step, column_step = max(math.ceil(rows / side), 1), max(math.ceil(columns / side), 1)
    if row_step == 1 and column_step == 1:
        return matrix
    padded_rows, padded_columns = -(-rows // row_step) * row_step, -(-columns // column_step) * column_step
    padded = np.full((*lead, padded_rows, padded_columns), -np.inf, dtype=np.float32)
    padded[..., :rows, :columns] = matrix
    blocks = padded.reshape(*lead, padded_rows // row_step, row_step, padded_columns // column_step, column_step)
    # fmax ignores nan; reduce one block axis at a time (fmax.reduce takes a single axis).
    return np.fmax.reduce(np.fmax.reduce(blocks, axis=-1), axis=-2)  # (..., Q / row_step, K / column_step)


def layer_thumbnails(raw: np.ndarray, keep: np.ndarray | None = None, values: str = "weights") -> np.ndarray:
    """(L, H, q, k) thumbnails of (L, H, Q, K) values, one layer at a time.

    Layer by layer so a long trace (possibly stored as float16) is never copied whole.
    ``keep`` drops key columns first (see ``analysis.aggregation.drop_keys``).
    """
    return np.stack(
        [display_values(thumbnail(drop_keys(raw[layer], keep, values))) for layer in range(raw.shape[0])]
    )


def layer_mean_thumbnails(raw: np.ndarray, keep: np.ndarray | None = None, values: str = "weights") -> np.ndarray:
    """(L, q, k) thumbnails of each layer's mean over heads, one layer at a time."""
    return np.stack(
        [
            display_values(thumbnail(mean_over_heads(drop_keys(raw[layer], keep, values))))
            for layer in range(raw.shape[0])
        ]
    )


def finite_range(raw: np.ndarray | Iterable[np.ndarray]) -> tuple[float, float] | None:
    """(min, max) of the finite entries (masked -inf ignored), or None if there are none.

    ``raw`` is an array or any iterable of arrays (its layers), read one at a time.
    """
    low, high = math.inf, -math.inf
    for layer in raw:  # one layer at a time: no full-size temporary
        finite = layer[np.isfinite(layer)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else None


def sharpest_head(weights: np.ndarray) -> tuple[int, int]:
    """(layer, head) of (L, H, Q, K) weights whose rows have the lowest mean entropy.

    Judged on at most ``SHARPNESS_ROWS`` evenly spaced query rows, which keeps it cheap
    on long inputs.
    """
    rows = np.unique(np.linspace(0, weights.shape[2] - 1, min(weights.shape[2], SHARPNESS_ROWS)).astype(int))
    sample = np.asarray(weights[:, :, rows], dtype=np.float32)  # (L, H, rows, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(sample > 0, -sample * np.log2(np.where(sample > 0, sample, 1.0)), 0.0)
    mean_entropy = terms.sum(axis=-1).mean(axis=-1)  # (L, H)
    layer, head = np.unravel_index(int(np.argmin(mean_entropy)), mean_entropy.shape)
    return int(layer), int(head)


def prepare_thumbnails(trace: Trace, hide_special: bool = False, pick_view: bool = False) -> dict[tuple, np.ndarray]:
    """The grid's probability thumbnails of every kind (and with ``pick_view``, for a newly
    opened model, its sharpest head), for ``ExplorerState.set_trace``.

    The worker thread calls this right after the forward, so for long inputs the
    pooling never runs on the GUI thread. A trace taken with
    ``overview_side=THUMBNAIL_SIDE`` already carries the thumbnails, pooled by the
    forward from its float32 weights; they are used as they are. With
    ``hide_special`` the thumbnails of the filtered view are made here too (under the
    keys ``ExplorerState`` looks them up by), so typing with the filter on never pools
    on the GUI thread.
    """
    prepared: dict[tuple, np.ndarray] = {}
    for kind in trace.kinds:
        maps = trace.attention[kind]
        weights = maps.weights  # (L, H, Q, K)
        if weights.size == 0:  # an input without tokens: nothing will be painted
            continue
        pooled_here = maps.overview is None or max(maps.overview.shape[-2:]) > THUMBNAIL_SIDE
        prepared[("grid", kind, "weights")] = layer_thumbnails(weights) if pooled_here else maps.overview
        prepared[("means", kind, "weights")] = layer_mean_thumbnails(weights) if pooled_here else maps.overview_means
        if pick_view:
            # Reading 64 rows of every head costs a third of a second at 1,024 tokens:
            # only a newly opened model starts from it.
            prepared[("sharpest", kind)] = sharpest_head(weights)
        keep = kept_keys(trace.axes(kind)[1]) if hide_special else None
        if keep is not None:
            prepared[("kept", kind)] = keep
            prepared[filtered_view_key("grid", kind, "weights")] = layer_thumbnails(weights, keep)
            prepared[filtered_view_key("means", kind, "weights")] = layer_mean_thumbnails(weights, keep)
    return prepared


def filtered_view_key(name: str, kind: str, values: str) -> tuple:
    """Cache key of a derived array with special-token keys hidden (the plain key is ``(name, kind, values)``)."""
    return (name, kind, values, "hide_special")


def panel_availability(architecture: str | None) -> dict[str, PanelAvailability]:
    """Which panels apply to a model of ``architecture`` (None: no model loaded yet)."""
    if architecture is None:
        waiting = PanelAvailability(False, "Waiting for a model to load.")
        return {name: waiting for name in ("grid", "head", "distribution", "cross", "target", "pair")}
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


@dataclass
class ExplorerState:
    """The current trace and selection; every accessor returns plain numpy data."""

    trace: Trace | None = None
    selection: Selection = field(default_factory=Selection)
    # Derived arrays of the current trace that cost more than a selection change.
    _cache: dict[tuple, object] = field(default_factory=dict, repr=False)

    # -- changing the state -------------------------------------------------------------
    def set_trace(self, trace: Trace, prepared: dict[tuple, object] | None = None) -> Selection:
        """Show ``trace``; the selection is kept where it still fits, clamped where not.

        ``prepared`` holds derived arrays already computed off the GUI thread (see
        ``prepare_thumbnails``).
        """
        self.trace = trace
        self._cache.clear()
        self._cache.update(prepared or {})
        return self.select()

    def select(self, **changes: object) -> Selection:
        """Apply ``changes`` to the selection, clamped to what the trace holds; returns it."""
        selection = replace(self.selection, **changes)
        if selection.values not in VALUES:
            raise ValueError(f"values must be one of {', '.join(VALUES)}, not {selection.values!r}")
        temperature = min(max(float(selection.temperature), MIN_TEMPERATURE), MAX_TEMPERATURE)
        selection = replace(selection, temperature=temperature)
        if self.trace is not None:
            kinds = self.trace.kinds
            kind = selection.kind if selection.kind in kinds else kinds[0]
            maps = self.trace.attention[kind]
            layer = min(max(selection.layer, 0), maps.n_layers - 1)
            head = None if selection.head is None else min(max(selection.head, 0), maps.n_heads - 1)
            n_queries = maps.weights.shape[2]
            query = min(max(selection.query, 0), max(n_queries - 1, 0))
            selection = replace(selection, kind=kind, layer=layer, head=head, query=query)
        self.selection = selection
        return selection

    def step_head(self, delta: int) -> Selection:
        """Move across heads (the mean sits after the last head); wraps around."""
        positions = list(range(self.n_heads)) + [None]
        index = positions.index(self.selection.head) if self.selection.head in positions else 0
        return self.select(head=positions[(index + delta) % len(positions)])

    def step_layer(self, delta: int) -> Selection:
        return self.select(layer=(self.selection.layer + delta) % max(self.n_layers, 1))

    def sharpest_head(self, kind: str) -> tuple[int, int]:
        """(layer, head) of ``kind`` with the most focused attention (see ``sharpest_head``).

        A newly opened model starts there, so the first view shows structure rather
        than the usually diffuse first head.
        """
        assert self.trace is not None
        key = ("sharpest", kind)
        if key not in self._cache:
            self._cache[key] = sharpest_head(self.trace.attention[kind].weights)
        return self._cache[key]

    # -- what the model and trace hold --------------------------------------------------
    @property
    def kinds(self) -> tuple[str, ...]:
        return self.trace.kinds if self.trace is not None else ()

    @property
    def n_layers(self) -> int:
        return self.trace.attention[self.selection.kind].n_layers if self._has_kind() else 0

    @property
    def n_heads(self) -> int:
        return self.trace.attention[self.selection.kind].n_heads if self._has_kind() else 0

    def _has_kind(self, kind: str | None = None) -> bool:
        return self.trace is not None and (kind or self.selection.kind) in self.trace.attention

    def axes(self, kind: str | None = None, filtered: bool = True) -> tuple[TokenAxis, TokenAxis]:
        """(query axis, key axis) of ``kind`` (default: the selected kind).

        With ``hide_special`` on, the key axis holds only the keys the views keep, so it
        labels their columns; ``filtered=False`` gives the trace's own axes.
        """
        assert self.trace is not None
        kind = kind or self.selection.kind
        query_axis, key_axis = self.trace.axes(kind)
        if not filtered:
            return query_axis, key_axis
        return query_axis, filtered_axis(key_axis, self.kept_keys(kind))

    def kept_keys(self, kind: str | None = None) -> np.ndarray | None:
        """(K,) bool of the key columns the views keep, or None when they keep every column.

        None when the filter is off, when the key axis has nothing to hide, and when
        every key would be hidden (the view is then shown unfiltered rather than empty).
        """
        if not self.selection.hide_special or self.trace is None:
            return None
        kind = kind or self.selection.kind
        key = ("kept", kind)
        if key not in self._cache:
            self._cache[key] = kept_keys(self.trace.axes(kind)[1])
        return self._cache[key]

    def _view_key(self, name: str, kind: str, values: str) -> tuple:
        """Cache key of a derived array; filtered arrays get their own (the prepared ones are unfiltered)."""
        return (name, kind, values) if self.kept_keys(kind) is None else filtered_view_key(name, kind, values)

    def _raw(self, kind: str, values: str) -> np.ndarray:
        assert self.trace is not None
        maps = self.trace.attention[kind]
        return maps.weights if values == "weights" else maps.scores  # (L, H, Q, K)

    # -- derived views -------------------------------------------------------------------
    def head_matrix(self, kind: str | None = None, layer: int | None = None, head: int | None | str = "selected",
                    values: str | None = None) -> np.ndarray:
        """(Q, K) of one head, or the mean over heads when the head is None."""
        kind = kind or self.selection.kind
        values = values or self.selection.values
        raw = self._raw(kind, values)
        layer = self.selection.layer if layer is None else layer
        layer = min(layer, raw.shape[0] - 1)
        head = self.selection.head if head == "selected" else head
        keep = self.kept_keys(kind)
        if head is None:
            return mean_over_heads(drop_keys(raw[layer], keep, values))
        return drop_keys(raw[layer, min(int(head), raw.shape[1] - 1)], keep, values)

    def grid(self, kind: str | None = None, values: str | None = None) -> np.ndarray:
        """(L, H, q, k) thumbnails of every head of a kind, with masked cells as nan.

        Computed once per trace, kind and values: moving across heads and layers only
        moves the outline.
        """
        kind, values = kind or self.selection.kind, values or self.selection.values
        key = self._view_key("grid", kind, values)
        if key not in self._cache:
            self._cache[key] = layer_thumbnails(self._raw(kind, values), self.kept_keys(kind), values)
        return self._cache[key]

    def grid_means(self, kind: str | None = None, values: str | None = None) -> np.ndarray:
        """(L, q, k) thumbnails of the per-layer mean over heads (cached like ``grid``)."""
        kind, values = kind or self.selection.kind, values or self.selection.values
        key = self._view_key("means", kind, values)
        if key not in self._cache:
            self._cache[key] = layer_mean_thumbnails(self._raw(kind, values), self.kept_keys(kind), values)
        return self._cache[key]

    def levels(self, kind: str | None = None, values: str | None = None) -> tuple[float, float]:
        """The colour range every heatmap of a kind shares.

        Probabilities use [0, 1] so colours compare across inputs; raw scores have no
        natural range, so they use the finite extent over every layer and head.
        """
        values = values or self.selection.values
        if values == "weights":
            return (0.0, 1.0)
        kind = kind or self.selection.kind
        key = self._view_key("levels", kind, values)
        if key not in self._cache:
            keep = self.kept_keys(kind)
            raw = self._raw(kind, values)
            # Hidden columns leave the range too, one layer at a time (no full-size copy).
            extent = finite_range(raw if keep is None else (layer[..., keep] for layer in raw))
            if extent is None:
                self._cache[key] = (0.0, 1.0)
            else:
                low, high = extent
                self._cache[key] = (low, high) if high > low else (low - 0.5, high + 0.5)
        return self._cache[key]

    def distribution(self) -> Distribution:
        """The selected query's row of the selected head, re-softmaxed at the temperature.

        For the mean over heads the probabilities are the mean of each head's
        softmax(scores / T) and the scores the mean of the heads' scores.
        """
        selection = self.selection
        _, key_axis = self.axes()
        keep = self.kept_keys()
        layer_scores = self._raw(selection.kind, "scores")[selection.layer, :, selection.query]  # (H, K)
        layer_weights = self._raw(selection.kind, "weights")[selection.layer, :, selection.query]  # (H, K)
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
        return Distribution(
            keys=list(key_axis.tokens),
            special=np.asarray(key_axis.special, dtype=bool),
            probabilities=probabilities,
            model_probabilities=model_probabilities,
            scores=np.where(np.isfinite(scores), scores, np.nan).astype(np.float64),
            entropy_bits=entropy_bits(probabilities),
            max_entropy_bits=math.log2(unmasked) if unmasked > 0 else 0.0,
            top=top_k(probabilities),
        )

    def title(self) -> str:
        """'cross-attention (decoder → encoder) · layer 2 · head 1' for panel headers."""
        selection = self.selection
        head = "mean over heads" if selection.head is None else f"head {selection.head}"
        hidden = " · special tokens hidden" if self.kept_keys() is not None else ""
        return f"{KIND_TITLES.get(selection.kind, selection.kind)} · layer {selection.layer} · {head}{hidden}"


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind)


def kind_labels() -> dict[str, str]:
    """Short names for the kind selector."""
    return {"encoder_self": "Encoder self", "decoder_self": "Decoder self", "cross": "Cross"}


__all__ = [
    "KINDS",
    "Distribution",
    "ExplorerState",
    "PanelAvailability",
    "Selection",
    "display_values",
    "entropy_bits",
    "mean_over_heads",
    "panel_availability",
    "softmax_with_temperature",
    "thumbnail",
    "top_k",
]
