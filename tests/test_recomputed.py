"""Recomputed traces on the project's own tiny models: indexing, refusals, cancellation,
padded batches, the storage rule, selections, and no n² tensor on the recomputed path.

The family-by-family comparison with dense traces is in ``tests/hf``; these use native
configs that switch each detail on (windows, soft-cap, T5's relative bias, GQA).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from recomputed_checks import assert_reads_match, assert_traces_match, dense_reference
from tiny_models import task_tokenizer, tiny_config, tiny_network
from torch.overrides import TorchFunctionMode

from model import AttentionModel, AttentionRecorder, TraceCancelled, TraceTooLarge
from model import blockwise, inference
from model import trace as trace_module
from model.incremental import recomputed_maps
from model.inference import attention_structure
from model.longtrace import StackRunner

TEXT = "reverse: owl cat fig ant bee owl cat fig ant bee"
DETAILS = {
    "plain": {},
    "windows and soft-cap": {"layer_windows": (3, None), "attention_softcap": 2.0},
    "grouped heads": {"n_kv_heads": 2},
    "relative bias": {"positions": "relative", "relative_buckets": 8, "relative_max_distance": 16},
}


def tiny_model(architecture: str = "decoder", seed: int = 0, **overrides) -> AttentionModel:
    config = tiny_config(architecture, lm_head=architecture != "encoder", **overrides)
    return AttentionModel(tiny_network(config, seed), task_tokenizer(config.max_positions), "tiny")


def _target(architecture: str) -> dict:
    return {"target": "fig cat owl"} if architecture == "encoder-decoder" else {}


@pytest.mark.parametrize("details", list(DETAILS))
@pytest.mark.parametrize("architecture", ["encoder", "decoder", "encoder-decoder"])
def test_recomputed_traces_read_as_dense_traces_for_every_mask_and_bias(architecture, details):
    details_used = DETAILS[details]
    if architecture == "encoder-decoder" and "windows" in details:
        details_used = {"attention_softcap": 2.0}  # windows are for one-stack models
    model = tiny_model(architecture, **details_used)
    dense = model.trace(TEXT, storage="dense", **_target(architecture))
    recomputed = model.trace(TEXT, storage="recomputed", overview_side=4, **_target(architecture))
    assert_traces_match(recomputed, dense, side=4)


def _index_strategy(shape):
    def axis(n):
        ints = st.integers(-n, n - 1)
        slices = st.builds(slice, st.none() | st.integers(-n, n), st.none() | st.integers(-n, n),
                           st.none() | st.integers(1, 3) | st.integers(-3, -1))
        arrays = st.lists(st.integers(-n, n - 1), min_size=1, max_size=4).map(np.array)
        return ints | slices | arrays

    def key(items):
        count = st.integers(1, 4)
        return count.flatmap(lambda k: st.tuples(*[axis(n) for n in shape[:k]]))

    return key(shape) | st.just(Ellipsis) | st.tuples(st.just(Ellipsis), axis(shape[-1])) | axis(shape[0])


_INDEXED = tiny_model("decoder", n_kv_heads=2, layer_windows=(3, None))
_INDEXED_TRACE = _INDEXED.trace("reverse: owl cat fig", storage="recomputed")
_INDEXED_MAPS = _INDEXED_TRACE.attention["decoder_self"]
_INDEXED_DENSE = dense_reference(_INDEXED_MAPS)


@settings(max_examples=150, deadline=None)
@given(key=_index_strategy(_INDEXED_MAPS.shape))
def test_indexing_a_recomputed_map_gives_numpys_shapes_and_values(key):
    for values in ("weights", "scores"):
        try:
            theirs = getattr(_INDEXED_DENSE, values)[key]
        except IndexError:  # arrays that do not broadcast: refused alike
            with pytest.raises(IndexError):
                getattr(_INDEXED_MAPS, values)[key]
            continue
        ours = getattr(_INDEXED_MAPS, values)[key]
        assert np.shape(ours) == np.shape(theirs)
        assert np.asarray(ours).dtype == np.float32
        both = np.isfinite(theirs)
        assert np.array_equal(np.isfinite(ours), both)
        assert np.abs(np.asarray(ours)[both] - np.asarray(theirs)[both]).max(initial=0.0) <= 2e-6


def test_a_recomputed_map_behaves_like_an_array():
    weights = _INDEXED_MAPS.weights
    L, H, Q, K = weights.shape
    assert weights.ndim == 4 and weights.dtype == np.float32 and len(weights) == L
    assert np.asarray(weights).shape == (L, H, Q, K)
    assert weights.astype(np.float64).dtype == np.float64
    assert np.allclose(np.asarray(weights).sum(axis=-1), 1.0, atol=1e-5)
    assert not _INDEXED_MAPS.is_dense and _INDEXED_TRACE.attention["decoder_self"].n_heads == H
    with pytest.raises(IndexError):
        weights[L]
    with pytest.raises(IndexError):
        weights[0, 0, 0, 0, 0]


def test_materialising_above_the_limit_is_refused_in_one_sentence_naming_the_size(monkeypatch):
    monkeypatch.setattr(trace_module, "DENSE_LIMIT_BYTES", 1000)
    weights = _INDEXED_MAPS.weights
    with pytest.raises(TraceTooLarge) as refused:
        np.asarray(weights)
    message = str(refused.value)
    nbytes = 4 * int(np.prod(weights.shape))
    assert trace_module.size_words(nbytes) in message and "1.0 kB limit" in message
    assert message.count(". ") == 0 and message.endswith(".")
    with pytest.raises(TraceTooLarge):
        weights[...]
    assert weights[0, 0].shape == weights.shape[2:]  # a small part is still read
    assert isinstance(refused.value, ValueError)


def test_a_dense_dump_above_the_limit_is_refused_with_the_size_and_the_selection_options(monkeypatch):
    trace = tiny_model("encoder-decoder").trace(TEXT, target="fig cat owl", storage="dense")
    monkeypatch.setattr(trace_module, "DENSE_LIMIT_BYTES", 1000)
    with pytest.raises(TraceTooLarge) as refused:
        trace.arrays()
    message = str(refused.value)
    assert trace_module.size_words(trace.dense_nbytes()) in message
    for option in ("--layers", "--heads", "--rows"):
        assert option in message
    assert message.count(". ") == 0
    part = trace.arrays(layers=[1], heads=[0], rows=[0])
    assert part["cross"].shape == (1, 1, 1, len(trace.encoder))


@pytest.mark.parametrize("storage", ["dense", "recomputed"])
def test_a_selection_dumps_those_layers_heads_and_rows_of_every_kind(storage):
    trace = tiny_model("encoder-decoder").trace(TEXT, target="fig cat owl", storage=storage)
    whole = {kind: (np.asarray(trace.attention[kind].weights), np.asarray(trace.attention[kind].scores)) for kind in trace.kinds}
    part = trace.arrays(layers=[1], heads=slice(1, 3), rows=[2, 0])
    for kind in trace.kinds:
        # Recomputed rows are read in matmuls of another shape: equal to float32 rounding.
        assert np.allclose(part[kind], whole[kind][0][1:2, 1:3][:, :, [2, 0]], rtol=0, atol=2e-6)
        assert np.allclose(part[f"{kind}_scores"], whole[kind][1][1:2, 1:3][:, :, [2, 0]], rtol=2e-6, atol=2e-6)
        assert part[f"{kind}_layers"].tolist() == [1] and part[f"{kind}_heads"].tolist() == [1, 2]
        assert part[f"{kind}_rows"].tolist() == [2, 0]
    assert "encoder_ids" in part and "decoder_tokens" in part


def test_auto_storage_is_dense_until_the_float32_trace_exceeds_its_limit(monkeypatch):
    model = tiny_model("decoder")
    assert model.trace(TEXT).attention["decoder_self"].is_dense
    monkeypatch.setattr(inference, "DENSE_TRACE_BYTES", 0)
    assert not model.trace(TEXT).attention["decoder_self"].is_dense
    with pytest.raises(ValueError, match="storage"):
        model.trace(TEXT, storage="lazy")


@pytest.mark.parametrize("storage", ["dense", "recomputed"])
def test_progress_is_reported_at_every_layer_boundary(storage):
    model = tiny_model("encoder-decoder")
    calls = []
    model.trace(TEXT, target="fig cat owl", storage=storage, progress=lambda *report: calls.append(report))
    assert calls == [("encoder", 1, 2), ("encoder", 2, 2), ("decoder", 1, 2), ("decoder", 2, 2)]


@pytest.mark.parametrize("architecture", ["decoder", "encoder-decoder"])
def test_a_cancelled_trace_leaves_the_kept_state_and_the_next_trace_is_exact(architecture):
    model = tiny_model(architecture, n_kv_heads=2)
    reference = tiny_model(architecture, n_kv_heads=2)
    source = "reverse: owl cat fig"
    first = {"target": "fig cat"} if architecture == "encoder-decoder" else {}
    model.trace(source, storage="recomputed", reuse=True, **first)
    kept = model.incremental.previous

    def cancel_in_the_last_layer(stack, layer, n_layers):
        if stack == "decoder" and layer == n_layers - 1:
            raise TraceCancelled("a newer input arrived")

    edited = source + " ant bee" if architecture == "decoder" else source
    second = {"target": "fig cat owl"} if architecture == "encoder-decoder" else {}
    with pytest.raises(TraceCancelled):
        model.trace(edited, storage="recomputed", reuse=True, progress=cancel_in_the_last_layer, **second)
    assert model.incremental.previous is kept
    later = (source, {"target": "fig owl"}) if second else (source + " owl", {})
    for text, options in ((edited, second), later):
        typed = model.trace(text, storage="recomputed", reuse=True, **options)
        assert model.incremental.last_run_tokens < len(typed.decoder)  # it continued the kept state
        assert_traces_match(typed, reference.trace(text, storage="dense", **options), incremental=True)


def test_returning_true_from_progress_cancels_too():
    with pytest.raises(TraceCancelled, match="after 1 of 2 decoder layers"):
        tiny_model("decoder").trace(TEXT, storage="recomputed", progress=lambda *report: True)


@pytest.mark.parametrize("architecture", ["encoder", "decoder"])
@torch.inference_mode()
def test_padded_batches_recompute_each_row_as_the_dense_forward_does(architecture):
    config = tiny_config(architecture, lm_head=architecture != "encoder", n_kv_heads=2,
                         positions="relative", relative_buckets=8, relative_max_distance=16)
    network = tiny_network(config)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 0, 0, 0]])
    padding = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    recorder = AttentionRecorder()
    if architecture == "encoder":
        stack, dense = network.encoder, network.encode(ids, padding, recorder=recorder).self_attention
    else:
        stack, dense = network.decoder, network.decode(ids, padding_mask=padding, recorder=recorder).self_attention
    run = StackRunner(network, stack, architecture, causal=architecture == "decoder", side=4).run(ids, padding)
    kind = "encoder_self" if architecture == "encoder" else "decoder_self"
    for row in range(2):
        maps = recomputed_maps(run.self_attention, attention_structure(config, kind), batch=row)
        assert_reads_match(maps, dense_reference(maps, batch=row), side=4)
        weights, scores = dense.weights[row].numpy(), dense.scores[row].numpy()
        assert np.abs(np.asarray(maps.weights) - weights).max() <= 1e-5
        assert np.array_equal(np.isfinite(np.asarray(maps.scores)), np.isfinite(scores))


class LargestTensor(TorchFunctionMode):
    """The largest number of elements any op returned."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if isinstance(result, torch.Tensor) and result.numel() > self.largest:
            self.largest, self.op = result.numel(), getattr(func, "__name__", str(func))
        return result


