"""Greedy decoding for decoder-only and encoder–decoder models, with a key/value cache.

The source is encoded once. Each step runs the decoder on the newest token only: every
layer keeps the keys and values of the tokens before it (self-attention) and of the
encoder output (cross-attention), so a step costs one token's projections instead of the
whole prefix's. The trace is taken afterwards in one pass over the whole generated
sequence, so the cache never touches what the explorer shows; ``use_cache=False`` re-runs
the decoder on every prefix (the reference the tests compare against).

While the user types, the previous keystroke's output is often the answer again: on the
bundled model, for 39 of 40 keystrokes typing and deleting an "x" after its example, and
for 15 of 33 and 19 of 29 typing its example and a sort task letter by letter.
``check_draft`` reads the logits of one teacher-forced pass over such a draft (the pass
the trace runs anyway) and says how much of it greedy decoding is sure to produce, and
whether greedy stops there; ``greedy_steps`` continues from the rest.

What is guaranteed (``AttentionModel`` drafts only for float32 networks). Every token is
the argmax of float32 logits the network computed for exactly its prefix, by one of three computations of the same function: the traced
teacher-forced pass, the cached step, the recomputing path. They differ only by float32
rounding (at most 1.2e-5, on logits up to 18 in magnitude, over 65 inputs of the bundled
model). A draft token is
accepted only where it beats every other token by ``DRAFT_MARGIN`` of the largest logit,
and ``greedy_steps(..., margin=...)`` stops where a step's choice is that close, so the
caller can fall back to plain greedy decoding. Hence a sequence built from a draft
is the one plain greedy decoding produces unless two computations of the same logits
differ by more than half the margin — orders of magnitude beyond the rounding measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .transformer import Transformer


# A draft token (or, with ``margin``, a step's choice) counts as decided only when its
# logit beats every other by this fraction of the largest logit magnitude (at least 1.0).
# On the bundled model that is 0.018: half of it is 700× the largest difference measured
# between the traced pass, the cached step and the recomputing path (1.2e-5 over 65
# inputs), and it is far below a trained model's usual gaps (11–14 there; the smallest
# seen was 0.007), so it costs steps only in a near-tie (1 keystroke in 101 typed).
DRAFT_MARGIN = 1e-3


@torch.inference_mode()
def greedy_generate(
    network: Transformer,
    prefix: Tensor,
    max_new_tokens: int,
    source_ids: Tensor | None = None,
    source_padding_mask: Tensor | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Extend ``prefix`` ``(B, T0)`` by greedy choice until every row has produced EOS.

    Rows that finished are padded with the pad id. Returns ``(B, T0 + steps)``.
    """
    memory = None
    if source_ids is not None:
        if source_padding_mask is None:
            source_padding_mask = network.no_padding(source_ids)
        memory = network.encode(source_ids, source_padding_mask).hidden
    return greedy_steps(network, prefix, max_new_tokens, memory, source_padding_mask, use_cache).ids


@dataclass(frozen=True)
class Greedy:
    """What ``greedy_steps`` produced."""

    ids: Tensor  # (B, T0 + steps)
    steps: int  # decoder steps run (one per token appended)
    # False when a step's choice was within ``margin`` of another token: ``ids`` then ends
    # before that choice, and the caller decides how to continue.
    decided: bool = True


@torch.inference_mode()
def greedy_steps(
    network: Transformer,
    prefix: Tensor,
    max_new_tokens: int,
    memory: Tensor | None = None,
    memory_mask: Tensor | None = None,
    use_cache: bool = True,
    margin: float | None = None,
) -> Greedy:
    """``greedy_generate``'s loop on an encoded source (``memory`` ``(B, Tk, d_model)``).

    ``margin``: stop, with ``decided=False``, before appending a choice that beats the
    runner-up by less than ``margin`` of the largest logit (see ``decided``).
    """
    config = network.config
    step = _CachedDecoder(network, memory, memory_mask) if use_cache and cache_applies(config) else None
    ids = prefix
    finished = torch.zeros(prefix.size(0), dtype=torch.bool, device=prefix.device)
    steps = 0
    for _ in range(max_new_tokens):
        if ids.size(1) >= config.max_positions:
            break
        if step is not None:
            last = step(ids)  # (B, d_model)
        else:
            last = network.decode(ids, memory, memory_mask).hidden[:, -1]
        logits = network.logits(last)  # (B, vocab)
        steps += 1
        if margin is not None and not bool(decided(logits, margin)[~finished].all()):
            return Greedy(ids, steps, decided=False)
        next_ids = logits.argmax(dim=-1)  # (B,)
        next_ids = next_ids.masked_fill(finished, config.pad_token_id)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        if config.eos_token_id is not None:
            finished |= next_ids == config.eos_token_id
            if bool(finished.all()):
                break
    return Greedy(ids, steps)


