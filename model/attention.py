"""Scaled dot-product attention that hands back what it computed, and the multi-head module.

The explorer shows both the raw scores x_i = q·k_i/√d (plus any position bias, after any
soft-cap: exactly what enters the softmax) and the probabilities softmax(x), so the
attention function returns them as values next to its output. Queries and keys are
rotated (rotary positions) and normalised (QK-norm) before the product; with grouped-query
attention each key/value head is repeated for the query heads that share it, so the
scores and weights always have one map per query head. Nothing is stored on modules: a caller that wants a trace collects the returns.
A caller that keeps every layer's matrices may hand in ``TraceSlots``, the places they
will be kept: the scores are then written there once instead of being computed
elsewhere and copied, and so are the weights when the slot holds the compute dtype.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .norms import make_norm
from .rotary import apply_rotary


class TraceSlots(NamedTuple):
    """Where one attention call's ``(B, H, Tq, Tk)`` weights and scores are to be kept."""

    weights: Tensor
    scores: Tensor


class AttentionResult(NamedTuple):
    """What one attention call produced.

    ``weights`` and ``scores`` are ``(B, H, Tq, Tk)``, or None when the caller asked
    for the fast path that does not materialise them.
    """

    output: Tensor
    weights: Tensor | None
    scores: Tensor | None


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    bias: Tensor | None = None,
    scale: float | None = None,
    need_weights: bool = True,
    slots: TraceSlots | None = None,
    softcap: float | None = None,
) -> AttentionResult:
    """softmax(cap(q·kᵀ · scale) + bias, masked) · v.

    Args:
        q: ``(B, H, Tq, dh)``; k, v: ``(B, H, Tk, dh)``.
        mask: boolean, broadcastable to ``(B, H, Tq, Tk)``; True where a query may attend.
        bias: additive, broadcastable to ``(B, H, Tq, Tk)`` (e.g. T5's relative bias).
        scale: multiplier of q·k; None means 1/√dh.
        need_weights: False takes PyTorch's fused kernel, which returns no weights
            (unless ``softcap`` is set, which that kernel cannot apply).
        softcap: cap · tanh(x / cap) of the scaled scores (Gemma 2); the returned scores
            are the capped ones.
        slots: with ``need_weights``, where the caller keeps the matrices. The scores are
            always written there (rounded if the slot's dtype is smaller). The weights
            are computed in the slot when it holds q's dtype; otherwise they are computed
            at full precision, in place over a scratch copy of the scores, and returned
            for the caller to store: one full-precision ``(Tq, Tk)`` tensor per call.

    Masked scores are -inf. A row whose keys are all masked gets zero weights and a
    zero output instead of NaN.
    """
    if scale is None:
        scale = 1.0 / math.sqrt(q.size(-1))
    if not need_weights and softcap is None:
        return AttentionResult(_fused_attention(q, k, v, mask, bias, scale), None, None)

    # Every (Tq, Tk) pass costs as much as a matmul for long inputs, so the scale, bias
    # and mask are applied in place on the fresh product (autograd allows it: matmul,
    # add and masked_fill keep no copy of their output for the backward pass).
    in_place = slots is not None and slots.scores.dtype == q.dtype
    scores = torch.matmul(q, k.transpose(-2, -1), out=slots.scores if in_place else None)  # (B, H, Tq, Tk)
    if scale != 1.0:
        scores.mul_(scale)
    if softcap is not None:
        scores.div_(softcap).tanh_().mul_(softcap)
    if bias is not None:
        scores.add_(bias)
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))
    if slots is None or in_place:
        weights = torch.softmax(scores, dim=-1, out=slots.weights if in_place else None)
    else:
        slots.scores.copy_(scores)  # rounded to the slot's dtype; the softmax stays exact
        weights = _softmax_in_place(scores)
        scores = slots.scores
    if mask is not None:
        # softmax of an all -inf row is NaN; such a query attends to nothing. Checked on
        # the small mask first so the usual case makes no second (Tq, Tk) copy.
        unattended = ~mask.any(dim=-1, keepdim=True)
        if bool(unattended.any()):
            weights = weights.masked_fill_(unattended, 0.0) if slots is not None else weights.masked_fill(unattended, 0.0)
    if not need_weights:
        return AttentionResult(torch.matmul(weights, v), None, None)
    return AttentionResult(torch.matmul(weights, v), weights, scores)


def _softmax_in_place(scores: Tensor) -> Tensor:
    """softmax over the last axis, overwriting ``scores``; an all -inf row becomes NaN
    (the caller zeroes such rows, as it does after ``torch.softmax``)."""
    scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
    return scores.div_(scores.sum(dim=-1, keepdim=True))


def _fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, bias: Tensor | None, scale: float) -> Tensor:
    attn_mask: Tensor | None = mask
    if bias is not None:
        attn_mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    output = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)
    if mask is not None:
        output = output.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    return output


