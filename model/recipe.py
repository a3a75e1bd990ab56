"""What turns q·k into a score: the mask and bias of one attention, as a recipe.

A dense trace builds each layer's ``(Tq, Tk)`` mask and bias once and keeps the product.
A recomputed trace cannot afford either at 32k tokens (a boolean mask alone is 1 GB),
so each attention keeps the recipe instead and applies it to whatever block of query
rows and key columns is being computed, in the forward and again whenever a cell is
read. The rules are those of ``model.transformer`` and ``model.positions``:

- causal: key j is visible to query i when j ≤ i;
- a sliding window of w tokens: i − w < j (causal), or |i − j| ≤ w // 2 (bidirectional);
- key padding: padded keys are hidden from every query;
- soft-cap (Gemma 2): cap · tanh(x / cap) of the scaled product, before the bias;
- T5's relative position bias: a learned value per head and bucket of j − i.

Hidden cells get -inf scores.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .positions import RelativePositionBias


@dataclass(frozen=True)
class ScoreRecipe:
    """How one attention's scores are made from ``q·k`` (q already scaled).

    ``key_padding`` ``(B, Tk)`` is True for real keys (None: every key is real);
    ``relative`` is the stack's T5 bias module (its table is the model's own weight).
    """

    causal: bool = False
    window: int | None = None
    key_padding: Tensor | None = None
    relative: RelativePositionBias | None = None
    softcap: float | None = None

    def key_range(self, first_row: int, end_row: int, n_keys: int) -> tuple[int, int]:
        """The keys ``[start, end)`` that rows ``[first_row, end_row)`` can see at all."""
        start, end = 0, n_keys
        if self.causal:
            end = min(end, end_row)
            if self.window is not None:
                start = max(0, first_row - self.window + 1)
        elif self.window is not None:
            start = max(0, first_row - self.window // 2)
            end = min(end, end_row - 1 + self.window // 2 + 1)
        return start, max(start, end)

    def visible(self, rows: Tensor, cols: Tensor, batch: slice | Tensor | int = slice(None)) -> Tensor | None:
        """``(B', 1, r, c)`` bool, True where query ``rows[i]`` may see key ``cols[j]``; None: all."""
        allowed = None
        offset = rows[:, None] - cols[None, :]  # (r, c): i − j
        if self.causal:
            allowed = offset >= 0
            if self.window is not None:
                allowed &= offset < self.window
        elif self.window is not None:
            allowed = offset.abs() <= self.window // 2
        if allowed is not None:
            allowed = allowed[None, None]  # (1, 1, r, c)
        if self.key_padding is not None:
            padding = self.key_padding[batch]
            if padding.ndim == 1:
                padding = padding[None]
            real = padding[:, cols][:, None, None, :]  # (B', 1, 1, c)
            if not bool(real.all()):
                allowed = real if allowed is None else allowed & real
        return allowed

    def apply(
        self,
        products: Tensor,
        rows: Tensor,
        cols: Tensor,
        heads: Tensor | slice = slice(None),
        batch: slice | Tensor | int = slice(None),
        ascending: bool = False,
    ) -> None:
        """Turn ``(B', H', r, c)`` products of scaled queries and keys into scores, in place.

        ``rows``/``cols`` are the positions of the block's queries and keys, ``heads``
        which heads of the model its second axis holds; ``ascending`` promises that
        ``cols`` increase (a block of the forward), which lets a causal mask skip the
        keys every row sees.
        """
        if self.softcap is not None:
            products.div_(self.softcap).tanh_().mul_(self.softcap)
        if self.relative is not None:
            buckets = self.relative.bucket(cols[None, :] - rows[:, None])  # (r, c)
            bias = self.relative.bias(buckets).permute(2, 0, 1)[heads]  # (H', r, c)
            products.add_(bias.to(products.dtype))
        if ascending and self.causal and self.window is None and self.key_padding is None and len(rows):
            # Keys up to the block's first query are visible to all of its rows: only the
            # triangle at the diagonal is masked, not the whole block.
            cut = int((cols <= rows.min()).sum())
            products, cols = products[..., cut:], cols[cut:]
        allowed = self.visible(rows, cols, batch)
        if allowed is not None:
            products.masked_fill_(~allowed, float("-inf"))
