"""The attention trace: what one forward pass attended to, read through one API.

A trace is what every consumer — the CLI's ``dump``, the desktop app, exports and
analyses — reads. Its code needs no torch.

How attention is stored. ``AttentionMaps.weights`` and ``.scores`` are ``(L, H, Q, K)``
and come in two storages, behind the same reading API:

- **dense** (``maps.is_dense``): numpy arrays, float32 (or float16 when asked), every
  cell stored. Small inputs, where computing and keeping the n² cells is cheaper than
  anything else.
- **recomputed** (``not maps.is_dense``): array-likes (``model.recomputed``) that keep
  each layer's queries and keys as they enter the score, the recipe of its mask and
  bias, and every query row's log-sum-exp; a cell is ``exp(score − lse)``, recomputed
  exactly (float32) for the cells read. Memory grows as layers · heads · n · d_head.

The protocol of ``weights`` and ``scores``, which every reader may rely on in both
storages:

- ``.shape`` ``(L, H, Q, K)``, ``.ndim`` 4, ``.dtype``, ``len()``;
- ``[...]`` with ints, slices (steps too), ``...`` and 1-D integer arrays on any of the
  four axes returns a float numpy array of exactly numpy's result shape;
- ``np.asarray(maps.weights)`` materialises the whole; a recomputed map refuses with
  ``TraceTooLarge`` (one sentence naming the size) above ``DENSE_LIMIT_BYTES``, and so
  does an index whose result would be larger.

And on ``AttentionMaps``, cheapest for what a viewer draws:

- ``tile(layer, head, rows, cols, out_shape, values)``: a region max-pooled to at most
  ``out_shape`` cells (``model.tiles``: exact cells when the output is at least the
  region; for scores the maximum of the finite values, -inf where all are masked);
- ``row(layer, head, query, values)``: one query's ``(K,)`` distribution or scores;
- ``overview`` / ``overview_means``: every head's thumbnail, pooled during the forward.

Readers that only use these never care which storage a trace has; a reader that needs
every cell (rollout, flow) checks the size first and says why it stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .tiles import pool_region, selection

KINDS = ("encoder_self", "decoder_self", "cross")
# Which token axis each attention kind's queries and keys run along.
KIND_AXES = {
    "encoder_self": ("encoder", "encoder"),
    "decoder_self": ("decoder", "decoder"),
    "cross": ("decoder", "encoder"),
}
KIND_TITLES = {
    "encoder_self": "encoder self-attention",
    "decoder_self": "decoder self-attention",
    "cross": "cross-attention (decoder → encoder)",
}


@dataclass
class TokenAxis:
    """The tokens along one side of an attention matrix."""

    ids: np.ndarray  # (T,) int64
    tokens: list[str]
    special: np.ndarray  # (T,) bool: [CLS], </s>, BOS, …
    padding: np.ndarray  # (T,) bool
    # (T,) bool: tokens a chat template wrote around the user's text; None without one.
    template: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tokens)


# Above this many bytes a recomputed map refuses to materialise, and ``Trace.arrays``
# refuses a dump: 2 GB is more than a viewer or a file reader wants in one piece.
DENSE_LIMIT_BYTES = 2 * 10**9
VALUES = ("weights", "scores")


class TraceTooLarge(ValueError):
    """A dense copy of attention that would exceed ``DENSE_LIMIT_BYTES``; the message is one sentence."""


def size_words(nbytes: float) -> str:
    """``nbytes`` as a person reads it: ``"38.7 GB"``, ``"512 MB"``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{int(nbytes)} bytes"