class MultiHeadAttention(nn.Module):
    """Project to heads, (normalise, rotate,) attend, merge heads, project back.

    ``layer`` is the layer's index in its stack (GPT-2 may divide its scores by layer + 1).
    Keys and values have ``config.kv_heads`` heads; query head h reads key/value head
    ``config.kv_head_of(h)``.
    """

    def __init__(self, config: ModelConfig, layer: int = 0) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.kv_heads
        self.head_dim = config.head_dim
        inner, kv_inner = config.n_heads * config.head_dim, config.kv_heads * config.head_dim
        if config.score_scale is not None:
            self.scale = config.score_scale
        else:
            self.scale = 1.0 / math.sqrt(config.head_dim) if config.scale_scores else 1.0
        if config.scale_by_inverse_layer:
            self.scale /= layer + 1
        self.softcap = config.attention_softcap
        qkv_bias = config.bias if config.qkv_bias is None else config.qkv_bias
        out_bias = config.bias if config.out_bias is None else config.out_bias
        self.q = nn.Linear(config.d_model, inner, bias=qkv_bias)
        self.k = nn.Linear(config.d_model, kv_inner, bias=qkv_bias)
        self.v = nn.Linear(config.d_model, kv_inner, bias=qkv_bias)
        self.o = nn.Linear(inner, config.d_model, bias=out_bias)
        self.qk_norm = config.qk_norm
        if config.qk_norm == "none":
            self.q_norm = self.k_norm = None
        else:
            per_head = config.qk_norm == "head"
            self.q_norm = make_norm(config, config.head_dim if per_head else inner)
            self.k_norm = make_norm(config, config.head_dim if per_head else kv_inner)

    def _split_heads(self, x: Tensor, n_heads: int) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, n_heads, self.head_dim).transpose(1, 2)  # (B, heads, T, dh)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        bias: Tensor | None = None,
        need_weights: bool = True,
        slots: TraceSlots | None = None,
        rotary: tuple[Tensor, Tensor] | None = None,
    ) -> AttentionResult:
        """Self-attention over ``x``, or cross-attention from ``x`` to ``memory``.

        x: ``(B, Tq, d_model)``; memory: ``(B, Tk, d_model)``; slots: see
        ``scaled_dot_product_attention``; rotary: the ``(T, dims)`` cos and sin tables
        of this forward's positions (``model.rotary``), None for no rotation.
        """
        q, k, v = self.project(x, memory)
        if rotary is not None:
            q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        if self.n_kv_heads != self.n_heads:
            group = self.n_heads // self.n_kv_heads  # query heads per key/value head, in order
            k = k.repeat_interleave(group, dim=1)  # (B, H, Tk, dh)
            v = v.repeat_interleave(group, dim=1)  # (B, H, Tk, dh)
        result = scaled_dot_product_attention(q, k, v, mask, bias, self.scale, need_weights, slots, self.softcap)
        return AttentionResult(self.merge(result.output), result.weights, result.scores)

    def project(self, x: Tensor, memory: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Queries ``(B, H, Tq, dh)`` from ``x``, keys and values ``(B, KV, Tk, dh)`` from
        ``memory`` (or ``x``), QK-normalised, not yet rotated nor repeated for shared heads."""
        k, v = self.project_keys_values(x if memory is None else memory)
        return self.project_queries(x), k, v

    def project_queries(self, x: Tensor) -> Tensor:
        """``(B, T, d_model)`` → queries ``(B, H, T, dh)``, QK-normalised, not rotated."""
        q = self.q(x)  # (B, T, H · dh)
        if self.q_norm is not None and self.qk_norm == "projection":
            q = self.q_norm(q)
        q = self._split_heads(q, self.n_heads)  # (B, H, T, dh)
        if self.q_norm is not None and self.qk_norm == "head":
            q = self.q_norm(q)
        return q

    def project_keys_values(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, T, d_model)`` → keys and values ``(B, KV, T, dh)``, keys QK-normalised, not rotated."""
        k, v = self.k(source), self.v(source)  # (B, T, KV · dh)
        if self.k_norm is not None and self.qk_norm == "projection":
            k = self.k_norm(k)
        k = self._split_heads(k, self.n_kv_heads)  # (B, KV, T, dh)
        v = self._split_heads(v, self.n_kv_heads)  # (B, KV, T, dh)
        if self.k_norm is not None and self.qk_norm == "head":
            k = self.k_norm(k)
        return k, v

    def merge(self, output: Tensor) -> Tensor:
        """``(B, H, Tq, dh)`` attention output → ``(B, Tq, d_model)``: heads merged and projected."""
        B, H, T, dh = output.shape
        merged = output.transpose(1, 2).reshape(B, T, H * dh)  # (B, Tq, H·dh)
        return self.o(merged)