@pytest.mark.parametrize("architecture", ["decoder", "encoder-decoder"])
def test_the_recomputed_forward_never_holds_a_layers_square_matrix(architecture, monkeypatch):
    model = tiny_model(architecture, max_positions=256)
    text = " ".join(["owl cat fig ant bee"] * 48)  # 240 words: the feed-forward's n × d_ff stays far below n²
    n = len(model.tokenizer.encode(text).ids)
    H = model.config.n_heads
    monkeypatch.setattr(blockwise, "BLOCK_CELLS", H * n * 8)  # blocks of 8 rows at this length
    largest = LargestTensor()
    with largest:
        trace = model.trace(text, storage="recomputed", overview_side=8, **_target(architecture))
    square = H * n * n  # one layer's (H, n, n) scores
    assert largest.largest * 8 <= square, f"{largest.op} made {largest.largest} elements; a layer's scores are {square}"
    assert not trace.attention[trace.kinds[-1]].is_dense


def test_typing_at_the_end_refills_the_overview_from_its_strips_without_recomputing_rows(monkeypatch):
    from model import longtrace

    model, reference = tiny_model("decoder"), tiny_model("decoder")
    text = "reverse: owl cat fig ant bee owl"
    model.trace(text, storage="recomputed", reuse=True, overview_side=4)
    recomputed_rows = []
    original = longtrace.recompute_weights
    monkeypatch.setattr(longtrace, "recompute_weights", lambda record, first, end: recomputed_rows.append(end - first) or original(record, first, end))
    for word in ["cat", "fig", "owl", "bee", "ant", "cat", "owl", "fig"]:
        text += " " + word
        typed = model.trace(text, storage="recomputed", reuse=True, overview_side=4)
        assert_traces_match(typed, reference.trace(text, storage="dense"), side=4, incremental=True)
    assert recomputed_rows == []


