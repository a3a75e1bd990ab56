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


def test_the_key_value_cache_generates_the_same_ids_and_trace_as_recomputing_every_prefix(monkeypatch) -> None:
    import functools

    import numpy as np

    import model.inference
    from model import load_checkpoint

    texts = ("reverse: owl cat fig", "date: wednesday, 25 november 2026", "sort: owl cat fig ant bee dog emu")
    for network_model in (tiny_model(), load_checkpoint()):
        for text in texts:
            source = torch.tensor([network_model.tokenizer.encode(text).ids])
            prefix = torch.tensor([[network_model.config.start_token_id]])
            cached = greedy_generate(network_model.network, prefix, 40, source)
            recomputed = greedy_generate(network_model.network, prefix, 40, source, use_cache=False)
            assert cached.tolist() == recomputed.tolist()
        # A batch with padded sources, as training's exact match runs it.
        batch = [network_model.tokenizer.encode(text).ids for text in texts]
        width = max(map(len, batch))
        ids = torch.tensor([row + [network_model.config.pad_token_id] * (width - len(row)) for row in batch])
        mask = torch.tensor([[True] * len(row) + [False] * (width - len(row)) for row in batch])
        prefix = torch.full((len(batch), 1), network_model.config.start_token_id)
        assert (
            greedy_generate(network_model.network, prefix, 30, ids, mask).tolist()
            == greedy_generate(network_model.network, prefix, 30, ids, mask, use_cache=False).tolist()
        )
        with_cache = [network_model.trace(text) for text in texts]
        monkeypatch.setattr(model.inference, "greedy_generate", functools.partial(greedy_generate, use_cache=False))
        without = [network_model.trace(text) for text in texts]
        monkeypatch.undo()
        for a, b in zip(with_cache, without):
            assert a.decoder.ids.tolist() == b.decoder.ids.tolist()
            for kind in a.kinds:
                np.testing.assert_array_equal(a.attention[kind].weights, b.attention[kind].weights)
                np.testing.assert_array_equal(a.attention[kind].scores, b.attention[kind].scores)


def test_the_cache_is_used_only_where_it_computes_what_the_decoder_does() -> None:
    from model import load_checkpoint
    from model.generation import cache_applies
    from tiny_models import tiny_config

    assert cache_applies(load_checkpoint().config) and cache_applies(tiny_config("decoder"))
    grouped = tiny_config("decoder", n_kv_heads=2)
    windowed = tiny_config("decoder", layer_windows=(4, None))
    assert not cache_applies(grouped) and not cache_applies(windowed)
