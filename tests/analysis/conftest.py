"""Fixtures for the analysis tests: traces built by hand from small weight matrices."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from model.trace import AttentionMaps, TokenAxis, Trace


def _axis(tokens: list[str], special: set[int], padding: set[int], id_offset: int) -> TokenAxis:
    return TokenAxis(
        ids=np.arange(id_offset, id_offset + len(tokens), dtype=np.int64),
        tokens=list(tokens),
        special=np.array([index in special for index in range(len(tokens))], dtype=bool),
        padding=np.array([index in padding for index in range(len(tokens))], dtype=bool),
    )


def _maps(weights: np.ndarray) -> AttentionMaps:
    weights = np.asarray(weights, dtype=np.float32)
    with np.errstate(divide="ignore"):
        scores = np.where(weights > 0, np.log(np.where(weights > 0, weights, 1.0)), -np.inf).astype(np.float32)
    return AttentionMaps(weights=weights, scores=scores)


@pytest.fixture
def make_trace() -> Callable[..., Trace]:
    """Build a trace from ``(L, H, Q, K)`` weight stacks per kind.

    Token ids are consecutive from 10 (encoder) and 100 (decoder), so two traces built
    with the same token counts have the same tokens; pass ``encoder_ids`` or
    ``decoder_ids`` to change some.
    """

    def make(
        encoder_self: np.ndarray | None = None,
        decoder_self: np.ndarray | None = None,
        cross: np.ndarray | None = None,
        encoder_special: set[int] = frozenset(),
        decoder_special: set[int] = frozenset(),
        encoder_padding: set[int] = frozenset(),
        decoder_padding: set[int] = frozenset(),
        encoder_ids: list[int] | None = None,
        decoder_ids: list[int] | None = None,
        architecture: str | None = None,
    ) -> Trace:
        attention = {}
        encoder = decoder = None
        if encoder_self is not None or cross is not None:
            n_encoder = (encoder_self if encoder_self is not None else cross).shape[-1]
            encoder = _axis([f"e{i}" for i in range(n_encoder)], set(encoder_special), set(encoder_padding), 10)
            if encoder_ids is not None:
                encoder.ids = np.asarray(encoder_ids, dtype=np.int64)
                encoder.tokens = [f"e{i}" for i in encoder_ids]
        if decoder_self is not None:
            n_decoder = decoder_self.shape[-1]
            decoder = _axis([f"d{i}" for i in range(n_decoder)], set(decoder_special), set(decoder_padding), 100)
            if decoder_ids is not None:
                decoder.ids = np.asarray(decoder_ids, dtype=np.int64)
                decoder.tokens = [f"d{i}" for i in decoder_ids]
        for kind, weights in (("encoder_self", encoder_self), ("decoder_self", decoder_self), ("cross", cross)):
            if weights is not None:
                attention[kind] = _maps(weights)
        if architecture is None:
            architecture = "encoder-decoder" if encoder and decoder else ("encoder" if encoder else "decoder")
        return Trace("hand-made", architecture, encoder, decoder, attention)

    return make
