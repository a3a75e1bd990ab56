"""The next-token line: the top predictions after a position, from the trace's own hidden states."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.next_token import next_token_logits, next_token_top
from model import load_checkpoint


def _softmax(row: np.ndarray) -> np.ndarray:
    shifted = np.exp(row - row.max())
    return shifted / shifted.sum()


@pytest.mark.parametrize("architecture", ["decoder", "encoder-decoder"])
def test_the_top_predictions_equal_a_second_forwards_softmax(make_checkpoint, architecture: str) -> None:
    model = load_checkpoint(make_checkpoint(architecture))
    trace = model.trace("sort: owl cat fig", target="cat fig owl" if architecture == "encoder-decoder" else None)
    logits = next_token_logits(model, trace)  # (T, V), from a forward of its own
    for position in range(len(trace.decoder)):
        expected = _softmax(logits[position].astype(np.float64))
        top = next_token_top(model, trace, position, k=5)
        order = np.argsort(-expected, kind="stable")[:5]
        assert [token for token, _ in top] == model.tokenizer.tokens([int(index) for index in order])
        np.testing.assert_allclose([p for _, p in top], expected[order], atol=1e-6)


def test_an_encoder_has_no_next_token(make_checkpoint) -> None:
    model = load_checkpoint(make_checkpoint("encoder", lm_head=False))
    trace = model.trace("sort: owl cat fig")
    assert trace.decoder_hidden is None
    with pytest.raises(ValueError, match="need a decoder"):
        next_token_top(model, trace, 0)
