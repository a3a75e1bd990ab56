"""Greedy generation and teacher forcing, and the decoder-input convention."""

from __future__ import annotations

import torch

from model import AttentionModel, AttentionRecorder
from model.generation import greedy_generate
from tiny_models import task_tokenizer, tiny_config, tiny_network


def tiny_model(architecture: str = "encoder-decoder", seed: int = 1) -> AttentionModel:
    config = tiny_config(architecture)
    return AttentionModel(tiny_network(config, seed), task_tokenizer(config.max_positions), name="tiny")


def slow_greedy(model: AttentionModel, source: list[int], steps: int) -> list[int]:
    """Greedy decoding spelled out: full forward with weights, argmax of the last position."""
    ids = [model.config.start_token_id]
    for _ in range(steps):
        with torch.inference_mode():
            _, decoded = model.network(torch.tensor([source]), torch.tensor([ids]), recorder=AttentionRecorder())
            ids.append(int(model.network.logits(decoded.hidden)[0, -1].argmax()))
        if ids[-1] == model.config.eos_token_id:
            break
    return ids


def test_greedy_generation_matches_step_by_step_argmax() -> None:
    model = tiny_model()
    source = model.tokenizer.encode("reverse: owl cat fig").ids
    prefix = torch.tensor([[model.config.start_token_id]])
    fast = greedy_generate(model.network, prefix, 12, torch.tensor([source]))[0].tolist()
    assert fast == slow_greedy(model, source, 12)
    assert len(fast) == 13 or fast[-1] == model.config.eos_token_id


def test_generated_trace_covers_the_whole_generated_sequence() -> None:
    model = tiny_model()
    trace = model.trace("reverse: owl cat fig", max_new_tokens=10)
    generated = model.generate("reverse: owl cat fig", max_new_tokens=10)
    assert trace.generated
    assert trace.decoder.ids.tolist() == generated
    assert trace.attention["cross"].weights.shape[2] == len(generated)
    assert trace.attention["cross"].weights.shape[3] == len(trace.encoder)


def test_teacher_forcing_feeds_start_token_then_the_target_as_encoded() -> None:
    model = tiny_model()
    trace = model.trace("reverse: owl cat fig", target="fig cat owl")
    expected = [model.config.start_token_id, *model.tokenizer.encode("fig cat owl").ids]
    assert not trace.generated
    assert trace.decoder.ids.tolist() == expected


def test_decoder_only_generation_extends_the_text() -> None:
    model = tiny_model("decoder")
    prompt = model.tokenizer.encode("sort: owl cat").ids
    ids = model.generate("sort: owl cat", max_new_tokens=5)
    assert ids[: len(prompt)] == prompt
    assert len(prompt) < len(ids) <= len(prompt) + 5


def test_generation_stops_at_the_position_limit() -> None:
    model = tiny_model()
    ids = model.generate("reverse: owl", max_new_tokens=500)
    assert len(ids) <= model.config.max_positions
