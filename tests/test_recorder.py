"""The recorder handed to the network's forward: it alone decides what attention is kept.

The in-place writing and the overviews are checked, allocation by allocation, in
``tests/perf``; these tests check the recorder's contract with its callers.
"""

from __future__ import annotations

import pytest
import torch

from model import AttentionRecorder
from tiny_models import tiny_config, tiny_network


def test_a_forward_without_a_recorder_keeps_no_attention():
    network = tiny_network(tiny_config("encoder-decoder"))
    with torch.inference_mode():
        encoded, decoded = network(torch.tensor([[5, 6, 7]]), torch.tensor([[1, 5]]))
    assert encoded.self_attention is None
    assert decoded.self_attention is None and decoded.cross_attention is None


def test_one_recorder_serves_several_forwards_without_sharing_their_buffers():
    network = tiny_network(tiny_config("encoder-decoder"))
    recorder = AttentionRecorder(torch.float16, overview_side=2)
    source, target = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[1, 5, 6]])
    with torch.inference_mode():
        first = network(source, target, recorder=recorder)
        second = network(source, target, recorder=recorder)
    pairs = [(a.self_attention, b.self_attention) for a, b in zip(first, second)]
    pairs.append((first[1].cross_attention, second[1].cross_attention))
    for one, other in pairs:
        assert one.weights.data_ptr() != other.weights.data_ptr()
        assert one.weights.dtype == torch.float16 and one.overview.dtype == torch.float32
        assert torch.equal(one.weights, other.weights) and torch.equal(one.overview, other.overview)
        assert max(one.overview.shape[-2:]) <= 2


def test_the_recorder_is_passed_by_name():
    network = tiny_network(tiny_config("encoder"))
    with pytest.raises(TypeError):
        network.encode(torch.tensor([[5, 6]]), None, None, AttentionRecorder())


def test_a_recorder_stores_floating_point_values_only():
    with pytest.raises(ValueError, match="floating-point"):
        AttentionRecorder(torch.int8)