@dataclass
class AttentionMaps:
    """All layers and heads of one attention kind (the module docstring has the protocol).

    Dense arrays are float32, or float16 for traces asked to be stored at half
    precision (``AttentionModel.trace``'s ``precision``); recomputed maps are float32.
    Readers that need float32 convert.
    """

    weights: Any  # (L, H, Q, K): softmax probabilities; np.ndarray or a recomputed array-like
    scores: Any  # (L, H, Q, K): what entered the softmax; masked entries are -inf
    # Asked for with ``AttentionModel.trace(overview_side=...)``: the weights max-pooled
    # to at most that many cells a side, per head and for each layer's mean over heads.
    overview: np.ndarray | None = None  # (L, H, q, k) float32
    overview_means: np.ndarray | None = None  # (L, q, k) float32
    # The attention's structure, for showing it: ``kv_heads`` (H,) int is the key/value
    # head each query head reads (grouped-query attention shares one among several);
    # ``windows`` holds each layer's sliding window in tokens, None where it is global.
    kv_heads: np.ndarray | None = None
    windows: tuple[int | None, ...] | None = None

    @property
    def n_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights.shape[1]

    def kv_head(self, head: int) -> int:
        """The key/value head query head ``head`` reads (its own when nothing is shared)."""
        return int(self.kv_heads[head]) if self.kv_heads is not None else head

    def kv_group(self, head: int) -> list[int]:
        """Every query head that reads the same keys and values as ``head`` (itself included)."""
        if self.kv_heads is None:
            return [head]
        return [int(other) for other in np.flatnonzero(self.kv_heads == self.kv_heads[head])]

    def window(self, layer: int) -> int | None:
        """Layer ``layer``'s sliding window in tokens, or None when it attends to every key."""
        return self.windows[layer] if self.windows is not None else None

    @property
    def is_dense(self) -> bool:
        """True when every cell is stored (numpy arrays); False when cells are recomputed."""
        return isinstance(self.weights, np.ndarray)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(L, H, Q, K)``."""
        return tuple(self.weights.shape)  # type: ignore[return-value]

    def values(self, values: str = "weights") -> Any:
        """``weights`` or ``scores`` by name."""
        if values not in VALUES:
            raise ValueError(f"attention values are 'weights' or 'scores', not {values!r}")
        return self.weights if values == "weights" else self.scores

    def tile(
        self,
        layer: int,
        head: int,
        rows: slice,
        cols: slice,
        out_shape: tuple[int, int],
        values: str = "weights",
    ) -> np.ndarray:
        """Rows ``rows`` × keys ``cols`` of one head, max-pooled to at most ``out_shape``.

        Returns ``(min(r, R), min(c, C))`` float32 for a region of ``R × C`` cells: exact
        cells where the output is at least the region, block maxima where it is smaller
        (``model.tiles``). Costs the region's cells on a dense map and their
        recomputation (rows × cols × d_head) on a recomputed one.
        """
        source = self.values(values)
        if not self.is_dense:
            return source.tile(layer, head, rows, cols, out_shape)
        return pool_region(source[layer, head][rows, cols], out_shape)  # (r, c)

    def row(self, layer: int, head: int, query: int, values: str = "weights") -> np.ndarray:
        """One query's ``(K,)`` float32 weights (its softmax distribution) or scores."""
        source = self.values(values)
        if not self.is_dense:
            return source.row(layer, head, query)
        return np.asarray(source[layer, head, query], dtype=np.float32)  # (K,)

    def selected(self, layers: Any = None, heads: Any = None, rows: Any = None) -> "AttentionMaps":
        """A dense copy of some layers, heads and query rows (None: all), every key kept.

        Refuses with ``TraceTooLarge`` when the copy would exceed ``DENSE_LIMIT_BYTES``.
        """
        L, H, Q, K = self.shape
        picked = [_positions(layers, L), _positions(heads, H), _positions(rows, Q)]
        nbytes = 2 * 4 * len(picked[0]) * len(picked[1]) * len(picked[2]) * K
        if nbytes > DENSE_LIMIT_BYTES:
            raise TraceTooLarge(
                f"That selection would take {size_words(nbytes)} as dense weights and scores, above the "
                f"{size_words(DENSE_LIMIT_BYTES)} limit; select fewer layers, heads or rows."
            )
        return AttentionMaps(
            weights=_outer(self.weights, picked),  # (l, h, q, K)
            scores=_outer(self.scores, picked),  # (l, h, q, K)
            kv_heads=self.kv_heads[picked[1]] if self.kv_heads is not None else None,
            windows=tuple(self.windows[i] for i in picked[0]) if self.windows is not None else None,
        )


def _outer(values: Any, picked: list[np.ndarray]) -> np.ndarray:
    """``(l, h, q, K)`` float32: the chosen layers × heads × rows, every key."""
    if isinstance(values, np.ndarray):
        return np.asarray(values[np.ix_(*picked)], dtype=np.float32)
    layers, heads, rows = picked
    out = np.empty((len(layers), len(heads), len(rows), values.shape[3]), dtype=np.float32)
    for i, layer in enumerate(layers):
        for j, head in enumerate(heads):
            out[i, j] = values[int(layer), int(head), rows]  # (q, K), recomputed for these rows only
    return out


