"""The norms a layer can use: LayerNorm, RMS norm, and Gemma's RMS norm of (1 + w).

Kept apart from ``model.layers`` so the attention (QK-norm) and the embeddings can make
the same norms without importing the layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import ModelConfig


class RMSNorm(nn.Module):
    """x / rms(x) · (offset + w), computed in float32 whatever x's dtype (as Hugging Face's
    Llama and Gemma norms do, so a bfloat16 network rounds only the result). Gemma stores
    its weights as w − 1 (offset 1); the others' offset is 0."""

    def __init__(self, width: int, eps: float, offset: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((width,), 1.0 - offset))  # a scale of one
        self.eps = eps
        self.offset = offset

    def forward(self, x: Tensor) -> Tensor:
        wide = x.float()
        normed = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (self.offset + self.weight.float())).to(x.dtype)


def make_norm(config: ModelConfig, width: int | None = None) -> nn.Module:
    """The config's norm over ``width`` features (d_model unless given)."""
    width = config.d_model if width is None else width
    if config.norm == "rmsnorm":
        return RMSNorm(width, config.norm_eps, float(config.norm_offset))
    return nn.LayerNorm(width, eps=config.norm_eps, bias=config.norm_bias)
