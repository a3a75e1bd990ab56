"""Position information: the input embeddings of a stack and T5's relative position bias."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .layers import make_norm


def sinusoidal_table(n_positions: int, width: int) -> Tensor:
    """Sinusoids with sines in the first half of the columns and cosines in the second.

    This is the layout Marian checkpoints were trained with; for a model trained from
    scratch any fixed layout serves, so the project uses this one throughout.
    """
    shape_only = torch.empty(n_positions, width)
    if shape_only.device.type == "meta":
        # Built only for its shapes (see transformer.parameter_shapes): nothing to compute,
        # and computing on meta would pull in a second of PyTorch's lazy imports.
        return shape_only
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]  # (P, 1)
    frequency = torch.pow(10000.0, -torch.arange(0, width, 2, dtype=torch.float64) / width)  # (ceil(W/2),)
    angles = position * frequency  # (P, ceil(W/2))
    half = (width + 1) // 2
    table = torch.zeros(n_positions, width, dtype=torch.float64)
    table[:, :half] = torch.sin(angles[:, :half])
    table[:, half:] = torch.cos(angles[:, : width - half])
    return table.float()


class InputEmbedding(nn.Module):
    """Token embeddings (looked up by the caller) plus positions and segments, then a norm."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.token_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        n_positions = config.max_positions + config.position_offset
        self.positions = nn.Embedding(n_positions, config.d_model) if config.positions == "learned" else None
        if config.positions == "sinusoidal":
            self.register_buffer("sinusoids", sinusoidal_table(n_positions, config.d_model), persistent=False)
        else:
            self.sinusoids = None
        self.types = nn.Embedding(config.type_vocab_size, config.d_model) if config.type_vocab_size else None
        self.norm = make_norm(config) if config.embedding_norm else None
        self.dropout = nn.Dropout(config.dropout)

    def materialize_buffers(self) -> None:
        """Compute the sinusoid table of a network built on the ``meta`` device (see ``building``)."""
        if self.sinusoids is not None and self.sinusoids.is_meta:
            self.sinusoids = sinusoidal_table(*self.sinusoids.shape)

    def position_ids(self, padding_mask: Tensor) -> Tensor:
        """Position index of every token, ``(B, T)``, offset as the checkpoint expects."""
        if self.config.positions_skip_padding:
            # RoBERTa: real tokens are numbered from pad_token_id + 1, padding sits at pad_token_id.
            counted = torch.cumsum(padding_mask.long(), dim=1) * padding_mask.long()
            return counted + self.config.pad_token_id
        T = padding_mask.size(1)
        return torch.arange(T, device=padding_mask.device).expand_as(padding_mask) + self.config.position_offset

    def forward(
        self, token_embeddings: Tensor, padding_mask: Tensor, type_ids: Tensor | None = None, start: int = 0
    ) -> Tensor:
        """token_embeddings: ``(B, T − start, d_model)`` of tokens ``start`` on; padding_mask:
        ``(B, T)``, True for real tokens; type_ids: ``(B, T)``. ``start`` > 0 embeds only a
        continuation, at the positions it has in the whole input."""
        x = token_embeddings * self.token_scale
        if self.positions is not None or self.sinusoids is not None:
            positions = self.position_ids(padding_mask)[:, start:]  # (B, T − start)
            x = x + (self.positions(positions) if self.positions is not None else self.sinusoids[positions])
        if self.types is not None:
            if type_ids is None:
                type_ids = torch.zeros(padding_mask.shape, dtype=torch.long, device=padding_mask.device)
            x = x + self.types(type_ids[:, start:])
        if self.norm is not None:
            x = self.norm(x)
        return self.dropout(x)


class RelativePositionBias(nn.Module):
    """T5's learned bias per head for each bucket of key-minus-query distance.

    Near distances get a bucket each; far ones share logarithmically wider buckets up
    to ``relative_max_distance``. Encoders look both ways, decoders only back.
    """

    def __init__(self, config: ModelConfig, bidirectional: bool) -> None:
        super().__init__()
        self.bidirectional = bidirectional
        self.n_buckets = config.relative_buckets
        self.max_distance = config.relative_max_distance
        self.bias = nn.Embedding(config.relative_buckets, config.n_heads)

    def bucket(self, relative_position: Tensor) -> Tensor:
        n_buckets = self.n_buckets
        buckets = torch.zeros_like(relative_position)
        if self.bidirectional:
            n_buckets //= 2
            buckets = buckets + (relative_position > 0).long() * n_buckets
            distance = relative_position.abs()
        else:
            distance = -torch.clamp(relative_position, max=0)
        max_exact = n_buckets // 2
        is_small = distance < max_exact
        # Clamp to 1 before the log: those entries take the is_small branch anyway.
        logarithmic = max_exact + (
            torch.log(distance.clamp(min=1).float() / max_exact)
            / math.log(self.max_distance / max_exact)
            * (n_buckets - max_exact)
        ).long()
        logarithmic = logarithmic.clamp(max=n_buckets - 1)
        return buckets + torch.where(is_small, distance, logarithmic)

    def forward(self, n_queries: int, n_keys: int) -> Tensor:
        """The additive bias, ``(1, H, Tq, Tk)``."""
        device = self.bias.weight.device
        query = torch.arange(n_queries, device=device)[:, None]
        key = torch.arange(n_keys, device=device)[None, :]
        values = self.bias(self.bucket(key - query))  # (Tq, Tk, H)
        return values.permute(2, 0, 1).unsqueeze(0)  # (1, H, Tq, Tk)
