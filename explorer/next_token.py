"""Next-token logits and generation traces for step-through generation: worker side.

It runs the model, so it imports torch; the step-through's pure numbers (tables, rows)
are ``explorer.analysis.stepping``.

It uses only the model's public API (``AttentionModel.trace`` / ``generate`` and
``Transformer.encode`` / ``decode`` / ``logits``) and runs on the app's worker thread.
"""

from __future__ import annotations

import numpy as np
import torch

from model.inference import DEFAULT_MAX_NEW_TOKENS, AttentionModel
from model.recorder import AttentionRecorder
from model.trace import AttentionMaps, TokenAxis, Trace

from .analysis.stepping import DEFAULT_TOP_K, StepThrough, next_token_table


def _ids(model: AttentionModel, ids: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(ids, dtype=np.int64), device=model.device)[None]  # (1, T)


@torch.inference_mode()
def next_token_logits(model: AttentionModel, trace: Trace) -> np.ndarray:
    """``(T, V)`` next-token logits at every decoder position of ``trace``.

    ``trace`` must come from ``model`` (an encoder–decoder's decoder side is run against
    its encoder side).
    """
    network = model.network
    if trace.decoder is None or not model.config.lm_head:
        raise ValueError("next-token probabilities need a decoder with a language-model head")
    memory = memory_mask = None
    if trace.encoder is not None and model.config.architecture == "encoder-decoder":
        source = _ids(model, trace.encoder.ids)
        memory_mask = network.no_padding(source)
        memory = network.encode(source, memory_mask).hidden
    hidden = network.decode(_ids(model, trace.decoder.ids), memory, memory_mask).hidden  # (1, T, d_model)
    return network.logits(hidden)[0].float().cpu().numpy()  # (T, V)


@torch.inference_mode()
def next_token_top(model: AttentionModel, trace: Trace, position: int, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` likeliest next tokens after decoder position ``position``, with their probabilities.

    Computed from the hidden state the trace's own forward left there (one row of the
    language-model head, no second forward); ``trace`` must come from ``model``.
    """
    if trace.decoder_hidden is None or not model.config.lm_head:
        raise ValueError("next-token predictions need a decoder with a language-model head")
    hidden = torch.as_tensor(trace.decoder_hidden[position], device=model.device, dtype=model.dtype)[None, None]  # (1, 1, d_model)
    probabilities = torch.softmax(model.network.logits(hidden)[0, 0].float(), dim=-1)  # (V,)
    top = torch.topk(probabilities, min(k, probabilities.numel()))
    return [(model.tokenizer.token(int(index)), float(value)) for value, index in zip(top.values, top.indices)]


@torch.inference_mode()
def generation_trace(model: AttentionModel, text: str, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> tuple[Trace, int]:
    """Generate greedily from ``text`` and trace the result; returns (trace, first generated position).

    An encoder–decoder's trace is ``model.trace(text)`` (which generates); a decoder-only
    model continues the prompt and the trace covers prompt and continuation.
    """
    config = model.config
    if config.architecture == "encoder-decoder":
        return model.trace(text, max_new_tokens=max_new_tokens), 1
    if config.architecture != "decoder":
        raise ValueError("step-through generation needs an encoder–decoder or decoder-only model")
    prompt = model.tokenizer.encode(text)
    ids = model.generate(text, max_new_tokens)
    stack = model.network.decode(_ids(model, np.asarray(ids)), recorder=AttentionRecorder()).self_attention
    tokens = model.tokenizer.tokens(ids)
    axis = TokenAxis(
        ids=np.asarray(ids, dtype=np.int64),
        tokens=tokens,
        special=np.array([token in model.tokenizer.special_ids for token in ids], dtype=bool),
        padding=np.zeros(len(ids), dtype=bool),
    )
    maps = AttentionMaps(
        weights=stack.weights[0].float().cpu().numpy(),  # (L, H, T, T)
        scores=stack.scores[0].float().cpu().numpy(),  # (L, H, T, T)
    )
    notices = ["The prompt was cut to the model's maximum length."] if prompt.truncated else []
    trace = Trace(model.name, config.architecture, None, axis, {"decoder_self": maps}, generated=True, notices=notices)
    return trace, min(len(prompt.ids), len(ids))


def step_through(
    model: AttentionModel, text: str, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, k: int = DEFAULT_TOP_K
) -> StepThrough:
    """Everything the step-through view needs for ``text``, computed in one call on the worker."""
    trace, first_produced = generation_trace(model, text, max_new_tokens)
    logits = next_token_logits(model, trace)

    def label(token_id: int) -> str:
        return model.tokenizer.tokens([token_id])[0]

    table = next_token_table(logits, trace.decoder.ids, label, k)
    return StepThrough(trace, table, first_produced)
