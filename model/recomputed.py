"""Recomputed attention maps: exact weights and scores from stored queries, keys and lse.

``AttentionMaps.weights`` and ``.scores`` of a recomputed trace are ``RecomputedArray``s
(the protocol is in ``model.trace``). Each layer's ``LayerRecord`` holds what made its
scores: queries with the scale folded in ``(B, H, Tq, dh)``, keys once per key/value
head ``(B, KV, Tk, dh)``, the ``ScoreRecipe`` (mask, bias, soft-cap) and each query
row's log-sum-exp ``(B, H, Tq)``. A score is ``recipe(q · k)``, a weight
``exp(score − lse)``, computed in float32 for just the cells read.

What a read costs: cells × d_head multiply-adds, on the device the trace was taken on.
A head's tile of r × c cells at 8,192 tokens and d_head 64 is r · c · 64; the whole head
is 4 GFLOP. ``np.asarray`` of a whole map is refused above ``DENSE_LIMIT_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .recipe import ScoreRecipe
from .rowchunks import RowChunks
from .tiles import bin_edges, pool_axis, selection
from . import trace as trace_module
from .trace import TraceTooLarge, size_words

# Cells computed in one step of a read: 16 M cells, 64 MB of float32.
READ_CELLS = 1 << 24


@dataclass(frozen=True)
class LayerRecord:
    """What one layer's attention of one kind needs to recompute any of its cells."""

    queries: RowChunks  # (B, H, Tq, dh), scaled
    keys: RowChunks  # (B, KV, Tk, dh)
    lse: RowChunks  # (B, H, Tq)
    recipe: ScoreRecipe

    def truncated(self, n_queries: int, n_keys: int) -> "LayerRecord":
        return LayerRecord(self.queries.truncated(n_queries), self.keys.truncated(n_keys), self.lse.truncated(n_queries), self.recipe)


