"""The recomputed trace's forward: one stack run layer by layer, keeping what makes attention.

Each layer's attention runs blockwise (``model.blockwise``): queries and keys are
projected, normalised and rotated as ``MultiHeadAttention.forward`` does, the scale is
folded into the queries, and the layer's ``LayerRecord`` (queries, keys, lse, recipe)
and values are kept; the overview is pooled while each block's weights exist. The rest
of the layer (norms, residuals, feed-forward) is the network's own modules, so the
hidden states are those of the dense forward to rounding.

A forward may start at ``start`` > 0 with ``past``, the ``StackRun`` of a previous input
whose first ``start`` tokens are the same (causal stacks only): their keys, values,
queries, lse and hidden states are kept, only the suffix is run, its positions start at
``start``, and the overview keeps its blocks of unchanged rows (``model.incremental``).
Nothing of ``past`` is modified: a trace already handed out stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .blockwise import block_rows, blockwise_attention, grouped_products
from .config import ModelConfig
from .overview import PooledOverview
from .progress import Progress, report
from .recipe import ScoreRecipe
from .recomputed import LayerRecord
from .rotary import Rotary, apply_rotary, inverse_frequencies, rotary_tables
from .rowchunks import RowChunks, single


# A suffix of at least this many tokens attends to one concatenated copy of the keys
# and values; a shorter one (typing) to the chunks as they are.
CONSOLIDATE_ROWS = 64


@dataclass(frozen=True)
class AttentionRun:
    """One attention kind of one stack's forward: every layer's record, values and overview."""

    records: tuple[LayerRecord, ...]
    values: tuple[RowChunks, ...]  # (B, KV, Tk, dh) per layer: the rest of the KV cache
    overview: PooledOverview


@dataclass(frozen=True)
class StackRun:
    """What a recomputed forward of one stack leaves: its attention and last hidden states."""

    self_attention: AttentionRun
    cross_attention: AttentionRun | None
    hidden: Tensor  # (B, T, d_model), after the final norm
    n_tokens: int


def rotary_is_stable(config: ModelConfig, n_layers: int, old_length: int, new_length: int) -> bool:
    """Whether every layer's rotary frequencies are the same at both lengths (dynamic NTK
    and LongRoPE change them with the length: then every key rotates anew)."""
    for layer in range(n_layers):
        settings = config.layer_rotary(layer)
        if settings is None:
            continue
        old, old_scale = inverse_frequencies(settings, config.head_dim, old_length)
        new, new_scale = inverse_frequencies(settings, config.head_dim, new_length)
        if old_scale != new_scale or not torch.equal(old, new):
            return False
    return True


def recompute_weights(record: LayerRecord, first: int, end: int) -> tuple[Tensor, int]:
    """Weights ``(B, H, r, c)`` of query rows ``[first, end)`` over the keys they can see,
    from the record alone, and the first of those keys."""
    k0, k1 = record.recipe.key_range(first, end, record.keys.length)
    q = torch.cat([piece for _, piece in record.queries.pieces(first, end)], dim=2)  # (B, H, r, dh)
    lse = torch.cat([piece for _, piece in record.lse.pieces(first, end)], dim=2)  # (B, H, r)
    scores = grouped_products(q, record.keys, k0, k1)
    record.recipe.apply(scores, torch.arange(first, end, device=q.device), torch.arange(k0, k1, device=q.device), ascending=True)
    seen = torch.isfinite(lse)[..., None]
    return torch.where(seen, (scores - lse[..., None]).exp_(), 0.0), k0


def carried_overview(
    past: AttentionRun | None, records: list[LayerRecord], shape: tuple[int, int], side: int, start: int, batch: int, n_heads: int, device
) -> PooledOverview:
    """The overview of a forward that keeps rows ``[0, start)``: the past's blocks of
    those rows (regrown if the blocks doubled), the kept rows of the block ``start``
    falls in from the past's strips (or, where they do not reach, recomputed from the
    kept records); the forward adds the rest."""
    regrown = past.overview.regrown(shape, side, start) if past is not None and start > 0 else None
    if regrown is None:
        overview, first = PooledOverview.empty(batch, len(records), n_heads, shape, side, device), 0
    else:
        overview, first = regrown
    if first < start:
        for layer, record in enumerate(records):
            step = block_rows(batch * n_heads, record.keys.length)
            for r0 in range(first, start, step):
                weights, k0 = recompute_weights(record, r0, min(start, r0 + step))
                overview.add(layer, weights, r0, k0)
    return overview


class _KindRun:
    """One attention kind during one forward: what it continues and what it builds."""

    def __init__(self, past: AttentionRun | None, start: int, shape: tuple[int, int], side: int, batch: int,
                 n_layers: int, n_heads: int, device, causal: bool) -> None:
        self.start = start
        kept_keys = start if causal else shape[1]  # a causal kind's later keys changed too
        continued = past is not None and start > 0
        self.kept = [record.truncated(start, kept_keys) for record in past.records] if continued else None
        self.kept_values = [values.truncated(kept_keys) for values in past.values] if continued else None
        if self.kept is not None:
            self.overview = carried_overview(past, self.kept, shape, side, start, batch, n_heads, device)
        else:
            self.overview = PooledOverview.empty(batch, n_layers, n_heads, shape, side, device)
        self.records: list[LayerRecord] = []
        self.values: list[RowChunks] = []

    def attend(self, layer: int, q: Tensor, keys: RowChunks, values: RowChunks, recipe: ScoreRecipe) -> Tensor:
        """Blockwise attention of the new queries ``(B, H, Tn, dh)``; keeps the layer's record."""
        output, lse = blockwise_attention(
            q, keys, values, recipe, self.start, lambda w, r, c: self.overview.add(layer, w, r, c)
        )
        kept = self.kept[layer] if self.kept is not None else None
        queries = (kept.queries if kept else RowChunks(())).extended(q)
        lses = (kept.lse if kept else RowChunks(())).extended(lse)
        self.records.append(LayerRecord(queries, keys, lses, recipe))
        self.values.append(values)
        return output

    def finished(self) -> AttentionRun:
        return AttentionRun(tuple(self.records), tuple(self.values), self.overview)


