"""The Llama-era decoders and ModernBERT: both config.json layouts, long inputs, structure, hostile values.

``test_fidelity`` compares every family's attention with ``transformers`` on the texts;
this file adds what only these families have: the older on-disk layout of config.json
opens the same model, dynamic rope scaling past the position limit, the structure a
viewer draws (key/value head of each query head, each layer's window), and refusals of
impossible windows, head groupings, rope factors and soft-caps.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from hf_reference import SPEC_NAMES, TEXTS, WEIGHTS_TOLERANCE, OUTPUT_TOLERANCE, layers, max_difference
from modern_specs import old_layout

from model import AttentionRecorder, CheckpointError, ModelConfig, load_checkpoint
from model.rotary import Rotary

DECODER_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "olmo2", "smollm3")
MODERN = [name for name in SPEC_NAMES if name.split("-")[0] in DECODER_FAMILIES]


def _ids(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.long)[None]  # (1, T)


def _compare(model, hf_model, ids: torch.Tensor) -> tuple[float, float]:
    ours = model.network.decode(ids, recorder=AttentionRecorder())
    theirs = hf_model(input_ids=ids, output_attentions=True)
    weights = max_difference(ours.self_attention.weights[0], layers(theirs.attentions))
    return weights, max_difference(model.network.logits(ours.hidden), theirs.logits)


@pytest.mark.parametrize("name", MODERN)
@torch.inference_mode()
def test_the_older_config_layout_opens_the_same_model(reference, tmp_path, name):
    folder, hf_model = reference(name)
    old = Path(shutil.copytree(folder, tmp_path / name))
    old_layout(old)
    values = json.loads((old / "config.json").read_text())
    assert "rope_parameters" not in values and "layer_types" not in values and "rope_theta" in values
    model = load_checkpoint(old)
    assert model.config == load_checkpoint(folder).config
    # transformers reads the rewritten file as the same model, and so do we.
    hf_old = type(hf_model).from_pretrained(old, attn_implementation="eager", dtype=torch.float32).eval()
    ids = _ids(model.tokenizer.encode(TEXTS["long"]).ids)
    for reference_model in (hf_model, hf_old):
        weights, logits = _compare(model, reference_model, ids)
        assert weights <= WEIGHTS_TOLERANCE and logits <= OUTPUT_TOLERANCE


@torch.inference_mode()
def test_modernbert_in_either_layout_matches_with_its_local_band(reference, tmp_path):
    folder, hf_model = reference("modernbert")
    old = Path(shutil.copytree(folder, tmp_path / "modernbert"))
    old_layout(old)
    values = json.loads((old / "config.json").read_text())
    assert "layer_types" not in values and values["local_rope_theta"] == 20.0
    model = load_checkpoint(old)
    config = model.config
    assert config == load_checkpoint(folder).config
    assert [config.layer_window(i) for i in range(3)] == [None, 6, None]
    assert (config.layer_rotary(0).theta, config.layer_rotary(1).theta) == (500.0, 20.0)
    hf_old = type(hf_model).from_pretrained(old, attn_implementation="eager", dtype=torch.float32).eval()
    ids = _ids(model.tokenizer.encode(TEXTS["long"]).ids)
    ours = model.network.encode(ids, recorder=AttentionRecorder())
    for reference_model in (hf_model, hf_old):
        theirs = reference_model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        assert max_difference(ours.self_attention.weights[0], layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
        assert max_difference(ours.hidden, theirs.hidden_states[-1]) <= OUTPUT_TOLERANCE
    # The local layer sees |i − j| ≤ 3 both ways; the global ones see everything.
    scores = ours.self_attention.scores[0]
    assert torch.isinf(scores[1, :, 10, :7]).all() and torch.isinf(scores[1, :, 10, 14:]).all()
    assert torch.isfinite(scores[1, :, 10, 7:14]).all() and torch.isfinite(scores[0]).all()


def test_phi3_longrope_under_its_early_name_su_is_longrope(reference, tmp_path):
    folder = Path(shutil.copytree(reference("phi3-longrope")[0], tmp_path / "phi3"))
    old_layout(folder)
    values = json.loads((folder / "config.json").read_text())
    values["rope_scaling"]["type"] = "su"
    (folder / "config.json").write_text(json.dumps(values))
    assert load_checkpoint(folder).config == load_checkpoint(reference("phi3-longrope")[0]).config


@torch.inference_mode()
def test_dynamic_rope_scaling_past_the_position_limit_matches(reference):
    folder, hf_model = reference("llama-dynamic")
    model = load_checkpoint(folder)
    assert model.config.rotary.kind == "dynamic" and model.config.max_positions == 24
    ids = torch.randint(3, 300, (1, 40), generator=torch.Generator().manual_seed(0))
    weights, logits = _compare(model, hf_model, ids)
    assert weights <= WEIGHTS_TOLERANCE and logits <= OUTPUT_TOLERANCE


@pytest.mark.parametrize("name", ["llama-longrope", "llama-yarn", "llama-mha-llama3", "phi3-longrope"])
@torch.inference_mode()
def test_scaled_rope_matches_below_and_beyond_the_original_length(reference, name):
    folder, hf_model = reference(name)
    model = load_checkpoint(folder)
    original = model.config.rotary.original_max_positions
    assert original == 16
    for length in (original - 4, original + 30):
        ids = torch.randint(3, 300, (1, length), generator=torch.Generator().manual_seed(length))
        weights, logits = _compare(model, hf_model, ids)
        assert weights <= WEIGHTS_TOLERANCE and logits <= OUTPUT_TOLERANCE, length


def test_the_structure_a_viewer_draws_is_on_the_config(reference):
    llama = load_checkpoint(reference("llama")[0]).config
    assert (llama.n_heads, llama.kv_heads, llama.head_dim, llama.d_model) == (4, 2, 16, 48)
    assert [llama.kv_head_of(h) for h in range(4)] == [0, 0, 1, 1]
    assert list(llama.query_heads_of(1)) == [2, 3]
    assert llama.layer_window(0) is None and not llama.layer_is_local(1)
    mqa = load_checkpoint(reference("llama-mqa-linear")[0]).config
    assert [mqa.kv_head_of(h) for h in range(4)] == [0, 0, 0, 0] and mqa.tie_embeddings
    mistral = load_checkpoint(reference("mistral")[0])
    assert [mistral.config.layer_window(i) for i in range(3)] == [4, 4, 4]
    assert all(mistral.config.layer_is_local(i) for i in range(3))
    # Keys outside the window: -inf scores and zero weights in the trace.
    maps = mistral.trace(TEXTS["long"]).attention["decoder_self"]
    query = 20
    assert (maps.scores[:, :, query, : query - 3] == float("-inf")).all()
    assert (maps.weights[:, :, query, : query - 3] == 0).all()
    assert (maps.weights[:, :, query, query - 3 : query + 1] > 0).all()
    with pytest.raises(ValueError, match="out of range"):
        llama.kv_head_of(4)


@torch.inference_mode()
def test_soft_capped_scores_are_traced_after_the_cap(reference):
    model = load_checkpoint(reference("gemma2")[0])
    config = model.config
    assert (config.attention_softcap, config.logit_softcap, config.score_scale) == (2.0, 3.0, 10**-0.5)
    maps = model.trace(TEXTS["long"]).attention["decoder_self"]
    visible = maps.scores[maps.scores > float("-inf")]
    assert float(abs(visible).max()) < 2.0  # within the cap
    assert [config.layer_window(i) for i in range(3)] == [3, None, 3]
    assert float(abs(model.network.logits(model.network.decode(_ids(maps.weights.shape[-1] * [5])).hidden)).max()) < 3.0


def test_gemma3_local_and_global_layers_rotate_differently(reference):
    config = load_checkpoint(reference("gemma3")[0]).config
    assert [config.layer_is_local(i) for i in range(3)] == [True, True, False]
    local, global_ = config.layer_rotary(0), config.layer_rotary(2)
    assert (local.theta, local.kind) == (50.0, "default")
    assert (global_.theta, global_.kind, global_.factor) == (5000.0, "linear", 2.0)
    assert config.qk_norm == "head" and config.norm_offset == 1.0 and config.norm_placement == "sandwich"


def test_nope_layers_and_whole_projection_qk_norm_are_read(reference):
    smollm3 = load_checkpoint(reference("smollm3")[0]).config
    assert [smollm3.layer_rotary(i) is None for i in range(3)] == [False, True, False]
    assert [smollm3.layer_window(i) for i in range(3)] == [None, 5, None]
    olmo2 = load_checkpoint(reference("olmo2")[0])
    assert (olmo2.config.qk_norm, olmo2.config.norm_placement) == ("projection", "after")
    assert olmo2.network.decoder.layers[0].self_attn.q_norm.weight.shape == (4 * 16,)


def _decoder(**fields) -> ModelConfig:
    values = dict(architecture="decoder", d_model=32, n_heads=4, n_decoder_layers=2, positions="rotary", rotary=Rotary())
    values.update(fields)
    return ModelConfig(**values)


@pytest.mark.parametrize(
    "fields, phrase",
    [
        (dict(layer_windows=(4, -2)), "an attention window must be a whole number of tokens from 1"),
        (dict(layer_windows=(4, 10**12)), "an attention window must be a whole number of tokens from 1"),
        (dict(layer_windows=(4,)), "layer_windows must give one entry for each of the 2 layers"),
        (dict(n_kv_heads=3), "n_heads (4) is not divisible by n_kv_heads (3)"),
        (dict(n_kv_heads=0), "n_kv_heads must be a positive integer"),
        (dict(rotary=Rotary(kind="linear", factor=1e9)), "rotary factor must be a number from 1 to 1024"),
        (dict(rotary=Rotary(kind="linear", factor=0.0)), "rotary factor must be a number from 1 to 1024"),
        (dict(rotary=Rotary(theta=-1.0)), "rotary theta must be a number"),
        (dict(rotary=Rotary(kind="yarn", factor=2.0)), "yarn scaling needs original_max_positions"),
        (dict(rotary=Rotary(kind="warp")), "rotary kind must be one of"),
        (dict(rotary=Rotary(original_max_positions=[16])), "original_max_positions from 1"),
        (dict(rotary=Rotary(short_factor=([1.0],))), "longrope short_factor must be"),
        (dict(rotary=Rotary(fraction=0.1)), "it needs an even number"),
        (dict(rotary=None), "rotary settings go with positions = 'rotary'"),
        (dict(attention_softcap=0.0), "attention_softcap must be a positive number"),
        (dict(logit_softcap=-30.0), "logit_softcap must be a positive number"),
        (dict(qk_norm="layer"), "qk_norm must be one of"),
        (dict(rope_layers=(True, 1)), "rope_layers must hold true or false"),
        (dict(n_decoder_heads=2), "n_decoder_heads is only for encoder–decoder models"),
        (dict(architecture="encoder-decoder", positions="none", rotary=None, n_decoder_heads=3),
         "d_model (32) is not divisible by n_decoder_heads (3)"),
    ],
)
def test_impossible_modern_settings_are_refused_in_one_phrase(fields, phrase):
    with pytest.raises(ValueError) as raised:
        _decoder(**fields)
    assert phrase in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "edit, phrase",
    [
        ({"num_key_value_heads": 3}, "num_attention_heads (4) is not divisible by num_key_value_heads (3)"),
        ({"sliding_window": -4}, "an attention window must be a whole number of tokens"),
        ({"rope_parameters": {"rope_type": "linear", "factor": 1e9, "rope_theta": 10.0}}, "rotary factor must be"),
        ({"rope_parameters": {"rope_type": "linear", "factor": "big", "rope_theta": 10.0}}, "factor must be a number"),
        ({"layer_types": ["sliding_attention"]}, "layer_types must list 3"),
        ({"rope_parameters": {"rope_type": "yarn", "factor": 2.0, "rope_theta": 10.0,
                              "original_max_position_embeddings": "long"}}, "original_max_position_embeddings must be an integer"),
        ({"rope_parameters": {"rope_type": "longrope", "rope_theta": 10.0, "short_factor": [[1]], "long_factor": [1]}},
         "short_factor must be a list of numbers"),
    ],
)
def test_hostile_decoder_configs_are_refused_before_allocating(reference, tmp_path, edit, phrase):
    folder = Path(shutil.copytree(reference("mistral")[0], tmp_path / "mistral"))
    values = json.loads((folder / "config.json").read_text())
    values.update(edit)
    (folder / "config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match="config.json") as raised:
        load_checkpoint(folder)
    assert phrase in str(raised.value)


def test_a_config_naming_no_bos_or_eos_still_opens(reference, tmp_path):
    folder = Path(shutil.copytree(reference("qwen2")[0], tmp_path / "qwen2"))
    values = json.loads((folder / "config.json").read_text())
    values.update(bos_token_id=None, eos_token_id=None, pad_token_id=None)
    (folder / "config.json").write_text(json.dumps(values))
    model = load_checkpoint(folder)
    assert model.config.eos_token_id is None
    assert model.trace(TEXTS["medium"]).attention["decoder_self"].weights.shape[0] == 3


def test_modern_configs_survive_the_native_checkpoint_round_trip(reference, tmp_path):
    from model import save_checkpoint

    model = load_checkpoint(reference("llama-longrope")[0])
    save_checkpoint(tmp_path / "native", model.network, model.tokenizer, "longrope")
    again = load_checkpoint(tmp_path / "native")
    assert again.config == model.config
    text = TEXTS["medium"]
    assert (again.trace(text).attention["decoder_self"].weights == model.trace(text).attention["decoder_self"].weights).all()


@torch.inference_mode()
def test_dump_writes_one_map_per_query_head_and_the_capped_scores(reference, tmp_path, capsys):
    import numpy as np

    from explorer.cli import main

    folder, hf_model = reference("gemma2")
    out = tmp_path / "gemma2.npz"
    assert main(["dump", "--checkpoint", str(folder), "--text", TEXTS["medium"], "--out", str(out)]) == 0
    with np.load(out) as arrays:
        weights, scores, ids = arrays["decoder_self"], arrays["decoder_self_scores"], arrays["decoder_ids"]
    assert weights.shape == (3, 4, len(ids), len(ids)) and weights.dtype == np.float32
    theirs = hf_model(input_ids=_ids(ids.tolist()), output_attentions=True)
    assert max_difference(weights, layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
    assert float(np.abs(scores[np.isfinite(scores)]).max()) < 2.0  # after the cap of 2