@pytest.mark.parametrize("region, out_shape", [((7, 5), (3, 2)), ((4, 4), (8, 8)), ((9, 1), (4, 1)), ((6, 6), (1, 1))])
def test_a_tile_is_the_maximum_of_the_cells_each_output_cell_covers(region, out_shape):
    from model.tiles import bin_edges, pool_region

    values = np.random.default_rng(0).standard_normal(region).astype(np.float32)
    values[0, :] = -np.inf  # a masked row of scores stays -inf only where every cell is masked
    rows, cols = bin_edges(region[0], out_shape[0]), bin_edges(region[1], out_shape[1])
    expected = np.array([[values[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].max() for j in range(len(cols) - 1)]
                         for i in range(len(rows) - 1)])
    pooled = pool_region(values, out_shape)
    assert pooled.shape == (min(region[0], out_shape[0]), min(region[1], out_shape[1]))
    assert np.array_equal(pooled, expected)


@pytest.mark.parametrize("storage", ["dense", "recomputed"])
def test_the_overview_says_how_many_rows_and_keys_each_cell_covers(storage):
    from model.overview import pool_steps, power_of_two_steps

    trace = tiny_model("encoder-decoder").trace(TEXT, target="fig cat owl", storage=storage, overview_side=3)
    for kind in trace.kinds:
        maps = trace.attention[kind]
        Q, K = maps.shape[2:]
        rule = pool_steps if storage == "dense" else power_of_two_steps
        assert maps.overview_steps == rule(Q, K, 3)
        assert maps.overview.shape[-2:] == (-(-Q // maps.overview_steps[0]), -(-K // maps.overview_steps[1]))


@pytest.mark.parametrize("architecture", ["encoder", "decoder"])
def test_an_input_without_tokens_gives_an_empty_recomputed_trace(architecture):
    model = tiny_model(architecture)
    model.trace("owl", storage="recomputed", reuse=True)
    empty = tiny_model(architecture).tokenizer.encode("", add_special_tokens=False)
    assert empty.ids == []
    run = model.incremental
    trace_maps = recomputed_maps(
        StackRunner(model.network, model.network.encoder if architecture == "encoder" else model.network.decoder,
                    architecture, causal=architecture == "decoder", side=4).run(torch.zeros((1, 0), dtype=torch.long)).self_attention,
        attention_structure(model.config, "encoder_self" if architecture == "encoder" else "decoder_self"),
    )
    assert trace_maps.shape[2:] == (0, 0) and np.asarray(trace_maps.weights).shape == trace_maps.shape
    if architecture == "decoder":  # encoders keep no state; a decoder's is left alone by an unrelated run
        assert run.previous is not None