class RecomputedAttention:
    """Every layer of one attention kind of one batch row, recomputed on demand."""

    def __init__(self, layers: Sequence[LayerRecord], batch: int = 0) -> None:
        self.layers = tuple(layers)
        self.batch = batch
        first = self.layers[0]
        self.n_heads = first.queries.chunks[0].shape[1]
        self.n_kv_heads = first.keys.chunks[0].shape[1]
        self.shape = (len(self.layers), self.n_heads, first.queries.length, first.keys.length)
        self.device = first.queries.chunks[0].device

    def block(self, layer: int, heads: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: str) -> np.ndarray:
        """``(h, r, c)`` float32 weights or scores of ``heads`` × ``rows`` × ``cols`` of ``layer``."""
        out = np.empty((len(heads), len(rows), len(cols)), dtype=np.float32)
        if out.size == 0:
            return out
        step = max(1, READ_CELLS // max(1, len(heads) * len(cols)))
        for r0 in range(0, len(rows), step):
            out[:, r0 : r0 + step] = self._block(layer, heads, rows[r0 : r0 + step], cols, values)
        return out

    @torch.inference_mode()
    def _block(self, layer: int, heads: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: str) -> np.ndarray:
        record = self.layers[layer]
        device = self.device
        head_index = torch.as_tensor(heads, dtype=torch.long, device=device)
        kv_index = head_index // (self.n_heads // self.n_kv_heads)
        row_index = torch.as_tensor(rows, dtype=torch.long, device=device)
        col_index = torch.as_tensor(cols, dtype=torch.long, device=device)
        q = record.queries.whole((self.batch, head_index))[:, row_index]  # (h, r, dh)
        k = record.keys.whole((self.batch, kv_index))[:, col_index]  # (h, c, dh)
        scores = torch.matmul(q.float(), k.float().transpose(-2, -1))[None]  # (1, h, r, c)
        record.recipe.apply(scores, row_index, col_index, head_index, batch=self.batch)
        if values == "weights":
            lse = record.lse.whole((self.batch, head_index))[:, row_index]  # (h, r)
            seen = torch.isfinite(lse)[None, :, :, None]
            scores = torch.where(seen, (scores - lse[None, :, :, None]).exp_(), 0.0)
        return scores[0].cpu().numpy()

    def tile(self, layer: int, head: int, rows: slice, cols: slice, out_shape: tuple[int, int], values: str) -> np.ndarray:
        """As ``AttentionMaps.tile``: computed a band of whole output rows at a time."""
        row_positions, col_positions = selection(rows, self.shape[2]), selection(cols, self.shape[3])
        if len(row_positions) == 0 or len(col_positions) == 0:
            return np.zeros((min(out_shape[0], len(row_positions)), min(out_shape[1], len(col_positions))), np.float32)
        edges = bin_edges(len(row_positions), out_shape[0])
        band = max(1, READ_CELLS // len(col_positions))
        pooled_rows: list[np.ndarray] = []
        first = 0
        while first < len(edges) - 1:
            last = first + 1  # output rows [first, last) computed together
            while last < len(edges) - 1 and edges[last + 1] - edges[first] <= band:
                last += 1
            part = self.block(layer, np.array([head]), row_positions[edges[first] : edges[last]], col_positions, values)[0]
            pooled = np.maximum.reduceat(part, edges[first:last] - edges[first], axis=0)  # (last − first, c)
            pooled_rows.append(pool_axis(pooled, 1, out_shape[1]))
            first = last
        return np.ascontiguousarray(np.concatenate(pooled_rows, axis=0), dtype=np.float32)

    def row(self, layer: int, head: int, query: int, values: str) -> np.ndarray:
        query = _position(query, self.shape[2])
        return self.block(layer, np.array([head]), np.array([query]), np.arange(self.shape[3]), values)[0, 0]


def _position(index: int, n: int) -> int:
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for an axis of {n}")
    return index + n if index < 0 else index


class RecomputedArray:
    """``weights`` or ``scores`` of a ``RecomputedAttention``, read like a numpy array.

    Supports ``shape``, ``ndim``, ``dtype``, ``len()``, indexing with ints, slices,
    ``...`` and integer (or boolean) 1-D arrays with numpy's result shapes, ``tile`` and
    ``row``; ``np.asarray`` materialises it unless that exceeds ``DENSE_LIMIT_BYTES``.
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(self, source: RecomputedAttention, values: str) -> None:
        self.source = source
        self.values = values

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.source.shape

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * 4

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"RecomputedArray({self.values}, shape={self.shape})"

    def _refuse_above_limit(self, cells: int, what: str) -> None:
        limit = trace_module.DENSE_LIMIT_BYTES
        if cells * 4 > limit:
            raise TraceTooLarge(
                f"{what} would take {size_words(cells * 4)} as a dense array, above the "
                f"{size_words(limit)} limit; read tiles, rows or fewer layers and heads instead."
            )

    def __getitem__(self, key: Any) -> Any:
        axes = _normalised_key(key, self.shape)
        # Compute the outer block of every position any axis asks for, then let numpy
        # apply the index to it: the result has exactly numpy's shape and order.
        outer, remapped = [], []
        for item, n in zip(axes, self.shape):
            if isinstance(item, (int, np.integer)):
                outer.append(np.array([_position(int(item), n)]))
                remapped.append(0)
            elif isinstance(item, slice):
                outer.append(selection(item, n))
                remapped.append(slice(None))
            else:
                wanted = np.where(item < 0, item + n, item)
                unique = np.unique(wanted)
                outer.append(unique)
                remapped.append(np.searchsorted(unique, wanted))
        cells = int(np.prod([len(positions) for positions in outer]))
        self._refuse_above_limit(cells, "That selection of recomputed attention")
        block = np.empty([len(positions) for positions in outer], dtype=np.float32)  # (l, h, r, c)
        for i, layer in enumerate(outer[0]):
            block[i] = self.source.block(int(layer), outer[1], outer[2], outer[3], self.values)
        return block[tuple(remapped)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self._refuse_above_limit(self.size, f"All of this {self.values} map ({' × '.join(map(str, self.shape))})")
        whole = self[...]
        return whole if dtype is None else whole.astype(dtype)

    def astype(self, dtype: Any, copy: bool = True) -> np.ndarray:
        return np.asarray(self).astype(dtype, copy=False)

    def tile(self, layer: int, head: int, rows: slice, cols: slice, out_shape: tuple[int, int]) -> np.ndarray:
        return self.source.tile(layer, head, rows, cols, out_shape, self.values)

    def row(self, layer: int, head: int, query: int) -> np.ndarray:
        return self.source.row(layer, head, query, self.values)


def _normalised_key(key: Any, shape: tuple[int, ...]) -> list[Any]:
    """One item per axis: an int, a slice or a 1-D int64 array."""
    items = list(key) if isinstance(key, tuple) else [key]
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in [item for item in items if not isinstance(item, np.ndarray)]:
        at = next(i for i, item in enumerate(items) if item is Ellipsis)
        fill = len(shape) - (len(items) - 1)
        items = items[:at] + [slice(None)] * fill + items[at + 1 :]
    if len(items) > len(shape):
        raise IndexError(f"too many indices for an array of {len(shape)} dimensions")
    items += [slice(None)] * (len(shape) - len(items))
    normalised: list[Any] = []
    for item, n in zip(items, shape):
        if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            normalised.append(int(item))
        elif isinstance(item, slice):
            normalised.append(item)
        else:
            array = np.asarray(item)
            if array.dtype == bool:
                if array.shape != (n,):
                    raise IndexError(f"a boolean index must have {n} entries, not {array.shape}")
                array = np.flatnonzero(array)
            if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
                raise IndexError("recomputed attention takes ints, slices, '...' and 1-D integer arrays as indices")
            if ((array < -n) | (array >= n)).any():
                raise IndexError(f"an index is out of range for an axis of {n}")
            normalised.append(array.astype(np.int64))
    return normalised
