"""Guards for the techniques that keep long traces cheap; none of these tests times anything.

- The trace is stored at the promised dtype: float32 or float16 as asked, ``"auto"``
  switching to float16 only above ``AUTO_FLOAT16_BYTES``.
- No ``(B, L, H, Q, K)`` stack copy: every layer is written into one preallocated
  buffer per kind, and the trace's numpy arrays are views of it.
- The attention makes exactly two fresh ``(B, H, Tq, Tk)`` tensors per call (the scores
  and the softmax), scaling and masking in place; an encoder input without padding is
  not masked at all. Given the trace's slots it makes none (float32: scores and
  weights are computed in place) or one (float16: one float32 scratch, softmaxed in
  place), and the values are the same.
- The forward runs on the thread count the model was given.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from model import AttentionModel, AttentionRecorder, inference
from model.inference import AUTO_FLOAT16_BYTES, default_threads, resolve_precision, trace_nbytes
from tiny_models import task_tokenizer, tiny_config, tiny_network

TEXT = "reverse: owl cat fig"


def tiny_model(architecture: str = "encoder-decoder", **options) -> AttentionModel:
    config = tiny_config(architecture, lm_head=architecture != "encoder")
    return AttentionModel(tiny_network(config), task_tokenizer(config.max_positions), "tiny", **options)


@pytest.mark.parametrize("architecture", ["encoder", "decoder", "encoder-decoder"])
@pytest.mark.parametrize("precision, dtype", [("float32", np.float32), ("float16", np.float16)])
def test_trace_is_stored_at_the_requested_dtype(architecture, precision, dtype):
    trace = tiny_model(architecture).trace(TEXT, target="cat owl" if architecture == "encoder-decoder" else None, precision=precision)
    for kind in trace.kinds:
        assert trace.attention[kind].weights.dtype == dtype
        assert trace.attention[kind].scores.dtype == dtype


def test_float16_trace_is_the_float32_trace_rounded_once():
    model = tiny_model("decoder")
    exact = model.trace(TEXT, precision="float32").attention["decoder_self"]
    half = model.trace(TEXT, precision="float16").attention["decoder_self"]
    assert np.array_equal(half.weights, exact.weights.astype(np.float16))
    # Masked keys stay -inf: rounding keeps what the panels draw as empty.
    upper = np.triu(np.ones(half.scores.shape[-2:], dtype=bool), k=1)
    assert np.isneginf(half.scores[..., upper]).all()
    assert np.array_equal(half.scores, exact.scores.astype(np.float16))


def test_auto_keeps_float32_for_small_traces_and_float16_above_the_limit(monkeypatch):
    model = tiny_model("encoder")
    assert model.trace(TEXT).attention["encoder_self"].weights.dtype == np.float32
    monkeypatch.setattr(inference, "AUTO_FLOAT16_BYTES", 0)
    assert model.trace(TEXT).attention["encoder_self"].weights.dtype == np.float16


def test_auto_rule_for_the_issue_sizes():
    from benchmarks.common import BERT_BASE, GPT2_SMALL, model_config

    bert, gpt2 = model_config(BERT_BASE), model_config(GPT2_SMALL)
    # BERT-base at 512 tokens: 12 · 12 · 512² · 4 bytes · 2 = 302 MB, kept exact.
    assert trace_nbytes(bert, 512, 0) == 12 * 12 * 512 * 512 * 4 * 2
    assert resolve_precision("auto", trace_nbytes(bert, 512, 0)) == "float32"
    assert resolve_precision("auto", trace_nbytes(gpt2, 0, 1024)) == "float16"
    assert trace_nbytes(gpt2, 0, 1024) > AUTO_FLOAT16_BYTES


def test_encoder_decoder_trace_size_counts_every_kind():
    config = tiny_config("encoder-decoder")
    L, H = config.n_decoder_layers, config.n_heads
    expected = 2 * 4 * (config.n_encoder_layers * H * 5 * 5 + L * H * 3 * 3 + L * H * 3 * 5)
    assert trace_nbytes(config, 5, 3) == expected


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, float32, float16"):
        tiny_model("encoder").trace(TEXT, precision="int8")
    with pytest.raises(ValueError, match="float16"):
        tiny_model("encoder", trace_precision="bfloat16")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_layers_are_written_into_one_buffer_without_stacking(monkeypatch, dtype):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.stack copies every layer's matrices once more")

    monkeypatch.setattr(torch, "stack", refuse)
    config = tiny_config("encoder-decoder")
    network = tiny_network(config)
    source, target = torch.tensor([[5, 6, 7, 8, 9]]), torch.tensor([[1, 5, 6]])
    with torch.inference_mode():
        encoded, decoded = network(source, target, recorder=AttentionRecorder(dtype))
    for stack, (queries, keys) in (
        (encoded.self_attention, (5, 5)),
        (decoded.self_attention, (3, 3)),
        (decoded.cross_attention, (3, 5)),
    ):
        shape = (1, config.n_decoder_layers, config.n_heads, queries, keys)
        for tensor in (stack.weights, stack.scores):
            assert tensor.shape == shape and tensor.dtype == dtype and tensor.is_contiguous()
            # The buffer is exactly the stack: no larger storage it was sliced from.
            assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
        maps = inference._maps(stack)
        assert np.shares_memory(maps.weights, stack.weights.numpy())
        assert np.shares_memory(maps.scores, stack.scores.numpy())


def test_trace_arrays_are_views_not_copies():
    trace = tiny_model("encoder-decoder").trace(TEXT, target="cat owl")
    for kind in trace.kinds:
        for array in (trace.attention[kind].weights, trace.attention[kind].scores):
            assert not array.flags.owndata  # a view of the forward's buffer


class FreshSquareTensors(TorchFunctionMode):
    """Counts tensors of ``numel`` elements that an op returns as new storage (not in place)."""

    def __init__(self, numel: int) -> None:
        super().__init__()
        self.numel = numel
        self.ops: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        # An op given out= writes into that tensor: not new storage either.
        inputs = [a for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)]
        if isinstance(result, torch.Tensor) and result.numel() == self.numel and result.is_floating_point():
            if not any(result.untyped_storage().data_ptr() == a.untyped_storage().data_ptr() for a in inputs):
                self.ops.append(getattr(func, "__name__", str(func)))
        return result


def _attention_allocations(architecture: str, padding: bool, slot_dtype: torch.dtype | None = None) -> list[str]:
    from model.attention import TraceSlots, scaled_dot_product_attention

    B, H, T, dh = 1, 4, 6, 8
    q, k, v = (torch.randn(B, H, T, dh) for _ in range(3))
    if architecture == "decoder":
        mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]  # (1, 1, T, T)
    else:
        mask = torch.ones(B, 1, 1, T, dtype=torch.bool)
        mask[..., -1] = not padding
    bias = torch.zeros(1, H, T, T)
    slots = None
    if slot_dtype is not None:
        slots = TraceSlots(torch.empty(B, H, T, T, dtype=slot_dtype), torch.empty(B, H, T, T, dtype=slot_dtype))
    counter = FreshSquareTensors(B * H * T * T)
    with torch.inference_mode(), counter:
        scaled_dot_product_attention(q, k, v, mask=mask, bias=bias, slots=slots)
    return counter.ops


@pytest.mark.parametrize("architecture", ["encoder", "decoder"])
def test_attention_makes_only_the_scores_and_the_weights(architecture):
    # matmul → scores, softmax → weights; scale, bias and mask are applied in place.
    assert _attention_allocations(architecture, padding=True) == ["matmul", "softmax"]


@pytest.mark.parametrize("architecture", ["encoder", "decoder"])
def test_attention_writes_into_the_trace_slots(architecture):
    assert _attention_allocations(architecture, padding=True, slot_dtype=torch.float32) == []
    # float16 slots: the scores are computed once at full precision and softmaxed in place.
    assert _attention_allocations(architecture, padding=True, slot_dtype=torch.float16) == ["matmul"]


@pytest.mark.parametrize("slot_dtype", [torch.float32, torch.float16])
def test_attention_in_slots_gives_the_same_values(slot_dtype):
    from model.attention import TraceSlots, scaled_dot_product_attention

    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=generator) for _ in range(3))
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool).tril()
    mask[1, :, 2] = False  # query 2 of the second row attends to nothing
    slots = TraceSlots(torch.empty(2, 3, 5, 5, dtype=slot_dtype), torch.empty(2, 3, 5, 5, dtype=slot_dtype))
    with torch.inference_mode():
        plain = scaled_dot_product_attention(q, k, v, mask=mask)
        placed = scaled_dot_product_attention(q, k, v, mask=mask, slots=slots)
    torch.testing.assert_close(placed.output, plain.output, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(placed.weights.float(), plain.weights, atol=1e-6, rtol=1e-6)
    assert placed.scores.data_ptr() == slots.scores.data_ptr()
    torch.testing.assert_close(slots.scores, plain.scores.to(slot_dtype))
    assert (placed.weights[1, :, 2] == 0).all() and (placed.output[1, :, 2] == 0).all()
    if slot_dtype == torch.float32:
        assert placed.weights.data_ptr() == slots.weights.data_ptr()


def test_encoder_without_padding_passes_no_mask(monkeypatch):
    from model import attention

    seen: list[object] = []
    original = attention.scaled_dot_product_attention

    def spy(q, k, v, mask=None, *args, **kwargs):
        seen.append(mask)
        return original(q, k, v, mask, *args, **kwargs)

    monkeypatch.setattr(attention, "scaled_dot_product_attention", spy)
    network = tiny_network(tiny_config("encoder"))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        plain = network.encode(ids, recorder=AttentionRecorder())
        padded = network.encode(torch.tensor([[5, 6, 7, 8, 0]]), torch.tensor([[True] * 4 + [False]]), recorder=AttentionRecorder())
    layers = len(network.encoder.layers)
    assert seen[:layers] == [None] * layers
    assert all(mask is not None for mask in seen[layers:])
    # The padded key gets no weight, and the real tokens' attention is unchanged by it.
    assert (padded.self_attention.weights[..., -1] == 0).all()
    assert torch.allclose(padded.self_attention.weights[..., :4, :4], plain.self_attention.weights, atol=1e-6)


def test_forward_runs_on_the_chosen_thread_count():
    before = torch.get_num_threads()
    try:
        model = tiny_model("encoder")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        assert model.threads == default_threads() == max(1, cores - 1)
        torch.set_num_threads(max(2, model.threads + 1))
        model.trace(TEXT)
        assert torch.get_num_threads() == model.threads
        left_alone = tiny_model("encoder", threads=0)
        torch.set_num_threads(3)
        left_alone.trace(TEXT)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_modern_decoder_trace_is_written_in_place_too():
    """Grouped-query heads, rotary positions, a window and a soft-cap add no (B, H, T, T)
    tensor to a float32 trace: the cap is applied in the scores slot, the masks are boolean."""
    from model import Rotary

    config = tiny_config(
        "decoder", positions="rotary", rotary=Rotary(theta=100.0), n_kv_heads=2, layer_windows=(3, None),
        attention_softcap=5.0, norm="rmsnorm", gated_ffn=True, activation="silu", bias=False,
    )
    network = tiny_network(config)
    T = 7
    ids = torch.arange(3, 3 + T)[None]  # (1, T)
    counter = FreshSquareTensors(config.n_heads * T * T)
    with torch.inference_mode(), counter:
        stack = network.decode(ids, recorder=AttentionRecorder(torch.float32)).self_attention
    assert counter.ops == []
    visible = stack.scores[torch.isfinite(stack.scores)]
    assert float(visible.abs().max()) <= 5.0
    assert torch.isneginf(stack.scores[0, 0, :, 6, :4]).all() and (stack.weights[0, 0, :, 6, :4] == 0).all()
