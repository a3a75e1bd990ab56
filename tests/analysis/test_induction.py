"""The induction probe and the induction / duplicate-token / attention-sink scores, on real networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.analysis.head_stats import PRESETS, layer_statistics, trace_head_statistics
from explorer.analysis.token_matches import match_pairs
from model import AttentionModel
from model.induction import probe_ids, trace_probe
from tiny_models import task_tokenizer, tiny_config, tiny_network

PROBE = 12


def _copying_model() -> AttentionModel:
    """A two-layer decoder wired by hand to copy: layer 0 is a previous-token head that
    writes the previous token into its own subspace, layer 1 an induction head whose
    query (the current token) matches keys whose previous token is the same."""
    vocab = tiny_config("decoder").vocab_size
    positions = 2 * PROBE + 4
    d = 2 * vocab + positions  # [token | position | previous token]
    config = tiny_config(
        "decoder", d_model=d, n_heads=1, d_ff=4, norm="rmsnorm", bias=False, positions="learned",
        max_positions=positions, norm_eps=1e-12,
    )
    network = tiny_network(config)
    pos, prev = vocab, vocab + positions
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        for module in network.modules():  # the norms scale by 1 (RMS norm: no offset in this config)
            if "norm" in type(module).__name__.lower() and getattr(module, "weight", None) is not None:
                module.weight.fill_(1.0)
        network.embed_tokens.weight[:, :vocab] = torch.eye(vocab)
        network.decoder.embed.positions.weight[:, pos:pos + positions] = torch.eye(positions)
        s = math.sqrt(d / 2)  # an entry of a two-hot vector after the RMS norm
        first, second = network.decoder.layers[0].self_attn, network.decoder.layers[1].self_attn
        c = 30 * math.sqrt(d) / s**2  # a score of 30 for the previous position
        for p in range(1, positions):
            first.q.weight[pos + p - 1, pos + p] = c
        first.k.weight[pos:pos + positions, pos:pos + positions] = torch.eye(positions)
        first.v.weight[:vocab, :vocab] = torch.eye(vocab)
        first.o.weight[prev:prev + vocab, :vocab] = torch.eye(vocab)
        rms = math.sqrt((2 + s**2) / d)  # after layer 0: token, position and the previous token (≈ s)
        second.q.weight[:vocab, :vocab] = torch.eye(vocab) * 30 * math.sqrt(d) * rms**2 / s
        second.k.weight[:vocab, prev:prev + vocab] = torch.eye(vocab)
    return AttentionModel(network, task_tokenizer(positions), "copier", threads=0)


def test_the_probe_is_one_random_sequence_twice_inside_the_special_tokens() -> None:
    model = _copying_model()
    ids = probe_ids(model, PROBE, seed=5)
    special = [i in model.tokenizer.special_ids for i in ids]
    content = [i for i, s in zip(ids, special) if not s]
    assert len(content) == 2 * PROBE and content[:PROBE] == content[PROBE:]
    assert len(set(content[:PROBE])) == PROBE
    assert probe_ids(model, PROBE, seed=5) == ids and probe_ids(model, PROBE, seed=6) != ids


def test_a_hand_built_copying_model_scores_near_one_and_a_random_one_near_zero() -> None:
    copier = trace_head_statistics(trace_probe(_copying_model(), PROBE), "decoder_self").values
    assert copier["previous_share"][0, 0] > 0.95
    assert copier["induction_share"][1, 0] > 0.95
    assert PRESETS["induction"].threshold < copier["induction_share"][1, 0]
    random_model = AttentionModel(tiny_network(tiny_config("decoder"), seed=1), task_tokenizer(), "random", threads=0)
    random_stats = trace_head_statistics(trace_probe(random_model, PROBE), "decoder_self").values
    assert np.nanmax(random_stats["induction_share"]) < 0.2


def test_duplicate_induction_and_sink_shares_by_hand() -> None:
    ids = np.array([7, 3, 7, 3])  # "A B A B"
    pairs = match_pairs(ids)
    assert sorted(zip(*pairs["duplicate"])) == [(2, 0), (3, 1)]
    # From the second A to the B after the first A, and from the second B to the A after the first B.
    assert sorted(zip(*pairs["induction"])) == [(2, 1), (3, 2)]
    weights = np.array([[
        [1.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0, 0.0],
        [0.2, 0.6, 0.2, 0.0],
        [0.1, 0.3, 0.2, 0.4],
    ]], dtype=np.float32)  # (H=1, Q, K)
    values = layer_statistics(weights, np.zeros(4, bool), np.zeros(4, bool), np.zeros(4, bool), True, token_ids=ids)
    assert values["duplicate_share"][0] == pytest.approx((0.2 + 0.3) / 2)  # w20 and w31
    assert values["induction_share"][0] == pytest.approx((0.6 + 0.2) / 2)  # w21 and w32
    assert values["sink_share"][0] == pytest.approx((0.5 + 0.2 + 0.1) / 3)  # queries 1–3 on key 0
    no_repeat = layer_statistics(weights, np.zeros(4, bool), np.zeros(4, bool), np.zeros(4, bool), True,
                                 token_ids=np.arange(4))
    assert math.isnan(no_repeat["duplicate_share"][0]) and math.isnan(no_repeat["induction_share"][0])
