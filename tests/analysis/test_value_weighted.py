"""Value-weighted attention (Kobayashi et al. 2020) against a direct computation from the weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.core.value_weighted import ValueWeighted, layer_summed
from model import AttentionModel
from model.rotary import Rotary
from tiny_models import task_tokenizer, tiny_config, tiny_network

TEXT = "sort: owl cat fig dog"

STYLES = {
    # BERT: post-norm encoder with biases everywhere.
    "bert": dict(architecture="encoder", norm_placement="post", positions="learned"),
    # GPT-2: pre-norm decoder with biases, tied head, scores divided by layer + 1.
    "gpt2": dict(architecture="decoder", positions="learned", scale_by_inverse_layer=True),
    # Llama: RMS norm, no biases, rotary positions, 4 query heads reading 2 key/value heads.
    "llama": dict(
        architecture="decoder", norm="rmsnorm", bias=False, gated_ffn=True, activation="silu",
        positions="rotary", rotary=Rotary(theta=10000.0), n_kv_heads=2,
    ),
    # The bundled family: an encoder–decoder, so cross-attention too.
    "encoder-decoder": dict(architecture="encoder-decoder"),
}


def _model(style: str) -> AttentionModel:
    config = tiny_config(**STYLES[style])
    network = tiny_network(config, seed=3)
    with torch.no_grad():  # biases of zero would hide a missing b_V
        for parameter in network.parameters():
            if parameter.ndim == 1:
                parameter.add_(torch.randn_like(parameter) * 0.3)
    return AttentionModel(network, task_tokenizer(config.max_positions), style, threads=0)


def _modules(network):
    found = []
    if network.encoder is not None:
        found += [("encoder_self", i, layer.self_attn) for i, layer in enumerate(network.encoder.layers)]
    if network.decoder is not None:
        for i, layer in enumerate(network.decoder.layers):
            found.append(("decoder_self", i, layer.self_attn))
            if layer.cross_attn is not None:
                found.append(("cross", i, layer.cross_attn))
    return found


def _captured(model: AttentionModel, style: str):
    """Every attention module's key/value input and output during a plain trace of TEXT."""
    captured = {}
    handles = []
    for kind, index, module in _modules(model.network):
        def hook(module, args, kwargs, output, key=(kind, index)):
            memory = kwargs.get("memory")
            captured[key] = ((args[0] if memory is None else memory)[0].clone(), output.output[0].clone())
        handles.append(module.register_forward_hook(hook, with_kwargs=True))
    try:
        trace = model.trace(TEXT, target="owl cat" if style == "encoder-decoder" else None, precision="float32")
    finally:
        for handle in handles:
            handle.remove()
    return trace, captured


@pytest.mark.parametrize("style", list(STYLES))
@torch.no_grad()
def test_value_weighted_attention_equals_alpha_times_the_norm_of_x_wv_wo(style: str) -> None:
    model = _model(style)
    trace, captured = _captured(model, style)
    for kind, index, module in _modules(model.network):
        source, output = captured[(kind, index)]
        source = source.double()
        H, dh = module.n_heads, module.head_dim
        group = H // module.n_kv_heads
        w_v, w_o = module.v.weight.double(), module.o.weight.double()
        b_v = module.v.bias.double() if module.v.bias is not None else torch.zeros(w_v.shape[0], dtype=torch.float64)
        weights = torch.from_numpy(np.asarray(trace.attention[kind].weights[index], dtype=np.float64))  # (H, Q, K)
        # f^h(x_j) = (x_j W_V + b_V) W_O^h, written out head by head.
        f = torch.stack([
            (source @ w_v[(h // group) * dh:(h // group + 1) * dh].T + b_v[(h // group) * dh:(h // group + 1) * dh])
            @ w_o[:, h * dh:(h + 1) * dh].T
            for h in range(H)
        ])  # (H, K, d_model)
        # The decomposition is the head's real output: Σ_h Σ_j α_ij f^h(x_j) + b_O.
        b_o = module.o.bias.double() if module.o.bias is not None else 0.0
        rebuilt = torch.einsum("hqk,hkd->qd", weights, f) + b_o
        assert torch.allclose(rebuilt, output.double(), atol=1e-5)
        expected = weights * f.norm(dim=-1)[:, None, :]  # (H, Q, K)
        shown = ValueWeighted(trace.attention[kind])
        assert np.allclose(shown[index], expected.numpy(), atol=1e-5)
        assert np.allclose(shown[index, 1], expected[1].numpy(), atol=1e-5)
        assert np.allclose(shown[index, :, 2], expected[:, 2].numpy(), atol=1e-5)
        # The layer's view: the norm of the summed heads.
        summed = torch.einsum("hqk,hkd->qkd", weights, f).norm(dim=-1)
        assert np.allclose(layer_summed(trace.attention[kind], index), summed.numpy(), atol=1e-5)


def test_a_key_with_a_zero_value_vector_gets_no_value_weighted_attention() -> None:
    """Heavy weight, no effect: the attention-sink case value weighting exists for."""
    model = _model("gpt2")
    module = model.network.decoder.layers[1].self_attn
    trace = model.trace(TEXT, precision="float32")
    norms = trace.attention["decoder_self"].value_norms
    assert norms.shape == (2, 4, len(trace.decoder)) and (norms > 0).all()
    with torch.no_grad():
        module.v.weight.zero_()
        module.v.bias.zero_()
    trace = model.trace(TEXT, precision="float32")
    assert np.all(ValueWeighted(trace.attention["decoder_self"])[1] == 0)
    assert trace.attention["decoder_self"].weights[1].max() > 0.5


def test_the_head_view_grid_and_export_show_the_same_value_weighted_numbers(tmp_path) -> None:
    from explorer.cli import main
    from explorer.core.selection import Selection
    from explorer.core.state import ExplorerState
    from explorer.core.views import grid_view, head_view

    model = _model("encoder-decoder")
    trace = model.trace(TEXT, target="owl cat", precision="float32")
    maps = trace.attention["encoder_self"]
    expected = maps.weights[1, 2] * maps.value_norms[1, 2][None, :]
    state = ExplorerState(trace=trace)
    state.select(kind="encoder_self", layer=1, head=2, values="value-weighted")
    view = head_view(state)
    assert np.allclose(view.matrix, expected, atol=1e-6)
    assert np.allclose(grid_view(state).thumbnails[1, 2], expected, atol=1e-6)  # short input: not pooled
    state.select(head=None)
    assert np.allclose(head_view(state).matrix, layer_summed(maps, 1), atol=1e-6)
    assert "norm of the summed heads" in head_view(state).title
    low, high = state.levels()
    assert low == 0.0 and high >= float(expected.max())
    # export --values value-weighted writes the same numbers.
    out = tmp_path / "vw.npz"
    assert main(["export", "--text", "reverse: owl cat fig", "--values", "value-weighted", "--out", str(out)]) == 0
    with np.load(out) as arrays:
        assert {"encoder_self_value_weighted", "cross_value_norms"} <= set(arrays.files)
        assert np.allclose(arrays["cross_value_weighted"], arrays["cross"] * arrays["cross_value_norms"][:, :, None, :])
