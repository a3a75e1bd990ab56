"""The state every view is made from: the current trace and the selection, with no Qt.

``ExplorerState`` holds the trace on show and the ``Selection``; it clamps a selection to
what the trace holds, steps through heads and layers, and hands out the derived arrays
that cost more than a selection change (thumbnails, colour ranges), cached per trace.
The views (``core.views``) are made from it; the numbers a panel shows and an export
writes are therefore computed here once and tested without a display.

With ``hide_special`` every derived array (matrices, thumbnails, colour range, key axis)
drops the key columns of special and padding tokens and renormalises the probability
rows over the keys that remain; query rows are never dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from model.trace import KIND_TITLES, AttentionMaps, TokenAxis, Trace

from .numeric import colour_levels, sharpest_head
from .selection import MAX_TEMPERATURE, MIN_TEMPERATURE, VALUES, Selection
from .head_matrix import HeadMatrix
from .special import filtered_axis, kept_keys
from . import thumbnails
from .mosaic import mosaic_key
from .thumbnails import cache_key
from .sink_scale import COLOUR_RANGES
from .value_weighted import VALUE_WEIGHTED, has_value_norms


@dataclass
class ExplorerState:
    """The current trace and selection; every accessor returns plain numpy data."""

    trace: Trace | None = None
    selection: Selection = field(default_factory=Selection)
    # Derived arrays of the current trace that cost more than a selection change.
    _cache: dict[tuple, object] = field(default_factory=dict, repr=False)
    # The latest view of each panel (``core.views.current``), so a panel and its export share it.
    shown_views: dict[str, tuple] = field(default_factory=dict, repr=False)

    # -- changing the state -------------------------------------------------------------
    def set_trace(self, trace: Trace, prepared: dict[tuple, object] | None = None) -> Selection:
        """Show ``trace``; the selection is kept where it still fits, clamped where not.

        ``prepared`` holds derived arrays already computed off the GUI thread (see
        ``prepare_thumbnails``).
        """
        self.trace = trace
        self._cache.clear()
        self.shown_views.clear()
        self._cache.update(prepared or {})
        return self.select()

    @classmethod
    def of(cls, trace: Trace, selection: Selection) -> "ExplorerState":
        """A state showing ``trace`` at exactly ``selection`` (already checked, not clamped).

        For exports from the command line, whose requests are validated with their own
        sentences (and may use a temperature beyond the app's slider).
        """
        state = cls(trace=trace)
        state.selection = selection
        return state

    def select(self, **changes: object) -> Selection:
        """Apply ``changes`` to the selection, clamped to what the trace holds; returns it."""
        selection = replace(self.selection, **changes)
        if selection.values not in VALUES:
            raise ValueError(f"values must be one of {', '.join(VALUES)}, not {selection.values!r}")
        if selection.colour_range not in COLOUR_RANGES:
            raise ValueError(f"colour range must be one of {', '.join(COLOUR_RANGES)}, not {selection.colour_range!r}")
        temperature = min(max(float(selection.temperature), MIN_TEMPERATURE), MAX_TEMPERATURE)
        selection = replace(selection, temperature=temperature)
        if self.trace is not None:
            kinds = self.trace.kinds
            kind = selection.kind if selection.kind in kinds else kinds[0]
            maps = self.trace.attention[kind]
            if selection.values == VALUE_WEIGHTED and not has_value_norms(maps):
                selection = replace(selection, values="weights")  # a trace saved without value norms
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
            self._cache[key] = sharpest_head(self.trace.attention[kind].weights)  # reads 64 rows a head
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
        return cache_key(name, kind, values, self.kept_keys(kind) is not None)

    # -- derived arrays ------------------------------------------------------------------
    def head_source(self, kind: str | None = None, layer: int | None = None, head: int | None | str = "selected") -> HeadMatrix:
        """One head (or the mean over heads when the head is None) as rows and tiles (``HeadMatrix``)."""
        assert self.trace is not None
        kind = kind or self.selection.kind
        maps = self.trace.attention[kind]
        layer = self.selection.layer if layer is None else layer
        layer = min(layer, maps.n_layers - 1)
        head = self.selection.head if head == "selected" else head
        head = None if head is None else min(int(head), maps.n_heads - 1)
        return HeadMatrix(
            maps, layer, head, self.kept_keys(kind), window_cut=maps.window(layer) is not None, causal=kind == "decoder_self"
        )

    def head_matrix(self, kind: str | None = None, layer: int | None = None, head: int | None | str = "selected",
                    values: str | None = None) -> np.ndarray:
        """(Q, K) of one head, or the mean over heads when the head is None (for value-weighted
        attention, the norm of the summed heads where the trace keeps what it takes); refused
        for a head too large to hold: read it through ``head_source``."""
        return self.head_source(kind, layer, head).matrix(values or self.selection.values)

    def grid(self, kind: str | None = None, values: str | None = None) -> np.ndarray:
        """(L, H, q, k) thumbnails of every head of a kind, with masked cells as nan.

        Computed once per trace, kind and values: moving across heads and layers only
        moves the outline.
        """
        kind, values = kind or self.selection.kind, values or self.selection.values
        key = self._view_key("grid", kind, values)
        if key not in self._cache:
            self._cache[key] = thumbnails.grid_thumbnails(self.trace.attention[kind], self.kept_keys(kind), values)
        return self._cache[key]

    def grid_means(self, kind: str | None = None, values: str | None = None) -> np.ndarray:
        """(L, q, k) thumbnails of the per-layer mean over heads (cached like ``grid``)."""
        kind, values = kind or self.selection.kind, values or self.selection.values
        key = self._view_key("means", kind, values)
        if key not in self._cache:
            self._cache[key] = thumbnails.grid_mean_thumbnails(self.trace.attention[kind], self.kept_keys(kind), values)
        return self._cache[key]

    def prepared_mosaic(self) -> tuple | None:
        """The worker's (thumbnails, means, rgba, unit) mosaic of the selected grid, if it made one."""
        selection = self.selection
        kind, values = selection.kind, selection.values
        filtered = self.kept_keys(kind) is not None
        return self._cache.get(mosaic_key(kind, values, selection.colormap, selection.show_mean_column, filtered))

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
            maps, keep = self.trace.attention[kind], self.kept_keys(kind)
            blocks = thumbnails.level_blocks(maps, keep, values)
            if values == VALUE_WEIGHTED and thumbnails.is_dense(maps):
                # The layers' summed heads (the mean column and the head view's mean) share the range.
                summed = (HeadMatrix(maps, layer, None, keep).rows(slice(None), values) for layer in range(maps.n_layers))
                blocks = itertools.chain(blocks, summed)
            self._cache[key] = colour_levels(values, blocks)
        return self._cache[key]

    def title(self) -> str:
        """'decoder self-attention · layer 2 (window 4) · head 5 · shares keys with heads 4–5 (KV 2)'."""
        selection = self.selection
        maps = self.trace.attention.get(selection.kind) if self.trace is not None else None
        layer = f"layer {selection.layer}"
        head = "mean over heads" if selection.head is None else f"head {selection.head}"
        if maps is not None:
            layer += layer_structure(maps, selection.layer)
            if selection.head is not None:
                head += head_structure(maps, selection.head)
        hidden = " · special tokens hidden" if self.kept_keys() is not None else ""
        return f"{KIND_TITLES.get(selection.kind, selection.kind)} · {layer} · {head}{hidden}"


def layer_structure(maps: AttentionMaps, layer: int) -> str:
    """' (window 4)' or ' (global)' where a model mixes windowed and global layers; '' otherwise."""
    if maps.windows is None:
        return ""
    window = maps.window(layer)
    return " (global)" if window is None else f" (window {window:,})"


def head_structure(maps: AttentionMaps, head: int) -> str:
    """' · shares keys with heads 3–5 (KV 1)' under grouped-query attention; '' when each head has its own."""
    group = maps.kv_group(head)
    if len(group) <= 1:
        return ""
    if len(group) == maps.n_heads:
        return " · keys shared by every head (multi-query)"
    others = f"{group[0]}–{group[-1]}" if group == list(range(group[0], group[-1] + 1)) else ", ".join(map(str, group))
    return f" · shares keys with heads {others} (KV {maps.kv_head(head)})"
