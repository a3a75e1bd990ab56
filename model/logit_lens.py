"""The logit lens (nostalgebraist 2020): every layer's residual stream read as a prediction.

A decoder's residual stream at position t after layer l is mapped through the model's
own final norm and unembedding (``Transformer.logits``), as if the layers above l were
not there. Where a token's prediction settles, and how early, shows what each layer adds.
Row 0 is the residual entering layer 0 (the embeddings); row l + 1 the residual after
layer l; the last row is the model's own output, its next-token logits.

It reads ``Trace.decoder_residuals`` (kept by ``model.probes`` during the trace's own
forward), so nothing is run again apart from the final norm and the unembedding. That
costs (L + 1) · positions · d_model · vocabulary multiply-adds; beyond ``MAX_LENS_COST``
only the last positions that fit are computed, and ``note`` says so. Encoder–decoder
decoders work the same (their residuals already include the cross-attention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .inference import AttentionModel
from .trace import Trace

TOP_K = 10
# About 34 G multiply-adds, a few seconds on two CPU cores: GPT-2 small at 68 positions.
MAX_LENS_COST = 2**35
# Positions per unembedding step, so the (positions, vocabulary) logits stay small.
_STEP_VALUES = 2**24


@dataclass(frozen=True)
class LogitLens:
    """The lens of one trace's decoder: ``rows`` = L + 1 residuals × the ``positions`` computed.

    ``top_ids`` / ``top_probabilities`` ``(rows, P, k)``: each cell's k likeliest next
    tokens; ``final_ids`` ``(P,)``: the token the model finally predicts there (the last
    row's first choice); ``final_ranks`` ``(rows, P)``: that token's rank in each cell
    (0 = first) and ``final_probabilities`` its probability.
    """

    row_labels: list[str]
    positions: np.ndarray  # (P,) decoder positions, ascending
    top_ids: np.ndarray
    top_probabilities: np.ndarray
    final_ids: np.ndarray
    final_ranks: np.ndarray
    final_probabilities: np.ndarray
    note: str = ""


def lens_refusal(model: AttentionModel, trace: Trace) -> str:
    """Why the lens cannot be shown for ``trace`` ('' when it can)."""
    if trace.decoder is None or not model.config.lm_head:
        return "The logit lens reads a decoder's residual stream through its language-model head; this model has none."
    if trace.decoder_residuals is None:
        return ("The logit lens needs every layer's residual stream, which the trace keeps only up to "
                "model.probes.RESIDUAL_CAP values; this input is too long.")
    return ""


@torch.inference_mode()
def logit_lens(model: AttentionModel, trace: Trace, top_k: int = TOP_K, max_cost: int = MAX_LENS_COST) -> LogitLens:
    """The lens of ``trace``'s decoder (which must come from ``model``); ``ValueError`` if it has none."""
    refusal = lens_refusal(model, trace)
    if refusal:
        raise ValueError(refusal)
    network = model.network
    residuals = trace.decoder_residuals  # (L + 1, T, d_model)
    rows, length, d_model = residuals.shape
    vocabulary = network.embed_tokens.weight.shape[0]
    fit = max(1, max_cost // max(rows * d_model * vocabulary, 1))
    positions = np.arange(max(0, length - fit), length)
    note = "" if len(positions) == length else (
        f"The last {len(positions):,} of {length:,} positions (the lens costs rows × positions × d_model × vocabulary "
        f"multiply-adds, at most {max_cost:,})."
    )
    k = min(top_k, vocabulary)
    norm = network.decoder.final_norm
    step = max(1, _STEP_VALUES // vocabulary)
    top_ids = np.zeros((rows, len(positions), k), dtype=np.int64)
    top_probabilities = np.zeros((rows, len(positions), k), dtype=np.float32)
    final_ranks = np.zeros((rows, len(positions)), dtype=np.int64)
    final_probabilities = np.zeros((rows, len(positions)), dtype=np.float32)
    final_ids = np.zeros(len(positions), dtype=np.int64)
    # The last row first: its first choices are the tokens every other row is ranked against.
    for row in [rows - 1, *range(rows - 1)]:
        for start in range(0, len(positions), step):
            cells = slice(start, start + step)
            # The residuals are kept as float32; the network may compute in bfloat16 or float16.
            chunk = torch.as_tensor(residuals[row, positions[cells]], device=model.device, dtype=model.dtype)  # (p, d_model)
            hidden = norm(chunk) if norm is not None else chunk
            probabilities = torch.softmax(network.logits(hidden[None])[0].float(), dim=-1)  # (p, V)
            top = torch.topk(probabilities, k, dim=-1)
            top_ids[row, cells] = top.indices.cpu().numpy()
            top_probabilities[row, cells] = top.values.cpu().numpy()
            if row == rows - 1:
                final_ids[cells] = top_ids[row, cells, 0]
            final = torch.as_tensor(final_ids[cells], device=probabilities.device)[:, None]  # (p, 1)
            chosen = probabilities.gather(1, final)  # (p, 1)
            final_ranks[row, cells] = (probabilities > chosen).sum(dim=1).cpu().numpy()
            final_probabilities[row, cells] = chosen[:, 0].cpu().numpy()
    labels = ["embeddings", *(f"after layer {layer}" for layer in range(rows - 1))]
    return LogitLens(labels, positions, top_ids, top_probabilities, final_ids, final_ranks, final_probabilities, note)
