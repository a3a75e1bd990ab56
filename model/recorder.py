"""How a forward keeps its attention: the recorder a caller hands to the network.

The network's ``forward``, ``encode`` and ``decode`` take the model's inputs and one
optional ``recorder``. Without one they run PyTorch's fused kernel and keep no
attention. With one, every layer's weights and scores come back in the output as
``(B, L, H, Tq, Tk)`` stacks, kept the way the recorder says:

- ``dtype``: what the stacks are stored in (float32, or float16 for half the memory).
  The forward always computes at full precision; only the stored copy is rounded.
- Where they are written: one buffer per stack and attention kind is allocated before
  the first layer, and each layer's attention writes its matrices straight into its
  slot (``TraceSlots``), so a long input never holds every layer's float32 matrices and
  a stacked copy of them. Float32 scores and weights are computed in the slot; a
  float16 slot gets the rounded scores, and the weights are softmaxed in one float32
  scratch per call and then rounded into place.
- ``overview_side``: each layer's float32 weights are also max-pooled to at most that
  many cells a side while they exist, so a viewer's thumbnails of a long input cost
  nothing after the forward (pooling the stored, possibly float16, copy takes seconds).

The recorder is the caller's object, not module state, and holds no tensors: each stack
of each forward makes its own ``StackRecording``, so one recorder serves any number of
forwards, on any thread. The attention itself still returns ``(output, weights,
scores)``; a ``StackRecording`` only decides where they are written and keeps what the
attention could not write in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .attention import AttentionResult, TraceSlots
from .overview import pool_max
from .progress import Progress, report


class AttentionStack(NamedTuple):
    """Every layer's attention of one kind: weights and scores, ``(B, L, H, Tq, Tk)``.

    With an overview side: ``overview`` ``(B, L, H, q, k)`` holds each head's weights
    max-pooled to at most that side, ``overview_means`` ``(B, L, q, k)`` each layer's
    mean over heads pooled the same way (float32 both).
    """

    weights: Tensor
    scores: Tensor
    overview: Tensor | None = None
    overview_means: Tensor | None = None


@dataclass(frozen=True)
class AttentionRecorder:
    """What a forward keeps of its attention (see the module docstring).

    Args:
        dtype: the dtype the weights and scores are stored in.
        overview_side: also pool every layer's float32 weights to at most this many
            cells a side (``AttentionStack.overview``); None pools nothing.
        progress: called at every layer boundary (``model.progress``); it may cancel.
    """

    dtype: torch.dtype = torch.float32
    overview_side: int | None = None
    progress: Progress | None = None

    def layer_done(self, stack: str, layer: int, n_layers: int) -> None:
        """Report that ``layer`` layers of ``stack`` are done; raises ``TraceCancelled`` when asked."""
        report(self.progress, stack, layer, n_layers)

    def __post_init__(self) -> None:
        if not self.dtype.is_floating_point:
            raise ValueError(f"attention is stored as floating-point values, not {self.dtype}")


class StackRecording:
    """One stack's attention of one kind, written layer by layer as ``recorder`` says.

    With ``recorder=None`` nothing is recorded: ``slots`` is None (the layers take the
    fused kernel) and ``stack`` is None. Otherwise ``slots`` allocates the
    ``(B, L, H, Tq, Tk)`` pair on first use and hands each layer its ``(B, H, Tq, Tk)``
    views, which the attention fills; ``keep`` then stores only what the attention
    could not write in place (float32 weights bound for a float16 buffer) and pools the
    overview.
    """

    def __init__(self, recorder: AttentionRecorder | None, n_layers: int) -> None:
        self.recorder = recorder
        self.n_layers = n_layers
        self.weights: Tensor | None = None
        self.scores: Tensor | None = None
        self.overview: Tensor | None = None
        self.overview_means: Tensor | None = None

    def slots(self, layer: int, shape: tuple[int, int, int, int], device: torch.device) -> TraceSlots | None:
        """Where layer ``layer``'s ``(B, H, Tq, Tk)`` weights and scores go; None when not recording."""
        if self.recorder is None:
            return None
        if self.weights is None:
            B, H, Tq, Tk = shape
            # Layer-major storage: each layer's slot is one contiguous block, which
            # matmul and softmax can write into directly.
            storage = (self.n_layers, B, H, Tq, Tk)
            dtype = self.recorder.dtype
            self.weights = torch.empty(storage, dtype=dtype, device=device).transpose(0, 1)  # (B, L, H, Tq, Tk)
            self.scores = torch.empty(storage, dtype=dtype, device=device).transpose(0, 1)  # (B, L, H, Tq, Tk)
        assert self.scores is not None
        return TraceSlots(self.weights[:, layer], self.scores[:, layer])

    def keep(self, layer: int, result: AttentionResult | None) -> None:
        """Store what layer ``layer``'s attention returned, where it did not write it already."""
        if result is None or result.weights is None or result.scores is None or self.weights is None:
            return
        assert self.scores is not None and self.recorder is not None
        weights_slot, scores_slot = self.weights[:, layer], self.scores[:, layer]
        if result.weights.data_ptr() != weights_slot.data_ptr():
            weights_slot.copy_(result.weights)
        if result.scores.data_ptr() != scores_slot.data_ptr():
            scores_slot.copy_(result.scores)
        if self.recorder.overview_side is not None:
            self._keep_overview(layer, result.weights, self.recorder.overview_side)

    def _keep_overview(self, layer: int, weights: Tensor, side: int) -> None:
        heads = pool_max(weights, side)  # (B, H, q, k)
        means = pool_max(weights.mean(dim=1, keepdim=True), side)  # (B, 1, q, k)
        if self.overview is None:
            B, H, q, k = heads.shape
            self.overview = heads.new_empty((B, self.n_layers, H, q, k), dtype=torch.float32)
            self.overview_means = heads.new_empty((B, self.n_layers, q, k), dtype=torch.float32)
        assert self.overview_means is not None
        self.overview[:, layer].copy_(heads)
        self.overview_means[:, layer].copy_(means[:, 0])

    def stack(self) -> AttentionStack | None:
        """Every layer's recorded attention, or None when nothing was recorded."""
        if self.weights is None or self.scores is None:
            return None
        return AttentionStack(self.weights, self.scores, self.overview, self.overview_means)
