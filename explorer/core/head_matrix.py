"""One head's matrix as the views read it: rows, tiles and cells, never more than asked for.

A long trace's attention is not kept as numbers: ``AttentionMaps.weights`` / ``.scores``
may be array-likes that recompute what is indexed from the stored queries, keys and
log-sum-exps (``model.trace``), and refuse to become one whole array. Every reader in the
explorer therefore goes through ``HeadMatrix``: the query rows it needs (``rows``, ``row``,
``cell``), or a tile of a region pooled to the resolution it is looked at (``tile``), made
from blocks of rows so no full ``(Q, K)`` matrix of a long input is ever allocated. Small,
dense traces take the same path at the cost of slicing.

``HeadMatrix`` also carries the two things the views add to the model's numbers: the
special-token filter (kept key columns, weights renormalised over them) and the mean over
heads (``head`` None; for value-weighted attention the norm of the summed heads where the
trace can give it, ``core.value_weighted.layer_summed``). Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from model.trace import AttentionMaps

from .special import drop_keys, mean_over_heads
from .value_weighted import VALUE_WEIGHTED, ValueWeighted, layer_summed

# Cells read at once when a tile or a statistic is made from rows (16 MB of float32).
ROW_BLOCK_CELLS = 1 << 22
# A tile that a newer request can replace (``should_stop``) is made in smaller blocks: the
# next keystroke's forward waits for at most one of them (1,024² cells of a recomputed
# head, about 25 ms here), not for the whole tile (2,048² cells: about 100 ms).
STOPPABLE_BLOCK_CELLS = 1 << 20
# A whole head matrix is handed out densely up to this many cells (64 MB of float32);
# beyond it a reader asks for rows or tiles.
DENSE_CELLS = 1 << 24


class TileSuperseded(Exception):
    """A tile's ``should_stop`` said it is no longer wanted; nothing of it is returned."""


def is_dense(maps: AttentionMaps) -> bool:
    """Whether ``maps`` holds its weights as numbers (True) or recomputes them on indexing."""
    return bool(maps.is_dense)


def values_of(maps: AttentionMaps, values: str):
    """``maps.weights``, ``maps.scores`` or their value-weighted norms (``ValueWeighted``):
    an ``(L, H, Q, K)`` array or array-like."""
    if values == VALUE_WEIGHTED:
        return ValueWeighted(maps)
    if values not in ("weights", "scores"):
        raise ValueError(f"values must be weights, scores or value-weighted, not {values!r}")
    return maps.weights if values == "weights" else maps.scores


def bin_starts(length: int, bins: int) -> np.ndarray:
    """(bins,) start index of each of ``bins`` near-equal bins over ``length`` cells."""
    bins = max(min(bins, length), 1)
    return (np.arange(bins, dtype=np.int64) * length) // bins


