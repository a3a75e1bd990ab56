"""The logit lens on the worker: the lens of the trace on show, with its tokens' labels.

It runs the model's final norm and unembedding, so it imports torch (through
``model.logit_lens``); the dock (``modes.logit_lens``) only draws the numbers.
"""

from __future__ import annotations

from model.inference import AttentionModel
from model.logit_lens import LogitLens, logit_lens
from model.trace import Trace


def lens_with_labels(model: AttentionModel, trace: Trace) -> tuple[LogitLens, dict[int, str]]:
    """``logit_lens(model, trace)`` and the token string of every id it names."""
    lens = logit_lens(model, trace)
    ids = {int(token_id) for token_id in lens.top_ids.ravel()} | {int(token_id) for token_id in lens.final_ids}
    return lens, {token_id: model.tokenizer.token(token_id) for token_id in sorted(ids)}
