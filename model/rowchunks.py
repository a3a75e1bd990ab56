"""A tensor kept as row chunks, so that typing never copies what did not change.

An incremental trace keeps the previous input's queries, keys and values and adds the
new suffix's. Concatenating would copy every layer's O(n·d) tensors on each keystroke
and overwriting in place would change the previous trace under a reader still holding
it, so each trace holds an immutable tuple of chunks along the token axis: the next
trace shares the chunks before the edit (a view of the one the edit falls in) and adds
its own. Reading concatenates the few chunks of the heads asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# Past this many chunks the next extension concatenates every chunk after the first (the
# full forward's, or a long edit's), so reads never walk a long list and typing never
# copies the bulk of the input.
MAX_CHUNKS = 8


@dataclass(frozen=True)
class RowChunks:
    """Chunks of one tensor along ``dim`` (the token axis), in order."""

    chunks: tuple[Tensor, ...]
    dim: int = 2

    @property
    def length(self) -> int:
        return sum(chunk.shape[self.dim] for chunk in self.chunks)

    def truncated(self, n: int) -> "RowChunks":
        """The first ``n`` tokens: whole chunks shared, the last one as a view."""
        kept: list[Tensor] = []
        left = n
        for chunk in self.chunks:
            if left <= 0:
                break
            size = chunk.shape[self.dim]
            kept.append(chunk if size <= left else chunk.narrow(self.dim, 0, left))
            left -= size
        return RowChunks(tuple(kept), self.dim)

    def extended(self, suffix: Tensor) -> "RowChunks":
        """These tokens followed by ``suffix``'s."""
        # An empty suffix is kept only as the first chunk (it still says heads and width).
        chunks = (*self.chunks, suffix) if suffix.shape[self.dim] or not self.chunks else self.chunks
        if len(chunks) > MAX_CHUNKS:
            chunks = (chunks[0], torch.cat(chunks[1:], dim=self.dim))
        return RowChunks(chunks, self.dim)

    def whole(self, index: tuple = ()) -> Tensor:
        """Every token of ``chunk[index]`` (e.g. ``(0, heads)``), as one tensor."""
        parts = [chunk[index] if index else chunk for chunk in self.chunks]
        if len(parts) == 1:
            return parts[0]
        dim = self.dim - sum(1 for i in index if isinstance(i, int)) if index else self.dim
        return torch.cat(parts, dim=dim)

    def pieces(self, start: int, end: int) -> list[tuple[int, Tensor]]:
        """``(position of its first token, view)`` of every chunk's part within ``[start, end)``."""
        found: list[tuple[int, Tensor]] = []
        offset = 0
        for chunk in self.chunks:
            size = chunk.shape[self.dim]
            lo, hi = max(start, offset), min(end, offset + size)
            if lo < hi:
                found.append((lo, chunk.narrow(self.dim, lo - offset, hi - lo)))
            offset += size
        return found


def single(tensor: Tensor, dim: int = 2) -> RowChunks:
    return RowChunks((tensor,), dim)
