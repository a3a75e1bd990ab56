"""Every model shape the config describes: trace layout, masks, and that tracing changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import AttentionModel, AttentionRecorder, ModelConfig
from model.tasks import PAD

from tiny_models import task_tokenizer, tiny_config, tiny_network

VARIANTS = {
    "pre-norm sinusoidal": {},
    "post-norm learned": dict(norm_placement="post", positions="learned", final_norm=False, embedding_norm=True),
    "t5-like": dict(
        norm="rmsnorm", positions="relative", bias=False, scale_scores=False, gated_ffn=True,
        activation="gelu_tanh", tied_output_scale=True, relative_buckets=8, relative_max_distance=16,
    ),
    "bart-like": dict(positions="learned", position_offset=2, norm_placement="post", final_logits_bias=True,
                      scale_embedding=True, tie_embeddings=False, activation="silu"),
}


def model_of(architecture: str, **overrides) -> AttentionModel:
    config = tiny_config(architecture, **overrides)
    return AttentionModel(tiny_network(config), task_tokenizer(config.max_positions), name="tiny")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("architecture", ["encoder", "decoder", "encoder-decoder"])
def test_trace_layout(architecture: str, variant: str) -> None:
    model = model_of(architecture, **VARIANTS[variant])
    config = model.config
    trace = model.trace("reverse: owl cat fig", target="fig cat owl")
    assert trace.kinds == config.attention_kinds
    for kind in trace.kinds:
        maps = trace.attention[kind]
        query_axis, key_axis = trace.axes(kind)
        layers = config.n_encoder_layers if kind == "encoder_self" else config.n_decoder_layers
        assert maps.weights.shape == (layers, config.n_heads, len(query_axis), len(key_axis))
        assert maps.scores.shape == maps.weights.shape
        assert maps.weights.dtype == np.float32
        np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)
    if "decoder_self" in trace.kinds:
        weights, scores = trace.attention["decoder_self"].weights, trace.attention["decoder_self"].scores
        above = np.triu(np.ones(weights.shape[-2:], dtype=bool), k=1)
        assert np.all(weights[..., above] == 0)
        assert np.all(np.isneginf(scores[..., above]))
        assert np.all(np.isfinite(scores[..., ~above]))


def test_text_goes_to_the_side_the_architecture_reads() -> None:
    text = "sort: owl cat"
    expected = task_tokenizer().encode(text).tokens
    assert model_of("encoder").trace(text).encoder.tokens == expected
    decoder_only = model_of("decoder").trace(text)
    assert decoder_only.encoder is None and decoder_only.decoder.tokens == expected
    both = model_of("encoder-decoder").trace(text, target="cat owl")
    assert both.encoder.tokens == expected
    assert both.decoder.tokens == ["<s>", "cat", "owl", "</s>"]
    assert both.encoder.special.tolist() == [False, False, False, False, True]
    assert both.decoder.special.tolist() == [True, False, False, True]


@pytest.mark.parametrize("variant", VARIANTS)
def test_tracing_does_not_change_the_result(variant: str) -> None:
    config = tiny_config("encoder-decoder", **VARIANTS[variant])
    network = tiny_network(config)
    source = torch.tensor([[4, 9, 12, 30, 2]])
    target = torch.tensor([[1, 15, 16, 2]])
    with torch.inference_mode():
        _, fast = network(source, target)
        _, traced = network(source, target, recorder=AttentionRecorder())
    torch.testing.assert_close(traced.hidden, fast.hidden, atol=1e-5, rtol=1e-5)
    assert fast.self_attention is None and fast.cross_attention is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_keys_get_zero_and_change_nothing(variant: str) -> None:
    """A padded batch row attends exactly like the same sequence on its own."""
    config = tiny_config("encoder-decoder", **VARIANTS[variant])
    network = tiny_network(config)
    short = [4, 9, 12, 2]
    padded = torch.tensor([short + [PAD, PAD], [4, 9, 12, 30, 31, 2]])
    mask = padded != PAD
    mask[1] = True
    target = torch.tensor([[1, 15, 2], [1, 16, 2]])
    with torch.inference_mode():
        batch_encoded, batch_decoded = network(padded, target, source_padding_mask=mask, recorder=AttentionRecorder())
        alone_encoded, alone_decoded = network(torch.tensor([short]), target[:1], recorder=AttentionRecorder())
    batch_weights = batch_encoded.self_attention.weights[0]  # (L, H, T, T)
    assert torch.all(batch_weights[..., len(short):] == 0)
    assert torch.all(batch_decoded.cross_attention.weights[0, ..., len(short):] == 0)
    n = len(short)
    torch.testing.assert_close(batch_weights[..., :n, :n], alone_encoded.self_attention.weights[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        batch_decoded.cross_attention.weights[0, ..., :n], alone_decoded.cross_attention.weights[0], atol=1e-5, rtol=1e-4
    )


def test_sentence_pair_uses_segment_embeddings() -> None:
    model = model_of("encoder", type_vocab_size=2, positions="learned")
    single = model.trace("sort: owl cat")
    pair = model.trace("sort: owl cat", pair="fig")
    assert pair.encoder.tokens == ["sort", ":", "owl", "cat", "</s>", "fig", "</s>"]
    assert len(single.encoder) == 5
    # The first segment's self-attention over itself changes once the second segment is present.
    assert not np.allclose(pair.attention["encoder_self"].weights[0, :, :5, :5], single.attention["encoder_self"].weights[0])


@pytest.mark.parametrize(
    "field, value, phrase",
    [
        ("d_model", 30, "not divisible"),
        ("n_heads", 0, "positive"),
        ("vocab_size", 10**12, "larger than"),
        ("n_encoder_layers", 10**6, "larger than"),
        ("architecture", "both", "architecture must be one of"),
        ("pad_token_id", 10**6, "outside the vocabulary"),
    ],
)
def test_config_refuses_impossible_values(field: str, value, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        tiny_config(**{field: value})


def test_config_refuses_unknown_fields_and_wrong_types() -> None:
    values = tiny_config().to_dict()
    with pytest.raises(ValueError, match="unknown configuration field"):
        ModelConfig.from_dict({**values, "n_experts": 8})
    with pytest.raises(ValueError, match="must be a positive integer"):
        ModelConfig.from_dict({**values, "d_model": "32"})
    assert ModelConfig.from_dict(values) == tiny_config()
