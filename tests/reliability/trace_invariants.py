"""What every trace must hold, whatever text or checkpoint produced it."""

from __future__ import annotations

import numpy as np

from explorer.token_labels import display_token
from model import AttentionModel, Trace

ROW_TOLERANCE = 1e-5


def check_trace(trace: Trace, model: AttentionModel) -> None:
    """The invariants every trace must hold, whatever its input."""
    assert trace.kinds == model.config.attention_kinds
    for kind in trace.kinds:
        query_axis, key_axis = trace.axes(kind)
        weights, scores = trace.attention[kind].weights, trace.attention[kind].scores  # (L, H, Q, K)
        assert weights.shape[2:] == (len(query_axis), len(key_axis))
        assert len(query_axis) <= model.config.max_positions and len(key_axis) <= model.config.max_positions
        queries, keys = np.arange(len(query_axis))[:, None], np.arange(len(key_axis))[None, :]
        # A single input has no padding: only the decoder's future is masked.
        expected_mask = keys > queries if kind == "decoder_self" else np.zeros((len(query_axis), len(key_axis)), bool)
        masked = np.isneginf(scores)
        assert (masked == expected_mask).all(), f"{kind}: masked keys are not the expected ones"
        assert np.isfinite(scores[~masked]).all() and np.isfinite(weights).all()
        assert (weights[masked] == 0).all()
        assert (weights >= 0).all()
        row_sums = np.where(masked, 0.0, weights).sum(axis=-1)
        assert np.abs(row_sums - 1).max(initial=0) <= ROW_TOLERANCE, f"{kind}: a row does not sum to 1"
    for axis in (trace.encoder, trace.decoder):
        if axis is None:
            continue
        for token in axis.tokens:
            label = display_token(token)
            assert isinstance(label, str) and label and label.isprintable(), repr(token)
