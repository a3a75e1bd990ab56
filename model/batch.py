"""Traces of many inputs at once: one padded forward per batch, split back into one trace each.

``attention-explorer stats --corpus`` runs a whole text file through the model. One
forward per line would spend most of its time in per-call overhead on short lines, so
lines are padded on the right to the batch's longest and run together: padded keys are
masked (they get zero weight), a causal decoder's real tokens never see the padding that
comes after them, and each row's trace is cut back to its own tokens, so every trace
equals the one ``AttentionModel.trace`` takes of that line alone (up to float rounding;
a test holds them to 1e-5). An encoder–decoder generates its decoder side for the whole
batch at once (greedy, as ``trace`` does), then is traced teacher-forced on what it
generated.

Batch traces carry no value norms or residual stream (``model.probes``): the corpus
statistics read attention weights only.
"""

from __future__ import annotations

import torch

from .generation import greedy_generate
from .inference import DEFAULT_MAX_NEW_TOKENS, AttentionModel, _maps
from .recorder import AttentionRecorder
from .trace import AttentionMaps, Trace


def _padded(rows: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T)`` ids padded on the right with ``pad`` and the ``(B, T)`` mask of real tokens."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), width), dtype=torch.bool, device=device)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[index, : len(row)] = True
    return ids, mask


def _row(maps: AttentionMaps, row: int, queries: int, keys: int) -> AttentionMaps:
    """One input's maps out of a batch's ``(B, L, H, Q, K)``-backed maps."""
    return AttentionMaps(
        weights=maps.weights[row, :, :, :queries, :keys],
        scores=maps.scores[row, :, :, :queries, :keys],
        kv_heads=maps.kv_heads,
        windows=maps.windows,
    )


def _batch_maps(stack, config, kind: str) -> AttentionMaps:
    maps = _maps(stack, config, kind)  # the first row's; the whole stack is re-read below
    return AttentionMaps(
        weights=stack.weights.cpu().numpy(), scores=stack.scores.cpu().numpy(),  # (B, L, H, Q, K)
        kv_heads=maps.kv_heads, windows=maps.windows,
    )


@torch.inference_mode()
def trace_batch(model: AttentionModel, texts: list[str], max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[Trace]:
    """One float32 trace per text, from one padded forward (see the module docstring)."""
    if not texts:
        return []
    config = model.config
    model._set_threads()
    encoded = [model.tokenizer.encode(text) for text in texts]
    notices = [
        [f"The input was cut to the model's maximum of {model.tokenizer.max_length} tokens."] if item.truncated else []
        for item in encoded
    ]
    recorder = AttentionRecorder(dtype=torch.float32)
    ids, mask = _padded([item.ids for item in encoded], config.pad_token_id, model.device)
    lengths = [len(item.ids) for item in encoded]
    traces = []
    if config.architecture == "encoder":
        output = model.network.encode(ids, mask, recorder=recorder)
        maps = _batch_maps(output.self_attention, config, "encoder_self")
        for row, item in enumerate(encoded):
            n = lengths[row]
            traces.append(Trace(model.name, config.architecture, model._input_axis(item), None,
                                {"encoder_self": _row(maps, row, n, n)}, notices=notices[row]))
        return traces
    if config.architecture == "decoder":
        output = model.network.decode(ids, padding_mask=mask, recorder=recorder)
        maps = _batch_maps(output.self_attention, config, "decoder_self")
        for row, item in enumerate(encoded):
            n = lengths[row]
            traces.append(Trace(model.name, config.architecture, None, model._input_axis(item),
                                {"decoder_self": _row(maps, row, n, n)}, notices=notices[row],
                                decoder_hidden=output.hidden[row, :n].float().cpu().numpy()))
        return traces
    prefix = torch.full((len(texts), 1), config.start_token_id, dtype=torch.long, device=model.device)
    generated = greedy_generate(model.network, prefix, max_new_tokens, ids, mask)  # (B, T), pad after EOS
    decoder_rows = []
    for row in generated.tolist():
        end = len(row)
        if config.eos_token_id is not None and config.eos_token_id in row[1:]:
            end = row.index(config.eos_token_id, 1) + 1
        decoder_rows.append(row[:end])
    decoder_ids, decoder_mask = _padded(decoder_rows, config.pad_token_id, model.device)
    encoder_output, decoder_output = model.network(ids, decoder_ids, mask, decoder_mask, recorder=recorder)
    stacks = {
        "encoder_self": _batch_maps(encoder_output.self_attention, config, "encoder_self"),
        "decoder_self": _batch_maps(decoder_output.self_attention, config, "decoder_self"),
        "cross": _batch_maps(decoder_output.cross_attention, config, "cross"),
    }
    for row, item in enumerate(encoded):
        n, m = lengths[row], len(decoder_rows[row])
        sizes = {"encoder_self": (n, n), "decoder_self": (m, m), "cross": (m, n)}
        traces.append(Trace(
            model.name, config.architecture, model._input_axis(item), model._axis(decoder_rows[row]),
            {kind: _row(stacks[kind], row, *sizes[kind]) for kind in stacks},
            generated=True, notices=notices[row],
            decoder_hidden=decoder_output.hidden[row, :m].float().cpu().numpy(),
        ))
    return traces
