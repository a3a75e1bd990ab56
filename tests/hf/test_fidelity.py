"""Hugging Face checkpoints opened by the project's loader attend exactly like transformers.

For every family and variant: every layer and head of every attention kind within
1e-5 of ``transformers``' eager attention, hidden states / logits within 1e-4, and the
same greedy generation, on the same token ids.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from hf_reference import OUTPUT_TOLERANCE, SPEC_NAMES, TEXTS, WEIGHTS_TOLERANCE, layers, max_difference
from modern_specs import MODERN_PADDED

from model import AttentionRecorder, load_checkpoint

ENCODER_DECODER = [name for name in SPEC_NAMES if name.split("-")[0] in ("t5", "bart", "marian")]
GENERATING = ENCODER_DECODER + ["gpt2", "gpt2-untied", *MODERN_PADDED]


def _ids(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.long)[None]  # (1, T)


@pytest.fixture(scope="module")
def loaded(reference):
    """``loaded(name) -> (project model, transformers model)``, each loaded once per module."""
    cache = {}

    def get(name: str):
        if name not in cache:
            folder, hf_model = reference(name)
            cache[name] = (load_checkpoint(folder), hf_model)
        return cache[name]

    return get


@pytest.mark.parametrize("text", list(TEXTS))
@pytest.mark.parametrize("name", SPEC_NAMES)
@torch.inference_mode()
def test_attention_and_outputs_match_transformers(loaded, name, text):
    model, hf_model = loaded(name)
    source = TEXTS[text]
    architecture = model.config.architecture
    if architecture == "encoder":
        trace = model.trace(source)
        ids = _ids(trace.encoder.ids)
        theirs = hf_model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        assert max_difference(trace.attention["encoder_self"].weights, layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
        hidden = model.network.encode(ids).hidden
        assert max_difference(hidden, theirs.hidden_states[-1]) <= OUTPUT_TOLERANCE
    elif architecture == "decoder":
        trace = model.trace(source)
        ids = _ids(trace.decoder.ids)
        theirs = hf_model(input_ids=ids, output_attentions=True, output_hidden_states=True)
        assert max_difference(trace.attention["decoder_self"].weights, layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
        hidden = model.network.decode(ids).hidden
        assert max_difference(hidden, theirs.hidden_states[-1]) <= OUTPUT_TOLERANCE
        if hasattr(theirs, "logits"):
            assert max_difference(model.network.logits(hidden), theirs.logits) <= OUTPUT_TOLERANCE
    else:
        target = TEXTS["medium"] if text != "medium" else TEXTS["short"]
        trace = model.trace(source, target=target)
        assert not trace.generated
        source_ids, decoder_ids = _ids(trace.encoder.ids), _ids(trace.decoder.ids)
        assert int(decoder_ids[0, 0]) == model.config.start_token_id
        theirs = hf_model(input_ids=source_ids, decoder_input_ids=decoder_ids, output_attentions=True)
        for kind, attentions in (
            ("encoder_self", theirs.encoder_attentions),
            ("decoder_self", theirs.decoder_attentions),
            ("cross", theirs.cross_attentions),
        ):
            assert max_difference(trace.attention[kind].weights, layers(attentions)) <= WEIGHTS_TOLERANCE, kind
        _, decoded = model.network(source_ids, decoder_ids)
        assert max_difference(model.network.logits(decoded.hidden), theirs.logits) <= OUTPUT_TOLERANCE


@pytest.mark.parametrize("name", GENERATING)
def test_greedy_generation_matches_transformers(loaded, name):
    model, hf_model = loaded(name)
    config = model.config
    # Plain greedy search (the reference configs set no forced EOS either).
    settings = copy.deepcopy(hf_model.generation_config)
    settings.update(
        max_new_tokens=12,
        do_sample=False,
        num_beams=1,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
    )
    for text in TEXTS.values():
        ours = model.generate(text, max_new_tokens=12)
        ids = _ids(model.tokenizer.encode(text).ids)
        if config.architecture == "decoder" and ids.size(1) + 12 > config.max_positions:
            # transformers runs past GPT-2's position table here; the project stops at its end.
            assert len(ours) == config.max_positions
            continue
        theirs = hf_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=settings)
        assert ours == theirs[0].tolist()
        assert len(ours) > ids.size(1) if config.architecture == "decoder" else len(ours) > 1
    if config.architecture == "encoder-decoder":
        trace = model.trace(TEXTS["medium"])
        assert trace.generated
        assert trace.decoder.ids.tolist() == model.generate(TEXTS["medium"])


def _padded_batch(model, texts: list[str], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [model.tokenizer.encode(text).ids for text in texts]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    return ids, ids != pad_id  # (B, T) each


@pytest.mark.parametrize("name", ["bert", "roberta", "distilbert", "gpt2", "t5", "bart", "bart-uneven", "marian", *MODERN_PADDED, "modernbert"])
@torch.inference_mode()
def test_padded_batches_match_transformers(loaded, name):
    model, hf_model = loaded(name)
    config = model.config
    ids, mask = _padded_batch(model, [TEXTS["short"], TEXTS["long"]], config.pad_token_id)
    assert not bool(mask.all())  # the short row really is padded
    network = model.network
    if config.architecture == "encoder":
        ours = network.encode(ids, mask, recorder=AttentionRecorder())
        theirs = hf_model(input_ids=ids, attention_mask=mask.long(), output_attentions=True, output_hidden_states=True)
        # A padding query of a windowed layer may see no real key at all: the project gives
        # it zero weights, transformers a uniform row. Such models are compared on real queries.
        windowed = bool(config.layer_windows)
        for row in range(ids.size(0)):
            real = int(mask[row].sum()) if windowed else ids.size(1)
            ours_row = ours.self_attention.weights[row][..., :real, :]
            assert max_difference(ours_row, layers(theirs.attentions, row)[..., :real, :]) <= WEIGHTS_TOLERANCE
        kept = mask if windowed else torch.ones_like(mask)
        assert max_difference(ours.hidden[kept], theirs.hidden_states[-1][kept]) <= OUTPUT_TOLERANCE
    elif config.architecture == "decoder":
        ours = network.decode(ids, padding_mask=mask, recorder=AttentionRecorder())
        theirs = hf_model(input_ids=ids, attention_mask=mask.long(), output_attentions=True)
        for row in range(ids.size(0)):
            real = int(mask[row].sum())  # right padding: compare the real queries
            ours_row = ours.self_attention.weights[row][..., :real, :]
            assert max_difference(ours_row, layers(theirs.attentions, row)[..., :real, :]) <= WEIGHTS_TOLERANCE
        real_logits = network.logits(ours.hidden)[mask]
        assert max_difference(real_logits, theirs.logits[mask]) <= OUTPUT_TOLERANCE
    else:
        decoder_ids = _ids([config.start_token_id, 5, 9, 7]).expand(ids.size(0), -1)
        encoded, decoded = network(ids, decoder_ids, source_padding_mask=mask, recorder=AttentionRecorder())
        theirs = hf_model(input_ids=ids, attention_mask=mask.long(), decoder_input_ids=decoder_ids, output_attentions=True)
        for row in range(ids.size(0)):
            for ours_stack, attentions in (
                (encoded.self_attention, theirs.encoder_attentions),
                (decoded.self_attention, theirs.decoder_attentions),
                (decoded.cross_attention, theirs.cross_attentions),
            ):
                assert max_difference(ours_stack.weights[row], layers(attentions, row)) <= WEIGHTS_TOLERANCE
        assert max_difference(network.logits(decoded.hidden), theirs.logits) <= OUTPUT_TOLERANCE
        # Padded source keys get no cross-attention at all.
        assert float(decoded.cross_attention.weights[0][..., ~mask[0]].abs().max()) == 0.0


@torch.inference_mode()
def test_bert_sentence_pair_uses_segments(loaded):
    model, hf_model = loaded("bert")
    first, second = TEXTS["medium"], "seven wizards hex bold jugglers"
    encoded = model.tokenizer.encode(first, second)
    assert set(encoded.type_ids) == {0, 1}
    trace = model.trace(first, pair=second)
    assert trace.encoder.ids.tolist() == encoded.ids
    assert trace.encoder.tokens.count("[SEP]") == 2
    ids, type_ids = _ids(encoded.ids), _ids(encoded.type_ids)
    theirs = hf_model(input_ids=ids, token_type_ids=type_ids, output_attentions=True, output_hidden_states=True)
    assert max_difference(trace.attention["encoder_self"].weights, layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
    hidden = model.network.encode(ids, type_ids=type_ids).hidden
    assert max_difference(hidden, theirs.hidden_states[-1]) <= OUTPUT_TOLERANCE
    # Without the segment ids the second sentence would look different: they matter.
    without = hf_model(input_ids=ids, output_hidden_states=True)
    assert max_difference(hidden, without.hidden_states[-1]) > 1e-3


def test_tokenizer_padding_is_off_and_truncation_is_the_model_maximum(loaded):
    model, _ = loaded("bert")  # its tokenizer.json pads to 48 and truncates at 16
    trace = model.trace(TEXTS["long"])
    assert 16 < len(trace.encoder) < 48
    assert "[PAD]" not in trace.encoder.tokens
    assert trace.encoder.special.tolist() == [t in ("[CLS]", "[SEP]") for t in trace.encoder.tokens]
    assert trace.notices == []
    too_long = " ".join([TEXTS["long"]] * 4)
    cut = model.trace(too_long)
    assert len(cut.encoder) == model.config.max_positions == 64
    assert cut.encoder.tokens[-1] == "[SEP]"
    assert any("cut" in notice and "64" in notice for notice in cut.notices)


def test_roberta_maximum_excludes_the_position_offset(loaded):
    model, _ = loaded("roberta")
    # 66 table rows, numbering starts at pad_token_id + 1 = 2.
    assert model.config.max_positions == 64
    cut = model.trace(" ".join([TEXTS["long"]] * 4))
    assert len(cut.encoder) == 64
    assert cut.notices


def test_family_details_are_read_from_the_config(loaded):
    t5, _ = loaded("t5")
    v11, _ = loaded("t5-v1.1")
    untied, _ = loaded("t5-v1.1-untied")
    assert (t5.config.gated_ffn, t5.config.tied_output_scale, t5.config.scale_scores) == (False, True, False)
    assert (v11.config.gated_ffn, v11.config.activation, v11.config.tied_output_scale) == (True, "gelu_tanh", False)
    assert untied.network.lm_head is not None and not untied.config.tie_embeddings
    gpt2, _ = loaded("gpt2")
    gpt2_untied, _ = loaded("gpt2-untied")
    assert gpt2.network.lm_head is None and gpt2_untied.network.lm_head is not None
    bart, _ = loaded("bart-bf16")
    assert (bart.config.position_offset, bart.config.scale_embedding, bart.config.final_logits_bias) == (2, True, True)
    uneven, _ = loaded("bart-uneven")
    assert (uneven.config.n_heads, uneven.config.n_decoder_heads, uneven.config.d_decoder_ff) == (4, 2, 96)
    assert [uneven.config.heads_of(kind) for kind in uneven.config.attention_kinds] == [4, 2, 2]
    maps = uneven.trace(TEXTS["short"], target=TEXTS["medium"]).attention
    assert [maps[kind].weights.shape[1] for kind in ("encoder_self", "decoder_self", "cross")] == [4, 2, 2]
    assert "4 encoder / 2 decoder heads" in uneven.describe()
    inverse, _ = loaded("gpt2-inverse-layer")
    assert inverse.config.scale_by_inverse_layer and inverse.config.n_decoder_layers == 3
    marian, _ = loaded("marian")
    assert (marian.config.positions, marian.config.activation, marian.config.embedding_norm) == ("sinusoidal", "silu", False)
    assert marian.describe().startswith("marian encoder-decoder")


@torch.inference_mode()
def test_legacy_pickle_format_loads_like_the_zip_format(loaded, reference, tmp_path):
    import shutil

    folder, _ = reference("roberta-bin")
    legacy = Path(shutil.copytree(folder, tmp_path / "legacy"))
    state = torch.load(legacy / "pytorch_model.bin", weights_only=True)
    torch.save(state, legacy / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    model, _ = loaded("roberta-bin")
    text = TEXTS["medium"]
    expected = model.trace(text).attention["encoder_self"].weights
    assert (load_checkpoint(legacy).trace(text).attention["encoder_self"].weights == expected).all()
