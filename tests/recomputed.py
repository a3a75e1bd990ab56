"""A stand-in for attention maps that recompute their numbers on indexing.

``recomputed(maps)`` wraps a dense trace's maps so every reader sees what a long input
gives it: ``weights`` / ``scores`` index like arrays, return float32, record the largest
block they handed out, and refuse ``np.asarray`` of the whole; ``tile`` max-pools a region.
Tests run the explorer's readers on it and compare with the dense arrays.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from explorer.core.head_matrix import pool_to
from model.trace import AttentionMaps, Trace


class RecomputedArray:
    """An ``(L, H, Q, K)`` array-like over ``dense`` that refuses to be read whole."""

    def __init__(self, dense: np.ndarray, cap_cells: int = 0) -> None:
        self._dense = np.asarray(dense, dtype=np.float32)
        self.shape = self._dense.shape
        self.ndim = self._dense.ndim
        self.dtype = np.dtype(np.float32)
        self.cap_cells = cap_cells
        self.largest = 0  # the most cells one index handed out
        self.reads = 0

    def __getitem__(self, key) -> np.ndarray:
        block = np.array(self._dense[key], dtype=np.float32)
        self.largest = max(self.largest, block.size)
        self.reads += 1
        return block

    def __array__(self, dtype=None, copy=None):
        if self._dense.size > self.cap_cells:
            raise ValueError(f"these attention maps are recomputed on demand; {self._dense.size:,} cells are too many to hold")
        return self._dense if dtype is None else self._dense.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def tile(self, layer, head, rows, cols, out_shape) -> np.ndarray:
        self.reads += 1
        return pool_to(self._dense[layer, head, rows, cols], out_shape)

    def row(self, layer, head, query) -> np.ndarray:
        self.reads += 1
        return np.array(self._dense[layer, head, query], dtype=np.float32)


def recomputed(maps: AttentionMaps) -> AttentionMaps:
    """``maps`` as recomputed maps: array-likes with ``tile`` and ``row``, so ``is_dense`` is False."""
    weights, scores = RecomputedArray(maps.weights), RecomputedArray(maps.scores)
    lazy = replace(maps, weights=weights, scores=scores)
    if lazy.overview is None:
        from explorer.core.thumbnails import layer_mean_thumbnails, layer_thumbnails

        lazy.overview = layer_thumbnails(maps.weights)
        lazy.overview_means = layer_mean_thumbnails(maps.weights)
    assert not lazy.is_dense
    return lazy


def recomputed_trace(trace: Trace) -> Trace:
    """``trace`` with every kind's maps recomputed (see ``recomputed``)."""
    return replace(trace, attention={kind: recomputed(maps) for kind, maps in trace.attention.items()})