class StackRunner:
    """Runs ``stack`` (the network's ``Encoder`` or ``Decoder``) with recomputed attention.

    Args:
        network: the ``Transformer`` (for its token table).
        stack: ``network.encoder`` or ``network.decoder``.
        name: ``"encoder"`` or ``"decoder"`` (for progress).
        causal: whether its self-attention is causal (the decoder's).
        side: the overview's largest side.
        progress: called at every layer boundary (``model.progress``).
    """

    def __init__(self, network, stack, name: str, causal: bool, side: int, progress: Progress | None = None) -> None:
        self.network, self.stack, self.name, self.causal = network, stack, name, causal
        self.config: ModelConfig = stack.config
        self.side = side
        self.progress = progress

    def run(
        self,
        ids: Tensor,
        padding_mask: Tensor | None = None,
        type_ids: Tensor | None = None,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
        start: int = 0,
        past: StackRun | None = None,
    ) -> StackRun:
        """The stack's forward over ``ids`` ``(B, T)``, from token ``start`` on.

        ``past`` (with ``start`` > 0: a causal stack only) is the run of an input whose
        first ``start`` tokens were these; with cross-attention it must have attended
        to the same ``memory``, whose keys and values it then lends (even at ``start`` 0).
        """
        if start and (past is None or not self.causal):
            raise ValueError("only a causal stack continues a previous forward")
        stack, config = self.stack, self.config
        B, T = ids.shape
        device = ids.device
        if padding_mask is None:
            padding_mask = self.network.no_padding(ids)
        # (B, Tn, d_model): only the new tokens, at their positions in the whole input.
        x = stack.embed(self.network.embed_tokens(ids[:, start:]), padding_mask, type_ids, start=start)
        key_padding = None if bool(padding_mask.all()) else padding_mask
        n_layers, n_heads = len(stack.layers), stack.n_heads
        tables: dict[Rotary, tuple[Tensor, Tensor]] = {}
        self_run = _KindRun(past.self_attention if past else None, start, (T, T), self.side, B, n_layers, n_heads,
                            device, causal=self.causal)
        cross_run = None
        if memory is not None and getattr(stack, "cross_attention", False):
            cross_past = past.cross_attention if past is not None else None
            cross_run = _KindRun(cross_past, start, (T, memory.shape[1]), self.side, B, n_layers, n_heads, device,
                                 causal=False)
            memory_padding = None if memory_mask is None or bool(memory_mask.all()) else memory_mask
            lent = cross_past.records if cross_past is not None else None

        for index, layer in enumerate(stack.layers):

            def self_attention(h: Tensor, index=index, attention=layer.self_attn) -> Tensor:
                q, k, v = attention.project(h)  # (B, H, Tn, dh), (B, KV, Tn, dh) × 2
                settings = config.layer_rotary(index)
                if settings is not None:
                    if settings not in tables:
                        cos, sin = rotary_tables(settings, config.head_dim, T, device)  # (T, dims) each
                        tables[settings] = (cos[start:], sin[start:])
                    q, k = apply_rotary(q, tables[settings]), apply_rotary(k, tables[settings])
                kept = self_run.kept[index] if self_run.kept is not None else None
                keys = (kept.keys if kept else RowChunks(())).extended(k)
                values = (self_run.kept_values[index] if kept else RowChunks(())).extended(v)
                if len(keys.chunks) > 1 and k.shape[2] >= CONSOLIDATE_ROWS:
                    # A long suffix (an edit in the middle): one copy of the keys and values
                    # costs less than stitching every block's scores across chunks.
                    keys, values = single(keys.whole()), single(values.whole())
                recipe = ScoreRecipe(causal=self.causal, window=config.layer_window(index), key_padding=key_padding,
                                     relative=stack.relative_bias, softcap=attention.softcap)
                return attention.merge(self_run.attend(index, q * attention.scale, keys, values, recipe))

            def cross_attention(h: Tensor, index=index, attention=getattr(layer, "cross_attn", None)) -> Tensor:
                if lent is not None:  # the same source: its keys and values were projected once
                    keys, values = lent[index].keys, cross_past.values[index]
                else:
                    k, v = attention.project_keys_values(memory)  # (B, KV, Tk, dh) each
                    keys, values = single(k), single(v)
                recipe = ScoreRecipe(key_padding=memory_padding, softcap=attention.softcap)
                q = attention.project_queries(h) * attention.scale  # (B, H, Tn, dh)
                return attention.merge(cross_run.attend(index, q, keys, values, recipe))

            x = layer.self_attn_residual(x, self_attention)
            if cross_run is not None and layer.cross_attn_residual is not None:
                x = layer.cross_attn_residual(x, cross_attention)
            x = layer.ffn_residual(x, layer.ffn)
            report(self.progress, self.name, index + 1, n_layers)
        if stack.final_norm is not None:
            x = stack.final_norm(x)
        hidden = torch.cat([past.hidden[:, :start], x], dim=1) if start else x  # (B, T, d_model)
        return StackRun(self_run.finished(), cross_run.finished() if cross_run else None, hidden, T)
