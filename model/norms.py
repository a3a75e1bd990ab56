"""The norms a layer can use: LayerNorm, RMS norm, and Gemma's RMS norm of (1 + w).

Kept apart from ``model.layers`` so the attention (QK-norm) and the embeddings can make
the same norms without importing the layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import ModelConfig


class OffsetRMSNorm(nn.Module):
    """x / rms(x) · (offset + w): Gemma stores its RMS norm weights as w − 1 (offset 1)."""

    def __init__(self, width: int, eps: float, offset: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(width))
        self.eps = eps
        self.offset = offset

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (self.offset + self.weight)


def make_norm(config: ModelConfig, width: int | None = None) -> nn.Module:
    """The config's norm over ``width`` features (d_model unless given)."""
    width = config.d_model if width is None else width
    if config.norm == "rmsnorm":
        if config.norm_offset:
            return OffsetRMSNorm(width, config.norm_eps, float(config.norm_offset))
        return nn.RMSNorm(width, eps=config.norm_eps)
    return nn.LayerNorm(width, eps=config.norm_eps, bias=config.norm_bias)
