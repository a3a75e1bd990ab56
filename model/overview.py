"""Overviews of attention maps: block maxima at a bounded size, computed in torch.

A viewer that shows every layer and head of a 2,048-token input at once needs a few
dozen pixels a side per head, not four million cells. Pooling here, inside the forward
and on the device the weights were computed on, takes a fraction of a second at that
length; pooling the stored numpy copy afterwards took seconds.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def pool_steps(rows: int, columns: int, side: int) -> tuple[int, int]:
    """Rows and columns per block so that neither side of the result exceeds ``side``."""
    if side < 1:
        raise ValueError(f"an overview needs at least one cell a side, not {side}")
    return max(math.ceil(rows / side), 1), max(math.ceil(columns / side), 1)


def pool_max(weights: Tensor, side: int) -> Tensor:
    """``(B, C, Q, K)`` → ``(B, C, ceil(Q / r), ceil(K / c))``: the maximum of each r × c block.

    The maximum rather than the mean keeps one sharply attended key visible in a long
    input's overview. Blocks at the far edges are partial (``ceil_mode``); inputs that
    already fit are returned as they are.
    """
    row_step, column_step = pool_steps(weights.shape[-2], weights.shape[-1], side)
    if row_step == 1 and column_step == 1:
        return weights
    steps = (row_step, column_step)
    return F.max_pool2d(weights, kernel_size=steps, stride=steps, ceil_mode=True)


def power_of_two_steps(rows: int, columns: int, side: int) -> tuple[int, int]:
    """Rows and columns per block of a recomputed trace's overview: the smallest powers of
    two that keep each side within ``side``.

    Powers of two let typing update a thumbnail exactly: appending tokens only touches
    the last blocks, and when a block size doubles, the maximum of two adjacent block
    maxima is the new block's maximum (``PooledOverview.regrown``).
    """
    row_step, column_step = pool_steps(rows, columns, side)
    return 1 << (row_step - 1).bit_length(), 1 << (column_step - 1).bit_length()


def _pool_axis(values: Tensor, first: int, step: int, dim: int) -> Tensor:
    """Maxima of ``values`` along ``dim`` over the aligned blocks of ``step`` positions it
    touches, its first entry being position ``first``. Views only, no padded copy: the
    partial blocks at either end are reduced on their own."""
    n = values.shape[dim]
    left = min((-first) % step, n)  # entries before the first block boundary
    middle = (n - left) // step * step
    parts = []
    if left:
        parts.append(values.narrow(dim, 0, left).amax(dim=dim, keepdim=True))
    if middle:
        whole = values.narrow(dim, left, middle)
        shape = (*whole.shape[:dim % whole.ndim], middle // step, step, *whole.shape[dim % whole.ndim + 1 :])
        parts.append(whole.reshape(shape).amax(dim=dim % whole.ndim + 1))
    if left + middle < n:
        parts.append(values.narrow(dim, left + middle, n - left - middle).amax(dim=dim, keepdim=True))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _pool_blocks(weights: Tensor, first_row: int, first_col: int, steps: tuple[int, int]) -> Tensor:
    """``(B, C, r, c)`` cells starting at ``(first_row, first_col)`` → block maxima
    ``(B, C, nr, nc)`` of the aligned grid of ``steps`` blocks they touch. Columns are
    reduced first, so the row step (which can exceed a forward's block of rows) never
    pads anything of the block's size."""
    by_column = _pool_axis(weights, first_col, steps[1], dim=-1)  # (B, C, r, nc)
    return _pool_axis(by_column, first_row, steps[0], dim=-2)  # (B, C, nr, nc)


# The last this many row blocks are also kept at row resolution (``PooledOverview.strips``),
# so typing at the end refills its block from them instead of recomputing its rows.
STRIP_BLOCKS = 2


class PooledOverview:
    """One attention kind's thumbnails, built block by block while the weights exist.

    ``heads`` ``(B, L, H, nr, nc)`` holds each head's weights max-pooled in blocks of
    ``steps`` (``power_of_two_steps``), ``means`` ``(B, L, nr, nc)`` each layer's mean
    over heads pooled the same way; cells never added stay 0 (masked weights are 0).

    ``strips`` ``(B, L, H + 1, rows, nc)`` keeps the rows from ``strip_from`` on pooled
    over columns only (the last index of the third axis is the mean over heads): when
    the next input changes a row in the last block, the block's unchanged rows come
    from here, exactly, instead of being recomputed.
    """

    def __init__(self, heads: Tensor, means: Tensor, steps: tuple[int, int], shape: tuple[int, int],
                 strips: Tensor, strip_from: int) -> None:
        self.heads, self.means, self.steps, self.shape = heads, means, steps, shape
        self.strips, self.strip_from = strips, strip_from

    @staticmethod
    def _cells(shape: tuple[int, int], steps: tuple[int, int]) -> tuple[int, int]:
        return -(-shape[0] // steps[0]), -(-shape[1] // steps[1])

    @classmethod
    def empty(cls, batch: int, layers: int, n_heads: int, shape: tuple[int, int], side: int, device) -> "PooledOverview":
        steps = power_of_two_steps(shape[0], shape[1], side)
        cells = cls._cells(shape, steps)
        heads = torch.zeros((batch, layers, n_heads, *cells), dtype=torch.float32, device=device)
        means = torch.zeros((batch, layers, *cells), dtype=torch.float32, device=device)
        strip_from = max(0, shape[0] - STRIP_BLOCKS * steps[0])
        strips = torch.zeros((batch, layers, n_heads + 1, shape[0] - strip_from, cells[1]), dtype=torch.float32, device=device)
        return cls(heads, means, steps, shape, strips, strip_from)

    def add(self, layer: int, weights: Tensor, first_row: int, first_col: int) -> None:
        """Fold ``(B, H, r, c)`` weights of rows and keys from ``(first_row, first_col)`` in."""
        if weights.shape[-1] == 0 or weights.shape[-2] == 0:
            return
        H, r = weights.shape[1], weights.shape[2]
        row0, col0 = first_row // self.steps[0], first_col // self.steps[1]
        by_column = _pool_axis(weights, first_col, self.steps[1], dim=-1)  # (B, H, r, nc)
        mean_by_column = _pool_axis(weights.mean(dim=1, keepdim=True), first_col, self.steps[1], dim=-1)  # (B, 1, r, nc)
        pooled = _pool_axis(by_column, first_row, self.steps[0], dim=-2)  # (B, H, nr, nc)
        nr, nc = pooled.shape[-2:]
        region = self.heads[:, layer, :, row0 : row0 + nr, col0 : col0 + nc]
        torch.maximum(region, pooled, out=region)
        mean = _pool_axis(mean_by_column, first_row, self.steps[0], dim=-2)[:, 0]  # (B, nr, nc)
        region = self.means[:, layer, row0 : row0 + nr, col0 : col0 + nc]
        torch.maximum(region, mean, out=region)
        lo = max(first_row, self.strip_from)
        if lo < first_row + r:
            kept = slice(lo - first_row, r)
            rows = slice(lo - self.strip_from, first_row + r - self.strip_from)
            for index, values in ((slice(0, H), by_column), (slice(H, H + 1), mean_by_column)):
                region = self.strips[:, layer, index, rows, col0 : col0 + nc]
                torch.maximum(region, values[:, :, kept], out=region)

    def regrown(self, shape: tuple[int, int], side: int, kept_rows: int) -> tuple["PooledOverview", int] | None:
        """A copy for ``shape`` that keeps the first ``kept_rows`` rows, and the row from
        which the caller must add rows again (``kept_rows`` when the strips held the
        kept rows of the last block; that block's start otherwise). None when the steps
        shrank (blocks cannot be split: the caller pools from scratch)."""
        steps = power_of_two_steps(shape[0], shape[1], side)
        if steps[0] < self.steps[0] or steps[1] < self.steps[1]:
            return None
        factor = (steps[0] // self.steps[0], steps[1] // self.steps[1])
        heads, means = self.heads, self.means[:, :, None]  # means as one more "head" axis
        strips = self.strips
        if factor != (1, 1):  # a block of the new size is the maximum of the old ones it covers
            heads = _pool_blocks(heads.flatten(0, 1), 0, 0, factor).unflatten(0, heads.shape[:2])
            means = _pool_blocks(means.flatten(0, 1), 0, 0, factor).unflatten(0, means.shape[:2])
            strips = _pool_axis(strips, 0, factor[1], dim=-1)
        cells = self._cells(shape, steps)
        whole_rows = kept_rows // steps[0]  # blocks every row of which is kept

        def fitted(old: Tensor) -> Tensor:
            new = old.new_zeros((*old.shape[:-2], *cells))
            r, c = min(whole_rows, old.shape[-2], cells[0]), min(old.shape[-1], cells[1])
            new[..., :r, :c] = old[..., :r, :c]
            return new

        heads, means = fitted(heads), fitted(means)[:, :, 0]
        # New strips: the kept rows the old strips hold, from where the new ones start.
        strip_from = max(self.strip_from, shape[0] - STRIP_BLOCKS * steps[0])
        strip_from = min(strip_from, kept_rows)
        new_strips = strips.new_zeros((*strips.shape[:3], shape[0] - strip_from, cells[1]))
        held = slice(strip_from - self.strip_from, kept_rows - self.strip_from)
        c = min(strips.shape[-1], cells[1])
        if held.start < held.stop:
            new_strips[:, :, :, : held.stop - held.start, :c] = strips[:, :, :, held, :c]
        overview = PooledOverview(heads, means, steps, shape, new_strips, strip_from)
        first = whole_rows * steps[0]
        if first >= kept_rows:
            return overview, kept_rows
        if first < self.strip_from:
            return overview, first  # the old strips do not reach back to the block's start
        # The block kept_rows falls in: its kept rows [first, kept_rows) from the strips.
        rows = strips[:, :, :, first - self.strip_from : kept_rows - self.strip_from, :c]  # (B, L, H + 1, r, c)
        block = rows.amax(dim=-2)  # (B, L, H + 1, c)
        H = heads.shape[2]
        heads[:, :, :, whole_rows, :c] = block[:, :, :H]
        means[:, :, whole_rows, :c] = block[:, :, H]
        return overview, kept_rows
