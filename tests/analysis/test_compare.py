"""Comparison of two traces: refusals, difference maps, colour ranges and the head ranking."""

from __future__ import annotations

import math
import subprocess
import sys
import tracemalloc
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis.compare import (
    ComparisonError,
    compare_every_kind,
    compare_traces,
    compare_weights,
    difference_levels,
    js_divergence_bits,
    shared_levels,
)
from explorer.analysis.compare_job import (
    CompareInputs,
    CompareResult,
    SecondCheckpoint,
    architecture_mismatch,
    frame_of,
    head_pair,
    run_comparison,
    teacher_forcing_target,
)
from model import load_checkpoint, save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network


def test_js_divergence_by_hand() -> None:
    # Disjoint rows: 1 bit.
    assert js_divergence_bits(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    # p = [.5, .5], q = [1, 0], m = [.75, .25]:
    # KL(p‖m) = .5·log2(.5/.75) + .5·log2(.5/.25);  KL(q‖m) = log2(1/.75);  JS = (KL(p‖m) + KL(q‖m)) / 2
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    expected = 0.5 * (kl_p + kl_q)
    assert expected == pytest.approx(0.311278, abs=1e-6)
    assert js_divergence_bits(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(expected, abs=1e-6)


def test_js_divergence_is_zero_for_identical_rows_and_symmetric() -> None:
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(7), size=(3, 6)).astype(np.float32)
    q = rng.dirichlet(np.ones(7), size=(3, 6)).astype(np.float32)
    np.testing.assert_allclose(js_divergence_bits(p, p), 0.0, atol=1e-6)
    np.testing.assert_allclose(js_divergence_bits(p, q), js_divergence_bits(q, p), atol=1e-6)
    assert np.all(js_divergence_bits(p, q) <= 1.0 + 1e-6)


def test_mean_absolute_difference_and_js_of_a_head_by_hand() -> None:
    before = np.array([[[[1.0, 0.0], [0.5, 0.5]]]], dtype=np.float32)  # (1, 1, 2, 2)
    after = np.array([[[[0.0, 1.0], [0.5, 0.5]]]], dtype=np.float32)
    mean_abs, js = compare_weights(before, after)
    assert mean_abs[0, 0] == pytest.approx(0.5)  # cells |-1|, 1, 0, 0 → 2 / 4
    assert js[0, 0] == pytest.approx(0.5)  # rows 1 bit and 0 bits


def _stack(rng: np.random.Generator, layers: int = 2, heads: int = 3, queries: int = 4, keys: int = 4) -> np.ndarray:
    return rng.dirichlet(np.ones(keys), size=(layers, heads, queries)).astype(np.float32)


def test_a_comparison_keeps_per_head_statistics_not_the_difference(make_trace) -> None:
    rng = np.random.default_rng(10)
    a_stack, b_stack = _stack(rng, layers=2, heads=3, queries=5, keys=5), _stack(rng, layers=2, heads=3, queries=5, keys=5)
    comparison = compare_traces(make_trace(encoder_self=a_stack), make_trace(encoder_self=b_stack), "encoder_self")
    arrays = {field.name: getattr(comparison, field.name) for field in fields(comparison)}
    arrays = {name: value for name, value in arrays.items() if isinstance(value, np.ndarray)}
    # Nothing as large as one (Q, K) map, let alone the (L, H, Q, K) difference.
    assert {name: value.size for name, value in arrays.items() if value.size > 2 * 3} == {}
    # The statistics are still those of the full difference.
    expected_abs = np.abs(b_stack - a_stack).mean(axis=(-1, -2))
    np.testing.assert_allclose(comparison.mean_abs_difference, expected_abs, rtol=1e-5)


def test_float16_stacks_are_compared_a_layer_at_a_time() -> None:
    rng = np.random.default_rng(11)
    layers, heads, tokens = 48, 2, 64
    a = _stack(rng, layers, heads, tokens, tokens).astype(np.float16)
    b = _stack(rng, layers, heads, tokens, tokens).astype(np.float16)
    expected_abs, expected_js = compare_weights(a.astype(np.float32), b.astype(np.float32))
    tracemalloc.start()  # numpy reports its array buffers to tracemalloc
    try:
        mean_abs, js = compare_weights(a, b)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(mean_abs, expected_abs)
    np.testing.assert_array_equal(js, expected_js)
    one_layer = heads * tokens * tokens * 4  # bytes of one layer in float32
    # A handful of one-layer temporaries; a float32 copy of either stack alone would be 48.
    assert peak < 10 * one_layer


def test_the_filtered_mean_over_heads_renormalises_each_head_first(make_trace) -> None:
    rng = np.random.default_rng(12)
    a_stack, b_stack = _stack(rng), _stack(rng)
    # Key 0 is special in A, key 3 in B: both maps hide both columns, so they subtract.
    a, b = make_trace(encoder_self=a_stack, encoder_special={0}), make_trace(encoder_self=b_stack, encoder_special={3})
    shown_a, shown_b, axes_a, axes_b = head_pair(a, b, "encoder_self", 1, None, hide_special=True)
    keep = np.array([False, True, True, False])

    def filtered_mean(stack: np.ndarray) -> np.ndarray:
        heads = stack[1][:, :, keep]  # (H, Q, kept)
        return (heads / heads.sum(axis=-1, keepdims=True)).mean(axis=0)

    np.testing.assert_allclose(shown_a, filtered_mean(a_stack), atol=1e-6)
    np.testing.assert_allclose(shown_b, filtered_mean(b_stack), atol=1e-6)
    # Renormalising the mean instead gives other numbers on these weights.
    mean_first = a_stack[1].mean(axis=0)[:, keep]
    assert np.abs(mean_first / mean_first.sum(axis=-1, keepdims=True) - filtered_mean(a_stack)).max() > 1e-3
    assert axes_a[1].tokens == axes_b[1].tokens == ["e1", "e2"]
    assert axes_a[0] is a.encoder  # queries are never filtered
    result = CompareResult(a, b, "A", "B", *compare_every_kind(a, b))
    frame = frame_of(result, "encoder_self", 1, None, hide_special=True)
    np.testing.assert_allclose(frame.difference, filtered_mean(b_stack) - filtered_mean(a_stack), atol=1e-6)


def test_every_key_hidden_shows_the_maps_unfiltered(make_trace) -> None:
    rng = np.random.default_rng(13)
    a_stack, b_stack = _stack(rng), _stack(rng)
    a = make_trace(encoder_self=a_stack, encoder_special={0, 1})
    b = make_trace(encoder_self=b_stack, encoder_padding={2, 3})
    shown_a, shown_b, axes_a, _ = head_pair(a, b, "encoder_self", 0, 2, hide_special=True)
    np.testing.assert_array_equal(shown_a, a_stack[0, 2])
    np.testing.assert_array_equal(shown_b, b_stack[0, 2])
    assert axes_a[1] is a.encoder


def test_identical_traces_have_no_difference(make_trace) -> None:
    stack = _stack(np.random.default_rng(0))
    comparison = compare_traces(make_trace(encoder_self=stack), make_trace(encoder_self=stack.copy()), "encoder_self")
    np.testing.assert_allclose(comparison.js_divergence_bits, 0.0, atol=1e-6)
    np.testing.assert_allclose(comparison.mean_abs_difference, 0.0)
    assert comparison.changed_queries.size == 0


def test_heads_are_ranked_by_how_much_they_changed(make_trace) -> None:
    rng = np.random.default_rng(1)
    before = _stack(rng)
    after = before.copy()
    after[1, 2] = np.eye(4)  # a large change
    after[0, 1] = 0.9 * before[0, 1] + 0.1 * np.eye(4)  # a small change
    comparison = compare_traces(make_trace(encoder_self=before), make_trace(encoder_self=after), "encoder_self")
    for by in ("js_divergence_bits", "mean_abs_difference"):
        ranked = comparison.ranked(by)
        assert [(head.layer, head.head) for head in ranked[:2]] == [(1, 2), (0, 1)]
        assert len(ranked) == 6
    # Unchanged heads tie at 0 and keep layer, head order.
    assert [(head.layer, head.head) for head in comparison.ranked()[2:]] == [(0, 0), (0, 2), (1, 0), (1, 1)]


def test_traces_of_different_lengths_are_refused_naming_the_position(make_trace) -> None:
    rng = np.random.default_rng(2)
    short = make_trace(encoder_self=_stack(rng, queries=3, keys=3))
    long = make_trace(encoder_self=_stack(rng, queries=4, keys=4))
    with pytest.raises(ComparisonError, match=r"3 and 4 tokens, first differing at position 3 \(nothing vs 'e3'\)"):
        compare_traces(short, long, "encoder_self")


def test_different_tokens_are_refused_for_checkpoints_and_marked_for_two_inputs(make_trace) -> None:
    rng = np.random.default_rng(3)
    a = make_trace(encoder_self=_stack(rng), encoder_ids=[10, 11, 12, 13])
    b = make_trace(encoder_self=_stack(rng), encoder_ids=[10, 11, 99, 13])
    with pytest.raises(ComparisonError, match=r"differ at position 2 \('e12' vs 'e99'\)"):
        compare_traces(a, b, "encoder_self")
    comparison = compare_traces(a, b, "encoder_self", same_tokens=False)
    assert comparison.changed_queries.tolist() == [2]
    assert comparison.changed_keys.tolist() == [2]


def test_cross_attention_checks_both_sides(make_trace) -> None:
    rng = np.random.default_rng(4)

    def trace(decoder_ids: list[int]):
        return make_trace(
            encoder_self=_stack(rng, queries=3, keys=3),
            decoder_self=np.tril(_stack(rng, queries=2, keys=2)),
            cross=_stack(rng, queries=2, keys=3),
            decoder_ids=decoder_ids,
        )

    with pytest.raises(ComparisonError, match="decoder tokens differ at position 1"):
        compare_traces(trace([100, 101]), trace([100, 7]), "cross")
    assert compare_traces(trace([100, 101]), trace([100, 101]), "cross").js_divergence_bits.shape == (2, 3)


def test_different_architectures_are_refused(make_trace) -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(ComparisonError, match=r"2 × 3 and 1 × 3 layers × heads"):
        compare_traces(
            make_trace(encoder_self=_stack(rng)), make_trace(encoder_self=_stack(rng, layers=1)), "encoder_self"
        )
    with pytest.raises(ComparisonError, match="the second trace has no cross-attention"):
        cross = make_trace(
            encoder_self=_stack(rng), decoder_self=_stack(rng, queries=2, keys=2), cross=_stack(rng, queries=2)
        )
        compare_traces(cross, make_trace(encoder_self=_stack(rng)), "cross")


def test_padding_queries_do_not_count(make_trace) -> None:
    before = np.array([[[[1.0, 0.0], [1.0, 0.0]]]], dtype=np.float32)
    after = np.array([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=np.float32)  # only the padding row changed
    comparison = compare_traces(
        make_trace(encoder_self=before, encoder_padding={1}), make_trace(encoder_self=after, encoder_padding={1}),
        "encoder_self",
    )
    assert comparison.js_divergence_bits[0, 0] == pytest.approx(0.0)
    assert comparison.mean_abs_difference[0, 0] == pytest.approx(0.0)


def test_colour_ranges() -> None:
    left = np.array([[0.1, 0.6], [0.2, -np.inf]])
    right = np.array([[0.05, 0.3], [0.9, 0.4]])
    assert shared_levels(left, right) == (0.05, 0.9)
    assert shared_levels(np.full((2, 2), 0.5)) == (0.0, 1.0)
    assert difference_levels(np.array([[0.2, -0.7], [0.1, np.nan]])) == (-0.7, 0.7)
    assert difference_levels(np.zeros((2, 2))) == (-1.0, 1.0)


def test_every_kind_is_compared_or_refused_on_its_own(make_trace) -> None:
    rng = np.random.default_rng(6)

    def trace(n_decoder: int):
        return make_trace(
            encoder_self=_stack(rng, queries=3, keys=3),
            decoder_self=_stack(rng, queries=n_decoder, keys=n_decoder),
            cross=_stack(rng, queries=n_decoder, keys=3),
        )

    comparisons, refusals = compare_every_kind(trace(2), trace(4))
    assert set(comparisons) == {"encoder_self"}
    assert set(refusals) == {"decoder_self", "cross"}
    assert "decoder sides have 2 and 4 tokens" in refusals["cross"]


def test_frame_of_one_head_and_of_the_mean_over_heads(make_trace) -> None:
    rng = np.random.default_rng(7)
    a_stack, b_stack = _stack(rng), _stack(rng)
    a, b = make_trace(encoder_self=a_stack), make_trace(encoder_self=b_stack)
    comparisons, refusals = compare_every_kind(a, b)
    result = CompareResult(a, b, "A", "B", comparisons, refusals)
    frame = frame_of(result, "encoder_self", 1, 2, "mean_abs_difference")
    np.testing.assert_allclose(frame.difference, b_stack[1, 2] - a_stack[1, 2], atol=1e-7)
    low, high = frame.difference_levels
    assert low == -high == pytest.approx(-np.abs(b_stack[1, 2] - a_stack[1, 2]).max())
    assert frame.levels == shared_levels(a_stack[1, 2], b_stack[1, 2])
    assert frame.ranking == comparisons["encoder_self"].ranked("mean_abs_difference")
    mean = frame_of(result, "cross", 9, None)  # a kind the traces lack falls back; the layer is clamped
    assert (mean.kind, mean.layer, mean.head) == ("encoder_self", 1, None)
    np.testing.assert_allclose(mean.difference, b_stack[1].mean(axis=0) - a_stack[1].mean(axis=0), atol=1e-6)


def test_architecture_mismatch_names_both_shapes() -> None:
    encoder_decoder = tiny_config("encoder-decoder")
    assert architecture_mismatch(encoder_decoder, tiny_config("encoder-decoder")) == ""
    reason = architecture_mismatch(encoder_decoder, tiny_config("encoder-decoder", n_decoder_layers=3))
    assert reason == (
        "checkpoint B is encoder-decoder, 2 encoder + 3 decoder layers × 4 heads but the open model is "
        "encoder-decoder, 2 encoder + 2 decoder layers × 4 heads; only checkpoints of the same architecture can be compared"
    )
    assert "decoder, 2 decoder layers × 2 heads" in architecture_mismatch(encoder_decoder, tiny_config("decoder", n_heads=2))


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> tuple[Path, Path]:
    config = tiny_config("encoder-decoder")
    root = tmp_path_factory.mktemp("compare-checkpoints")
    return tuple(
        save_checkpoint(root / f"seed {seed}", tiny_network(config, seed), task_tokenizer(config.max_positions), name=f"seed {seed}")
        for seed in (3, 4)
    )


def test_one_input_on_two_checkpoints_teacher_forces_a_generated_output(two_checkpoints) -> None:
    folder_a, folder_b = two_checkpoints
    model_a = load_checkpoint(folder_a)
    trace_a = model_a.trace("date: 5 may 2020")  # generated greedily
    assert trace_a.generated
    second = SecondCheckpoint()
    inputs = CompareInputs("date: 5 may 2020", checkpoint_b=str(folder_b))
    result = run_comparison(model_a, trace_a, inputs, second)
    assert result.refusals == {}
    np.testing.assert_array_equal(result.trace_b.decoder.ids, trace_a.decoder.ids)
    expected_b = load_checkpoint(folder_b).trace("date: 5 may 2020", target=teacher_forcing_target(model_a, list(trace_a.decoder.ids)))
    np.testing.assert_allclose(result.trace_b.attention["cross"].weights, expected_b.attention["cross"].weights, atol=1e-6)
    assert (result.label_a, result.label_b) == ("seed 3", "seed 4")
    assert all(head.js_divergence_bits > 0 for head in result.comparisons["cross"].ranked())
    # Checkpoint B is read once and kept.
    run_comparison(model_a, trace_a, inputs, second)
    assert second.loads == 1


def test_a_checkpoint_of_another_architecture_is_released_when_refused(two_checkpoints, tmp_path) -> None:
    config = tiny_config("decoder")
    other = save_checkpoint(tmp_path / "decoder", tiny_network(config, 5), task_tokenizer(config.max_positions), name="decoder")
    model = load_checkpoint(two_checkpoints[0])
    trace_a = model.trace("date: 5 may 2020", target="2020-05-05")
    second = SecondCheckpoint()
    inputs = CompareInputs("date: 5 may 2020", "2020-05-05", checkpoint_b=str(other))
    with pytest.raises(ComparisonError, match="only checkpoints of the same architecture can be compared"):
        run_comparison(model, trace_a, inputs, second)
    assert (second.loads, second.model, second.location) == (1, None, None)
    # Asking again reads it again rather than keeping a refused model around.
    with pytest.raises(ComparisonError):
        run_comparison(model, trace_a, inputs, second)
    assert second.loads == 2 and second.model is None


def test_two_inputs_on_one_model_label_the_texts(two_checkpoints) -> None:
    model = load_checkpoint(two_checkpoints[0])
    trace_a = model.trace("date: 5 may 2020", target="2020-05-05")
    inputs = CompareInputs("date: 5 may 2020", "2020-05-05", text_b="date: 6 may 2020")
    result = run_comparison(model, trace_a, inputs, SecondCheckpoint())
    assert (result.label_a, result.label_b) == ("“date: 5 may 2020”", "“date: 6 may 2020”")
    changed = result.comparisons["encoder_self"].changed_queries
    assert [result.trace_b.encoder.tokens[i] for i in changed] == ["6"]
    position = int(changed[0])
    assert frame_of(result, "cross", 0, 0).changes == f"B differs at encoder {position} '5' → '6'"
    with pytest.raises(ComparisonError, match="no model is loaded"):
        run_comparison(None, trace_a, inputs, SecondCheckpoint())


def test_the_worker_side_of_compare_imports_no_qt() -> None:
    code = "import sys, explorer.analysis.compare_job; sys.exit('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