def _positions(chosen: Any, n: int) -> np.ndarray:
    """``chosen`` (None, an int, a slice or a sequence of ints) as sorted-as-given positions < n."""
    if chosen is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(chosen, slice):
        return selection(chosen, n)
    values = np.atleast_1d(np.asarray(chosen, dtype=np.int64))
    if values.ndim != 1 or ((values < -n) | (values >= n)).any():
        raise IndexError(f"a selection must be positions from 0 to {n - 1}, got {chosen!r}")
    return np.where(values < 0, values + n, values)


@dataclass
class Trace:
    """One input's attention, every kind, layer and head, with its token axes."""

    model_name: str
    architecture: str
    encoder: TokenAxis | None
    decoder: TokenAxis | None
    attention: dict[str, AttentionMaps]
    # The decoder side was produced by greedy generation rather than given.
    generated: bool = False
    # Sentences for the user: truncation and similar.
    notices: list[str] = field(default_factory=list)
    # Milliseconds the tokenizer took on this input (the rest of trace() is the model).
    tokenise_ms: float = 0.0
    # (T, d_model) float32: the decoder's last hidden states, from which its next-token
    # predictions are computed on demand (``explorer.next_token.next_token_top``); None
    # for models without a decoder.
    decoder_hidden: np.ndarray | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind in KINDS if kind in self.attention)

    def axes(self, kind: str) -> tuple[TokenAxis, TokenAxis]:
        """(query axis, key axis) of an attention kind."""
        query_side, key_side = KIND_AXES[kind]
        query_axis, key_axis = getattr(self, query_side), getattr(self, key_side)
        if query_axis is None or key_axis is None or kind not in self.attention:
            raise KeyError(f"this trace has no {KIND_TITLES[kind]}")
        return query_axis, key_axis

    def dense_nbytes(self, layers: Any = None, heads: Any = None, rows: Any = None) -> int:
        """Bytes of the float32 weights and scores ``arrays`` would write for that selection."""
        total = 0
        for kind in self.kinds:
            L, H, Q, K = self.attention[kind].shape
            total += 2 * 4 * len(_positions(layers, L)) * len(_positions(heads, H)) * len(_positions(rows, Q)) * K
        return total

    def arrays(
        self,
        layers: Sequence[int] | slice | None = None,
        heads: Sequence[int] | slice | None = None,
        rows: Sequence[int] | slice | None = None,
    ) -> dict[str, np.ndarray]:
        """The trace as flat arrays, the layout of ``attention-explorer dump``'s NPZ.

        Every kind's float32 weights ``(L, H, Q, K)`` under its name and scores under
        ``<kind>_scores``, and each token axis's ids and tokens. ``layers``, ``heads`` and
        ``rows`` (query positions) select parts, None meaning all; with any selection the
        positions taken are written too (``<kind>_layers``, ``_heads``, ``_rows``). A dump
        above ``DENSE_LIMIT_BYTES`` is refused with ``TraceTooLarge``, naming its size.
        """
        nbytes = self.dense_nbytes(layers, heads, rows)
        if nbytes > DENSE_LIMIT_BYTES:
            raise TraceTooLarge(
                f"A dense dump of this trace would take {size_words(nbytes)}, above the "
                f"{size_words(DENSE_LIMIT_BYTES)} limit; select layers, heads or query rows "
                "(dump --layers, --heads, --rows) to write a part."
            )
        arrays: dict[str, np.ndarray] = {}
        chosen = layers is not None or heads is not None or rows is not None
        for kind in self.kinds:
            maps = self.attention[kind]
            if chosen:
                L, H, Q, _ = maps.shape
                part = maps.selected(layers, heads, rows)
                arrays[kind], arrays[f"{kind}_scores"] = part.weights, part.scores
                arrays[f"{kind}_layers"] = _positions(layers, L)
                arrays[f"{kind}_heads"] = _positions(heads, H)
                arrays[f"{kind}_rows"] = _positions(rows, Q)
            else:
                arrays[kind] = np.asarray(maps.weights, dtype=np.float32)
                arrays[f"{kind}_scores"] = np.asarray(maps.scores, dtype=np.float32)
        for side in ("encoder", "decoder"):
            axis: TokenAxis | None = getattr(self, side)
            if axis is not None:
                arrays[f"{side}_ids"] = axis.ids.astype(np.int64, copy=False)
                arrays[f"{side}_tokens"] = np.array(axis.tokens, dtype=np.str_)
        return arrays
