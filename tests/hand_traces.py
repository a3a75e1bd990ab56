"""Traces written by hand, for tests whose expected numbers are worked out on paper."""

from __future__ import annotations

import numpy as np

from model.trace import AttentionMaps, TokenAxis, Trace

# Head 0 puts 0.7 of every query's weight on key 0 ([CLS]): an attention sink. Head 1 is uniform.
SINK = np.array([
    [0.7, 0.1, 0.1, 0.1],
    [0.7, 0.2, 0.05, 0.05],
    [0.7, 0.0, 0.3, 0.0],
    [0.7, 0.1, 0.0, 0.2],
], dtype=np.float32)
SPREAD = np.full((4, 4), 0.25, dtype=np.float32)


def sink_trace() -> Trace:
    """An encoder trace of '[CLS] a b [SEP]', one layer, heads SINK and SPREAD."""
    weights = np.stack([np.stack([SINK, SPREAD])])  # (L=1, H=2, 4, 4)
    with np.errstate(divide="ignore"):
        scores = np.log(weights)
    axis = TokenAxis(ids=np.arange(4), tokens=["[CLS]", "a", "b", "[SEP]"],
                     special=np.array([True, False, False, True]), padding=np.zeros(4, bool))
    return Trace("hand", "encoder", axis, None, {"encoder_self": AttentionMaps(weights, scores)})