def pool_to(matrix: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """Max-pool the last two axes of ``matrix`` into exactly ``out_shape`` near-equal bins.

    The maximum, as the overview's thumbnails: one sharply attended key stays visible when
    thousands of tokens share a pixel. NaN (cells drawn empty) loses to any number; a bin of
    nothing but NaN stays NaN. A side already at or below its bin count is left exact.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    rows, columns = matrix.shape[-2:]
    if rows == 0 or columns == 0:
        return matrix
    out_rows, out_columns = min(out_shape[0], rows), min(out_shape[1], columns)
    if out_columns < columns:
        matrix = np.fmax.reduceat(matrix, bin_starts(columns, out_columns), axis=-1)
    if out_rows < rows:
        matrix = np.fmax.reduceat(matrix, bin_starts(rows, out_rows), axis=-2)
    return matrix


@dataclass(frozen=True, eq=False)
class HeadMatrix:
    """One head of one layer (or the mean over the layer's heads), as the views see it.

    Parameters
    ----------
    maps:
        The attention kind's maps (dense or recomputed).
    layer, head:
        Which matrix; ``head`` None is the mean over heads (``core.special.mean_over_heads``).
    keep:
        ``(K,)`` bool of the key columns the view keeps (the special-token filter), or None.
    window_cut:
        Mark keys a sliding window cut off as NaN in ``display`` tiles (see ``HeadView.matrix``);
        ``causal`` tells those apart from a decoder's future keys.
    """

    maps: AttentionMaps
    layer: int
    head: int | None
    keep: np.ndarray | None = None
    window_cut: bool = False
    causal: bool = False

    # -- shape -------------------------------------------------------------------------
    @cached_property
    def columns(self) -> np.ndarray | None:
        """(kept,) original key index of each column, or None when every key is kept."""
        return None if self.keep is None else np.flatnonzero(self.keep)

    @property
    def shape(self) -> tuple[int, int]:
        _layers, _heads, queries, keys = self.maps.weights.shape
        return queries, keys if self.columns is None else len(self.columns)

    @property
    def dense(self) -> bool:
        return is_dense(self.maps)

    # -- rows --------------------------------------------------------------------------
    def rows(self, rows: slice | np.ndarray, values: str = "weights", columns: slice = slice(None)) -> np.ndarray:
        """``(r, c)`` float32 exact values of query rows ``rows`` (a slice or increasing
        positions) and (filtered) key columns ``columns``.

        Recomputed maps are asked only for these rows (and, without a filter, these columns);
        with the special-token filter whole rows are read, since each is renormalised.
        """
        if values == VALUE_WEIGHTED and self.head is None:
            summed = layer_summed(self.maps, self.layer, rows)  # (r, K), or None where it is not kept
            if summed is not None:
                return drop_keys(summed, self.keep, values)[..., columns]
        raw = values_of(self.maps, values)
        head = slice(None) if self.head is None else self.head
        if self.dense or self.columns is not None:
            # Whole rows: the filter renormalises each over its kept keys.
            block = np.asarray(raw[self.layer, head, rows], dtype=np.float32)  # (r, K) or (H, r, K)
            block = drop_keys(block, self.keep, values)[..., columns]
        else:
            # Only ints and slices: the maps recompute just this block.
            block = np.asarray(raw[self.layer, head, rows, columns], dtype=np.float32)
        if self.head is None:
            block = mean_over_heads(block)
        return block

    def row(self, query: int, values: str = "weights") -> np.ndarray:
        """``(kept,)`` one query row."""
        return self.rows(slice(query, query + 1), values)[0]

    def cell(self, query: int, key: int) -> tuple[float, float]:
        """(probability, raw score) of one cell (``key`` counts kept columns)."""
        return (
            float(self.rows(slice(query, query + 1), "weights", slice(key, key + 1))[0, 0]),
            float(self.rows(slice(query, query + 1), "scores", slice(key, key + 1))[0, 0]),
        )

    def matrix(self, values: str = "weights") -> np.ndarray:
        """The whole ``(Q, kept)`` matrix; refused with a sentence beyond ``DENSE_CELLS``."""
        queries, keys = self.shape
        if queries * keys > DENSE_CELLS:
            raise ValueError(
                f"one head of this input is {queries:,} × {keys:,} cells ({queries * keys * 4 / 1e9:.1f} GB as float32); "
                "it is shown and exported as tiles of the region looked at"
            )
        return self.rows(slice(None), values)

    # -- tiles -------------------------------------------------------------------------
    def tile(
        self,
        rows: slice,
        columns: slice,
        out_shape: tuple[int, int],
        values: str = "weights",
        display: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """``(r, c)`` the region ``rows`` × ``columns`` max-pooled to at most ``out_shape``.

        Exact cells where ``out_shape`` covers the region. ``display`` marks keys a window
        cut off as NaN (drawn empty) before pooling, as ``HeadView.matrix`` does.
        Recomputed maps of one unfiltered head are asked for the tile itself
        (``AttentionMaps.tile``); everything else is pooled here from blocks of rows, each
        bin of rows complete in one block, so no more than ``ROW_BLOCK_CELLS`` are held.
        With ``should_stop`` the tile is always made block by block, of at most
        ``STOPPABLE_BLOCK_CELLS``, and ``should_stop()`` is asked before each block; True
        raises ``TileSuperseded`` (a costly tile on the worker that a newer request replaced
        gives the worker back within one block).
        """
        queries, keys = self.shape
        r0, r1, _ = rows.indices(queries)
        c0, c1, _ = columns.indices(keys)
        region_rows, region_columns = max(r1 - r0, 0), max(c1 - c0, 0)
        out_rows, out_columns = min(out_shape[0], region_rows), min(out_shape[1], region_columns)
        if region_rows == 0 or region_columns == 0:
            return np.zeros((region_rows, region_columns), dtype=np.float32)
        mark = display and self.window_cut and values == "weights"
        tiler = self.maps.tile
        fast = values in ("weights", "scores")  # what the maps' own tiles hold
        if fast and not self.dense and self.head is not None and self.columns is None and should_stop is None:
            tile = np.asarray(tiler(self.layer, self.head, slice(r0, r1), slice(c0, c1), (out_rows, out_columns), values=values), dtype=np.float32)
            if mark:
                scores = np.asarray(tiler(self.layer, self.head, slice(r0, r1), slice(c0, c1), (out_rows, out_columns), values="scores"))
                # A pooled score is -inf only where every cell of its block is masked; the
                # block is empty when all of them are keys a window cut off (none in the future).
                row_starts = r0 + bin_starts(region_rows, out_rows)
                column_ends = c0 + np.append(bin_starts(region_columns, out_columns)[1:], region_columns)
                cut = np.isneginf(scores)
                if self.causal:
                    cut &= (column_ends - 1)[None, :] <= row_starts[:, None]
                tile = np.where(cut, np.nan, tile)
            return tile
        starts = bin_starts(region_rows, out_rows)
        ends = np.append(starts[1:], region_rows)
        per_bin = max(int(ends[0] - starts[0]), 1)
        heads = self.maps.n_heads if self.head is None else 1
        width = (region_columns if not self.dense and self.columns is None else self.maps.weights.shape[-1]) * heads
        block_cells = ROW_BLOCK_CELLS if should_stop is None else STOPPABLE_BLOCK_CELLS
        bins_per_block = max(block_cells // max(per_bin * width, 1), 1)
        pieces = []
        for first in range(0, len(starts), bins_per_block):
            if should_stop is not None and should_stop():
                raise TileSuperseded(f"the tile of rows {r0}–{r1 - 1} is no longer wanted")
            last = min(first + bins_per_block, len(starts)) - 1
            b0, b1 = r0 + int(starts[first]), r0 + int(ends[last])
            block = self.rows(slice(b0, b1), values, slice(c0, c1))
            if mark:
                scores = self.rows(slice(b0, b1), "scores", slice(c0, c1))
                block = np.where(self._cut(scores, b0, c0), np.nan, block)
            if out_columns < region_columns:
                block = np.fmax.reduceat(block, bin_starts(region_columns, out_columns), axis=-1)
            if out_rows < region_rows:
                block = np.fmax.reduceat(block, starts[first : last + 1] - starts[first], axis=-2)
            pieces.append(block)
        return np.concatenate(pieces, axis=0)

    def _cut(self, scores: np.ndarray, row0: int, column0: int) -> np.ndarray:
        """Bool of masked keys a window cut off (not a decoder's future) in a block of scores."""
        masked = np.isneginf(scores)
        if self.causal:
            query = np.arange(row0, row0 + scores.shape[0])[:, None]
            key = np.arange(column0, column0 + scores.shape[1])[None, :]
            if self.columns is not None:
                key = self.columns[key]
            masked &= key <= query
        return masked

