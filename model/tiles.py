"""Regions of an attention map at a requested resolution: the pooling every reader shares.

A head view of an 8,192-token input shows a few hundred pixels a side, so a region of
the map is read max-pooled to the output size: output cell ``i`` covers rows
``edges[i]:edges[i + 1]`` with ``edges = floor(arange(out + 1) · n / out)``. When the
output is at least as large as the region each cell is one cell of the map (exact). The
maximum keeps a sharply attended key visible when zoomed out; for scores it is the
maximum over the finite (unmasked) values, and -inf only where every covered cell is
masked. Dense and recomputed maps both pool with these functions, so they agree.

Numpy only: the explorer's core reads these without torch.
"""

from __future__ import annotations

import numpy as np


def selection(index: slice, n: int) -> np.ndarray:
    """The positions ``index`` selects on an axis of ``n``, as an int64 array."""
    return np.arange(*index.indices(n), dtype=np.int64)


def bin_edges(n: int, out: int) -> np.ndarray:
    """``(min(out, n) + 1,)`` edges splitting ``n`` cells into at most ``out`` non-empty bins."""
    if out < 1:
        raise ValueError(f"a tile needs at least one cell a side, not {out}")
    out = min(out, n)
    return (np.arange(out + 1, dtype=np.int64) * n) // max(out, 1)


def pool_axis(values: np.ndarray, axis: int, out: int) -> np.ndarray:
    """Max-pool ``values`` along ``axis`` to at most ``out`` cells (unchanged if it fits)."""
    n = values.shape[axis]
    if n <= out or n == 0:
        return values
    return np.maximum.reduceat(values, bin_edges(n, out)[:-1], axis=axis)


def pool_region(region: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """``(R, C)`` → ``(min(r, R), min(c, C))`` float32: the maximum of each covered block."""
    pooled = pool_axis(np.asarray(region, dtype=np.float32), 0, out_shape[0])
    return np.ascontiguousarray(pool_axis(pooled, 1, out_shape[1]), dtype=np.float32)
