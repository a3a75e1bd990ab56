"""The logit lens: its last row is the model's own prediction; earlier rows read the residual stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import AttentionModel, load_checkpoint
from model.logit_lens import lens_refusal, logit_lens
from tiny_models import task_tokenizer, tiny_config, tiny_network


def _decoder(**overrides) -> AttentionModel:
    config = tiny_config("decoder", **overrides)
    return AttentionModel(tiny_network(config, seed=2), task_tokenizer(config.max_positions), "tiny decoder", threads=0)


@pytest.mark.parametrize("model_name", ["decoder", "post-norm decoder", "bundled encoder–decoder"])
@torch.no_grad()
def test_the_last_row_of_the_lens_is_the_models_own_next_token_distribution(model_name: str) -> None:
    if model_name == "bundled encoder–decoder":
        model = load_checkpoint()
        trace = model.trace("reverse: owl cat fig", target="fig cat owl", precision="float32")
    else:
        model = _decoder(norm_placement="post", final_norm=False) if model_name.startswith("post") else _decoder()
        trace = model.trace("sort: owl cat fig dog", precision="float32")
    lens = logit_lens(model, trace, top_k=5)
    rows = model.config.n_decoder_layers + 1
    assert lens.top_ids.shape == (rows, len(trace.decoder), 5) and len(lens.row_labels) == rows
    own = torch.softmax(model.network.logits(torch.as_tensor(trace.decoder_hidden)[None])[0], dim=-1)  # (T, V)
    top = torch.topk(own, 5, dim=-1)
    assert np.array_equal(lens.top_ids[-1], top.indices.numpy())
    assert np.allclose(lens.top_probabilities[-1], top.values.numpy(), atol=1e-5)
    assert np.array_equal(lens.final_ids, own.argmax(dim=-1).numpy()) and (lens.final_ranks[-1] == 0).all()
    # Row 0 reads the embeddings alone: the first residual is what entered layer 0.
    norm = model.network.decoder.final_norm
    first = torch.as_tensor(trace.decoder_residuals[0])
    embedded = torch.softmax(model.network.logits((norm(first) if norm is not None else first)[None])[0], dim=-1)
    ranks = (embedded > embedded.gather(1, torch.as_tensor(lens.final_ids)[:, None])).sum(dim=1)
    assert np.array_equal(lens.final_ranks[0], ranks.numpy())
    assert np.allclose(lens.final_probabilities[0], embedded.gather(1, torch.as_tensor(lens.final_ids)[:, None])[:, 0].numpy(), atol=1e-6)


def test_a_long_input_computes_only_the_last_positions_and_says_so() -> None:
    model = _decoder()
    trace = model.trace("sort: owl cat fig dog ant bee", precision="float32")
    rows, length, d_model = trace.decoder_residuals.shape
    cost = rows * d_model * model.network.embed_tokens.weight.shape[0]
    lens = logit_lens(model, trace, max_cost=3 * cost)
    assert lens.positions.tolist() == list(range(length - 3, length))
    assert f"last 3 of {length}" in lens.note


def test_models_without_a_decoder_head_are_refused_in_one_sentence(make_checkpoint) -> None:
    model = load_checkpoint(make_checkpoint("encoder", lm_head=False))
    trace = model.trace("sort: owl")
    assert "this model has none" in lens_refusal(model, trace)
    with pytest.raises(ValueError, match="language-model head"):
        logit_lens(model, trace)
