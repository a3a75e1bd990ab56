"""The attention trace: what one forward pass attended to, as plain numpy arrays.

A trace is what every consumer — the CLI's ``dump``, the desktop app, exports and
analyses — reads. It holds no torch tensors, so code that only displays it needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


@dataclass
class AttentionMaps:
    """All layers and heads of one attention kind.

    Both arrays are float32, or float16 for traces too large to keep at full precision
    (``AttentionModel.trace``'s ``precision``); readers that need float32 convert.
    """

    weights: np.ndarray  # (L, H, Q, K): softmax probabilities
    scores: np.ndarray  # (L, H, Q, K): what entered the softmax; masked entries are -inf
    # Asked for with ``AttentionModel.trace(overview_side=...)``: the weights max-pooled
    # to at most that many cells a side, per head and for each layer's mean over heads.
    overview: np.ndarray | None = None  # (L, H, q, k) float32
    overview_means: np.ndarray | None = None  # (L, q, k) float32
    # The attention's structure, for showing it: ``kv_heads`` (H,) int is the key/value
    # head each query head reads (grouped-query attention shares one among several);
    # ``windows`` holds each layer's sliding window in tokens, None where it is global.
    kv_heads: np.ndarray | None = None
    windows: tuple[int | None, ...] | None = None
    # Value-weighted attention (``model.probes``): ‖f(x_j)‖ = ‖(x_j W_V + b_V) W_O^h‖ of
    # every layer, head and key, (L, H, K) float32; and the heads' Gram matrix per key,
    # G[l, h, g, j] = f^h(x_j) · f^g(x_j), (L, H, H, K), kept under ``probes.VALUE_GRAM_CAP``
    # values, for the norm of the summed heads.
    value_norms: np.ndarray | None = None
    value_gram: np.ndarray | None = None

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
    # (L + 1, T, d_model) float32: the decoder's residual stream entering each layer and
    # after the last (before the final norm), for the logit lens; None for models without
    # a decoder and for inputs over ``probes.RESIDUAL_CAP`` values.
    decoder_residuals: np.ndarray | None = None

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

    def arrays(self) -> dict[str, np.ndarray]:
        """The trace as flat arrays, the layout of ``attention-explorer dump``'s NPZ."""
        arrays: dict[str, np.ndarray] = {}
        for kind in self.kinds:
            arrays[kind] = self.attention[kind].weights.astype(np.float32, copy=False)
            arrays[f"{kind}_scores"] = self.attention[kind].scores.astype(np.float32, copy=False)
        for side in ("encoder", "decoder"):
            axis: TokenAxis | None = getattr(self, side)
            if axis is not None:
                arrays[f"{side}_ids"] = axis.ids.astype(np.int64, copy=False)
                arrays[f"{side}_tokens"] = np.array(axis.tokens, dtype=np.str_)
        return arrays
