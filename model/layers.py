"""Building blocks of a transformer layer: norms, feed-forward, encoder and decoder layers.

Each layer's ``forward`` reads like its equation; pre-, post-, sandwich and after-norm
placement are orderings of the same residual step. A layer's attention comes back in its output
as values. Its ``slots`` say where the attention is to be written (handed down by the
stack from its ``StackRecording``); with none it takes the fused kernel and returns no
weights.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from .attention import AttentionResult, MultiHeadAttention, TraceSlots
from .config import ModelConfig
from .norms import make_norm

__all__ = ["ACTIVATION_FUNCTIONS", "DecoderLayer", "EncoderLayer", "FeedForward", "Residual", "make_norm"]

ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}


class FeedForward(nn.Module):
    """Position-wise FFN: down(act(up(x))), or down(act(gate(x)) * up(x)) when gated."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        bias = config.bias if config.ffn_bias is None else config.ffn_bias
        self.up = nn.Linear(config.d_model, config.d_ff, bias=bias)
        self.gate = nn.Linear(config.d_model, config.d_ff, bias=bias) if config.gated_ffn else None
        self.down = nn.Linear(config.d_ff, config.d_model, bias=bias)
        self.act = ACTIVATION_FUNCTIONS[config.activation]
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.act(self.up(x)) if self.gate is None else self.act(self.gate(x)) * self.up(x)
        return self.down(self.dropout(hidden))


class Residual(nn.Module):
    """x + f(x) with the norm before f (pre), after the sum (post), on both sides of f
    (sandwich: Gemma 2/3) or on f's output only (after: OLMo 2)."""

    def __init__(self, config: ModelConfig, with_norm: bool = True) -> None:
        super().__init__()
        self.placement = config.norm_placement
        # Without a norm (ModernBERT's first attention) the step is x + f(x).
        self.norm = make_norm(config) if with_norm else nn.Identity()
        self.post_norm = make_norm(config) if self.placement == "sandwich" else None
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        if self.placement == "pre":
            return x + self.dropout(sublayer(self.norm(x)))
        if self.placement == "post":
            return self.norm(x + self.dropout(sublayer(x)))
        if self.post_norm is not None:
            return x + self.dropout(self.post_norm(sublayer(self.norm(x))))
        return x + self.dropout(self.norm(sublayer(x)))


class EncoderLayerOutput(NamedTuple):
    hidden: Tensor
    self_attention: AttentionResult


class DecoderLayerOutput(NamedTuple):
    hidden: Tensor
    self_attention: AttentionResult
    cross_attention: AttentionResult | None


class EncoderLayer(nn.Module):
    """Self-attention, then feed-forward (``index``: the layer's place in its stack)."""

    def __init__(self, config: ModelConfig, index: int = 0) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(config, index)
        self.self_attn_residual = Residual(config, with_norm=index > 0 or config.first_attention_norm)
        self.ffn = FeedForward(config)
        self.ffn_residual = Residual(config)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        bias: Tensor | None,
        slots: TraceSlots | None = None,
        rotary: tuple[Tensor, Tensor] | None = None,
    ) -> EncoderLayerOutput:
        attended: list[AttentionResult] = []

        def self_attention(h: Tensor) -> Tensor:
            attended.append(
                self.self_attn(h, mask=mask, bias=bias, need_weights=slots is not None, slots=slots, rotary=rotary)
            )
            return attended[0].output

        x = self.self_attn_residual(x, self_attention)
        x = self.ffn_residual(x, self.ffn)
        return EncoderLayerOutput(x, attended[0])


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the encoder output (if any), feed-forward."""

    def __init__(self, config: ModelConfig, with_cross_attention: bool, index: int = 0) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(config, index)
        self.self_attn_residual = Residual(config)
        self.cross_attn = MultiHeadAttention(config, index) if with_cross_attention else None
        self.cross_attn_residual = Residual(config) if with_cross_attention else None
        self.ffn = FeedForward(config)
        self.ffn_residual = Residual(config)

    def forward(
        self,
        x: Tensor,
        self_mask: Tensor | None,
        self_bias: Tensor | None,
        memory: Tensor | None,
        memory_mask: Tensor | None,
        self_slots: TraceSlots | None = None,
        cross_slots: TraceSlots | None = None,
        rotary: tuple[Tensor, Tensor] | None = None,
    ) -> DecoderLayerOutput:
        attended: list[AttentionResult] = []

        def self_attention(h: Tensor) -> Tensor:
            attended.append(
                self.self_attn(
                    h,
                    mask=self_mask,
                    bias=self_bias,
                    need_weights=self_slots is not None,
                    slots=self_slots,
                    rotary=rotary,
                )
            )
            return attended[-1].output

        def cross_attention(h: Tensor) -> Tensor:
            assert self.cross_attn is not None
            attended.append(
                self.cross_attn(
                    h, memory=memory, mask=memory_mask, need_weights=cross_slots is not None, slots=cross_slots
                )
            )
            return attended[-1].output

        x = self.self_attn_residual(x, self_attention)
        if self.cross_attn_residual is not None and memory is not None:
            x = self.cross_attn_residual(x, cross_attention)
        x = self.ffn_residual(x, self.ffn)
        return DecoderLayerOutput(x, attended[0], attended[1] if len(attended) > 1 else None)
