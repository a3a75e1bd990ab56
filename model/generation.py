"""Greedy decoding for decoder-only and encoder–decoder models.

The source is encoded once; each step re-runs the decoder on the tokens so far with the
fused attention kernel (no weights kept), because the trace is taken afterwards in one
pass over the whole generated sequence.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .transformer import Transformer


@torch.inference_mode()
def greedy_generate(
    network: Transformer,
    prefix: Tensor,
    max_new_tokens: int,
    source_ids: Tensor | None = None,
    source_padding_mask: Tensor | None = None,
) -> Tensor:
    """Extend ``prefix`` ``(B, T0)`` by greedy choice until every row has produced EOS.

    Rows that finished are padded with the pad id. Returns ``(B, T0 + steps)``.
    """
    config = network.config
    memory = None
    if source_ids is not None:
        if source_padding_mask is None:
            source_padding_mask = network.no_padding(source_ids)
        memory = network.encode(source_ids, source_padding_mask).hidden
    ids = prefix
    finished = torch.zeros(prefix.size(0), dtype=torch.bool, device=prefix.device)
    for _ in range(max_new_tokens):
        if ids.size(1) >= config.max_positions:
            break
        hidden = network.decode(ids, memory, source_padding_mask).hidden
        next_ids = network.logits(hidden[:, -1]).argmax(dim=-1)  # (B,)
        next_ids = next_ids.masked_fill(finished, config.pad_token_id)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        if config.eos_token_id is not None:
            finished |= next_ids == config.eos_token_id
            if bool(finished.all()):
                break
    return ids