def decided(logits: Tensor, margin: float | None = None) -> Tensor:
    """``(...,)`` bool: whether each row's argmax of ``logits`` ``(..., vocab)`` beats the
    runner-up by at least ``margin`` (None: ``DRAFT_MARGIN``) of the row's largest
    magnitude (at least 1.0)."""
    margin = DRAFT_MARGIN if margin is None else margin
    if logits.size(-1) < 2:
        return torch.ones(logits.shape[:-1], dtype=torch.bool, device=logits.device)
    top = logits.topk(2, dim=-1).values  # (..., 2)
    scale = logits.abs().amax(dim=-1).clamp(min=1.0)
    return top[..., 0] - top[..., 1] >= margin * scale


def greedy_length(config, prompt_length: int, max_new_tokens: int) -> int:
    """The longest sequence ``greedy_generate`` returns from a prompt of this length."""
    return max(prompt_length, min(prompt_length + max(max_new_tokens, 0), config.max_positions))


@dataclass(frozen=True)
class DraftCheck:
    """How much of a draft greedy decoding is sure to produce (``check_draft``)."""

    ids: list[int]  # the prompt, then every token greedy decoding is sure to choose next
    finished: bool  # greedy decoding stops after ``ids``: EOS, ``max_new_tokens`` or ``max_positions``
    confirmed: bool  # ``ids`` is the whole draft and greedy stops there: the draft's pass is the answer


def check_draft(network: Transformer, draft: list[int], logits: Tensor, prompt_length: int, max_new_tokens: int) -> DraftCheck:
    """Compare a draft with greedy decoding, position by position, for one row.

    ``logits`` ``(T, vocab)`` are the network's for a teacher-forced pass over ``draft``
    (``T = len(draft)``); ``draft[:prompt_length]`` is the prompt. Greedy decoding's rules
    are ``greedy_generate``'s for one row: it appends the argmax after the last token,
    stops after EOS (a row alone stops the loop, so no pad follows), after
    ``max_new_tokens`` tokens or at ``max_positions``. Position i's argmax is accepted
    when it is decided (``decided``); if it is not draft token i + 1 it is still greedy's
    next token, but the draft's later logits no longer apply, so the check ends there.
    """
    config = network.config
    limit = greedy_length(config, prompt_length, max_new_tokens)
    ids = list(draft[:prompt_length])
    if prompt_length < 1 or len(draft) < prompt_length or logits.size(0) != len(draft):
        raise ValueError(f"a draft of {len(draft)} tokens needs a prompt of {prompt_length} and one row of logits per token")
    choices = logits.argmax(dim=-1).tolist()  # (T,)
    sure = decided(logits).tolist()
    while len(ids) < limit:
        position = len(ids) - 1
        if not sure[position]:
            return DraftCheck(ids, finished=False, confirmed=False)
        choice = choices[position]
        ids.append(choice)
        if config.eos_token_id is not None and choice == config.eos_token_id:
            break
        if len(ids) > len(draft) or draft[len(ids) - 1] != choice:  # past the draft, or off it
            finished = len(ids) >= limit
            return DraftCheck(ids, finished=finished, confirmed=False)
    return DraftCheck(ids, finished=True, confirmed=ids == list(draft))


def cache_applies(config) -> bool:
    """Whether the cached step computes exactly what ``Decoder.forward`` does for this model.

    It projects, attends and merges heads itself, so it covers the attention of the
    families it was written for (learned, sinusoidal and relative positions, one key head
    per query head); rotary positions, QK-norm, shared key heads, soft-caps and sliding
    windows take the recomputing path until the attention module can take cached keys.
    """
    decoder = config.stack_config("decoder")
    windowed = config.architecture == "decoder" and any(window is not None for window in config.layer_windows)
    return (
        config.positions != "rotary"
        and config.rotary is None
        and config.qk_norm == "none"
        and decoder.kv_heads == decoder.n_heads
        and config.attention_softcap is None
        and not windowed
    )


