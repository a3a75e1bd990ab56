"""Attention computed a block of query rows at a time, keeping each row's log-sum-exp.

The recomputed trace's forward. For each block of rows it makes the block's scores
(only over the keys those rows can see: a causal block stops at its last row, a window
starts at its first row's window), softmaxes them, keeps each row's log-sum-exp
(``lse``, from which any weight is later exp(score − lse)), hands the block's weights
to the overview while they exist, and multiplies them into the values. No layer ever
holds more than one block's ``(B, H, rows, keys)`` scores, about ``BLOCK_CELLS``.

Keys and values come as ``RowChunks`` (the previous input's and the new suffix's),
so an incremental forward attends to them without concatenating them.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .recipe import ScoreRecipe
from .rowchunks import RowChunks

# Cells (batch · heads · rows · keys) of one block's scores: 32 MiB of float32, small
# enough to stay cache-friendly and large enough that the matmuls stay efficient.
BLOCK_CELLS = 1 << 23
MAX_BLOCK_ROWS = 1024

# pool(weights (B, H, r, c), first query position, first key position)
Pool = Callable[[Tensor, int, int], None]


def block_rows(batch_heads: int, n_keys: int) -> int:
    """Query rows per block: a power of two (so blocks line up with the overview's)."""
    rows = max(1, BLOCK_CELLS // max(1, batch_heads * n_keys))
    return min(MAX_BLOCK_ROWS, 1 << (rows.bit_length() - 1))


def grouped_products(q: Tensor, keys: RowChunks, start: int, end: int) -> Tensor:
    """``q`` ``(B, H, r, dh)`` · keys ``[start, end)`` ``(B, KV, ·, dh)`` → ``(B, H, r, c)``.

    Query head h reads key head h // (H / KV) (grouped-query attention), so the heads of
    a group are stacked as rows of one matmul instead of repeating the keys.
    """
    B, H, r, dh = q.shape
    parts = []
    for _, k in keys.pieces(start, end):
        KV = k.shape[1]
        grouped = q.reshape(B, KV, (H // KV) * r, dh)  # (B, KV, g·r, dh)
        parts.append(torch.matmul(grouped, k.transpose(-2, -1)).view(B, H, r, k.shape[2]))  # (B, H, r, c_piece)
    if not parts:
        return q.new_empty((B, H, r, 0))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def grouped_output(weights: Tensor, values: RowChunks, start: int, end: int) -> Tensor:
    """``weights`` ``(B, H, r, c)`` over keys ``[start, end)`` · their values → ``(B, H, r, dv)``."""
    B, H, r, _ = weights.shape
    output = None
    for position, v in values.pieces(start, end):
        KV, c = v.shape[1], v.shape[2]
        part = weights[..., position - start : position - start + c]
        # Without shared heads the reshape is the identity (no copy of a strided slice).
        grouped = part if KV == H else part.reshape(B, KV, (H // KV) * r, c)  # (B, KV, g·r, c)
        product = torch.matmul(grouped, v).view(B, H, r, v.shape[-1])  # (B, H, r, dv)
        output = product if output is None else output.add_(product)
    return output


def blockwise_attention(
    q: Tensor,
    keys: RowChunks,
    values: RowChunks,
    recipe: ScoreRecipe,
    first_query: int = 0,
    pool: Pool | None = None,
) -> tuple[Tensor, Tensor]:
    """softmax(recipe(q · kᵀ)) · v for queries at positions ``first_query`` onwards.

    Args:
        q: ``(B, H, Tq, dh)`` queries with the score scale folded in.
        keys, values: ``(B, KV, Tk, dh)`` chunks; key positions are 0 … Tk − 1.
        pool: receives every block's weights (the overview).

    Returns the output ``(B, H, Tq, dv)`` and each row's log-sum-exp ``(B, H, Tq)``
    (-inf for a row that sees no key; its weights and output are 0).
    """
    B, H, Tq, _ = q.shape
    Tk = keys.length
    dv = values.chunks[0].shape[-1] if values.chunks else q.shape[-1]
    output = q.new_zeros((B, H, Tq, dv))
    lse = q.new_full((B, H, Tq), float("-inf"))
    step = block_rows(B * H, Tk)
    for r0 in range(0, Tq, step):
        r1 = min(Tq, r0 + step)
        first, end = first_query + r0, first_query + r1
        k0, k1 = recipe.key_range(first, end, Tk)
        if k0 >= k1:
            continue
        scores = grouped_products(q[:, :, r0:r1], keys, k0, k1)  # (B, H, r, c)
        rows = torch.arange(first, end, device=q.device)
        recipe.apply(scores, rows, torch.arange(k0, k1, device=q.device), ascending=True)
        peak = scores.amax(dim=-1, keepdim=True)  # (B, H, r, 1)
        seen = torch.isfinite(peak)
        # In place: the block's scores become its weights (one (B, H, r, c) tensor).
        weights = scores.sub_(torch.where(seen, peak, 0.0)).exp_()
        total = weights.sum(dim=-1, keepdim=True)  # (B, H, r, 1); 0 where no key is seen
        weights.div_(torch.where(seen, total, 1.0))
        lse[:, :, r0:r1] = (peak + total.log())[..., 0]
        if pool is not None:
            pool(weights, first, k0)
        output[:, :, r0:r1] = grouped_output(weights, values, k0, k1)
        del scores, weights
    return output, lse
