"""Value-weighted attention (Kobayashi et al., EMNLP 2020): ‖α_ij f(x_j)‖ read like the weights.

A head's output at query i is Σ_j α_ij f(x_j) with f(x_j) = (x_j W_V + b_V) W_O^h, so
α_ij ‖f(x_j)‖ is how much key j moves the output, where α_ij alone is only how much it is
weighted. The trace holds ‖f(x_j)‖ per layer, head and key (``AttentionMaps.value_norms``,
made by ``model.probes`` during the forward); ``ValueWeighted`` multiplies them into
whatever part of the weights is read, so nothing of size (L, H, Q, K) is ever made.

The per-layer view is the norm of the summed heads, ‖Σ_h α^h_ij f^h(x_j)‖ (what the
whole layer's attention adds for key j), computed from the heads' Gram matrix
G[h, g, j] = f^h(x_j) · f^g(x_j) when the trace kept it (``value_gram``):
‖Σ_h α^h_ij f^h(x_j)‖² = Σ_h α^h_ij Σ_g α^g_ij G[h, g, j]. Numpy only.
"""

from __future__ import annotations

import numpy as np

from model.trace import AttentionMaps

VALUE_WEIGHTED = "value-weighted"
# The summed-heads norm of a layer costs H² · Q · K multiply-adds; above this many it is
# not computed on the GUI thread's behalf and the mean over heads is shown, saying so
# (GPT-2 small's 12 heads: up to about 680 tokens).
SUMMED_CAP = 2**26


def has_value_norms(maps: AttentionMaps) -> bool:
    return getattr(maps, "value_norms", None) is not None


class ValueWeighted:
    """α_ij · ‖f(x_j)‖ of every layer, head, query and key, computed for what is indexed.

    Supports ``.shape``, ``len``, iteration over layers, and indexing by ints and slices
    on the layer and head axes, ints, slices and 1-D int arrays on the query axis (anything
    numpy accepts on the key axis), like ``AttentionMaps.weights``.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, maps: AttentionMaps) -> None:
        if not has_value_norms(maps):
            raise ValueError("this trace holds no value-vector norms, so it has no value-weighted attention")
        self.maps = maps
        self.weights = maps.weights
        self.norms = maps.value_norms  # (L, H, K)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weights.shape)

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self):
        for layer in range(self.shape[0]):
            yield self[layer]

    def __getitem__(self, index) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        if any(part is Ellipsis for part in index):
            raise IndexError("value-weighted attention is indexed by layer, head, query, key (no ...)")
        layer, head, query, key = (*index, *(slice(None),) * (4 - len(index)))
        for part in (layer, head):
            if not isinstance(part, (int, np.integer, slice)):
                raise IndexError("value-weighted attention takes ints or slices for layer and head")
        if not isinstance(query, (int, np.integer, slice)) and np.ndim(query) != 1:
            raise IndexError("value-weighted attention takes an int, a slice or a list of positions for the query")
        weights = np.asarray(self.weights[layer, head, query, key], dtype=np.float32)
        norms = np.asarray(self.norms[layer, head], dtype=np.float32)  # (..., K)
        if not isinstance(query, (int, np.integer)):
            norms = norms[..., None, :]  # a query axis to broadcast over
        return weights * norms[..., key]

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype or np.float32, copy=False)


def layer_summed(maps: AttentionMaps, layer: int, queries: slice = slice(None)) -> np.ndarray | None:
    """(Q, K) ‖Σ_h α^h_ij f^h(x_j)‖ of one layer, or None when the trace kept no Gram matrix.

    One head at a time: the temporaries stay at Q × K.
    """
    gram = getattr(maps, "value_gram", None)
    if gram is None or summed_too_costly(maps):
        return None
    weights = np.asarray(maps.weights[layer, :, queries], dtype=np.float64)  # (H, Q, K)
    layer_gram = np.asarray(gram[layer], dtype=np.float64)  # (H, H, K)
    squared = np.zeros(weights.shape[1:], dtype=np.float64)
    for head in range(weights.shape[0]):
        # Σ_g α^g_ij G[h, g, j] for every (i, j), then times α^h_ij.
        mixed = np.einsum("gqk,gk->qk", weights, layer_gram[head])
        squared += weights[head] * mixed
    return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)


def summed_too_costly(maps: AttentionMaps) -> bool:
    _, H, Q, K = maps.weights.shape
    return H * H * Q * K > SUMMED_CAP


def summed_refusal(maps: AttentionMaps) -> str:
    """Why a layer's summed-heads norm is missing ('' when it is there)."""
    if not has_value_norms(maps):
        return "this trace holds no value vectors"
    if getattr(maps, "value_gram", None) is None:
        return "a trace this long keeps no Gram matrix of the heads' value vectors: mean over heads shown"
    if summed_too_costly(maps):
        return f"the summed heads' norm costs over {SUMMED_CAP:,} steps at this length: mean over heads shown"
    return ""