class _CachedDecoder:
    """The decoder's last hidden state for a growing ``ids``, one new token per call.

    The same modules as ``Decoder.forward`` in the same order; only the keys and values
    of earlier tokens come from the cache. Positions are those of the whole sequence:
    the embedding (and a relative bias) are computed for all of ``ids`` and the rows of
    the tokens not yet seen are taken, which costs a lookup, not a layer.
    """

    def __init__(self, network: Transformer, memory: Tensor | None, memory_mask: Tensor | None) -> None:
        self.network = network
        self.decoder = network.decoder
        self.memory = memory if memory is not None and self.decoder.cross_attention else None
        self.cross_mask = None
        if self.memory is not None and memory_mask is not None and not bool(memory_mask.all()):
            self.cross_mask = memory_mask[:, None, None, :]  # (B, 1, 1, Tk)
        n_layers = len(self.decoder.layers)
        self.keys: list[Tensor | None] = [None] * n_layers  # (B, H, T, dh) each
        self.values: list[Tensor | None] = [None] * n_layers
        self.cross: list[tuple[Tensor, Tensor] | None] = [None] * n_layers
        self.seen = 0  # tokens already in the cache

    def __call__(self, ids: Tensor) -> Tensor:
        decoder = self.decoder
        T = ids.size(1)
        padding = self.network.no_padding(ids)
        x = decoder.embed(self.network.embed_tokens(ids), padding)[:, self.seen :]  # (B, Tn, d_model)
        Tn = x.size(1)
        mask = None
        if Tn > 1:  # the first call: the prefix attends causally within itself
            mask = torch.ones(Tn, T, dtype=torch.bool, device=ids.device).tril(diagonal=T - Tn)[None, None]
        bias = decoder.relative_bias(T, T)[:, :, self.seen :] if decoder.relative_bias is not None else None
        for index, layer in enumerate(decoder.layers):
            x = layer.self_attn_residual(x, lambda h, i=index, l=layer: self._self_attention(i, l.self_attn, h, mask, bias))
            if layer.cross_attn_residual is not None and self.memory is not None:
                x = layer.cross_attn_residual(x, lambda h, i=index, l=layer: self._cross_attention(i, l.cross_attn, h))
            x = layer.ffn_residual(x, layer.ffn)
        if decoder.final_norm is not None:
            x = decoder.final_norm(x)
        self.seen = T
        return x[:, -1]

    def _self_attention(self, index: int, attention, h: Tensor, mask: Tensor | None, bias: Tensor | None) -> Tensor:
        q = attention._split_heads(attention.q(h), attention.n_heads)  # (B, H, Tn, dh)
        k = attention._split_heads(attention.k(h), attention.n_heads)
        v = attention._split_heads(attention.v(h), attention.n_heads)
        if self.keys[index] is not None:
            k = torch.cat([self.keys[index], k], dim=2)  # (B, H, T, dh)
            v = torch.cat([self.values[index], v], dim=2)
        self.keys[index], self.values[index] = k, v
        return _attend(attention, q, k, v, mask, bias)

    def _cross_attention(self, index: int, attention, h: Tensor) -> Tensor:
        if self.cross[index] is None:
            self.cross[index] = (
                attention._split_heads(attention.k(self.memory), attention.n_heads),  # (B, H, Tk, dh)
                attention._split_heads(attention.v(self.memory), attention.n_heads),
            )
        k, v = self.cross[index]
        output = _attend(attention, attention._split_heads(attention.q(h), attention.n_heads), k, v, self.cross_mask, None)
        return output


def _attend(attention, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, bias: Tensor | None) -> Tensor:
    """The fused kernel as ``model.attention`` runs it without weights, heads merged and projected."""
    attn_mask: Tensor | None = mask
    if bias is not None:
        attn_mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    output = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=attention.scale)  # (B, H, Tn, dh)
    if mask is not None:
        output = output.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    B, H, Tn, dh = output.shape
    return attention.o(output.transpose(1, 2).reshape(B, Tn, H * dh))  # (B, Tn, d_model)
