"""The core state and the request bookkeeping: no display, no Qt."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from explorer.jobs import JobQueue, LoadRequest, TraceRequest
from explorer.core.numeric import entropy_bits, sharpest_head, softmax_with_temperature, thumbnail, top_k
from explorer.core.special import mean_over_heads
from explorer.core.state import ExplorerState
from explorer.core.views import distribution_view, panel_availability
from model import AttentionMaps, load_checkpoint


def test_pure_modules_do_not_import_qt():
    code = "import sys, explorer.core.state, explorer.core.views, explorer.jobs; sys.exit('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.fixture(scope="module")
def traces(checkpoints):
    encoder_decoder = load_checkpoint(checkpoints["encoder-decoder"])
    decoder = load_checkpoint(checkpoints["decoder"])
    return {
        "encoder-decoder": encoder_decoder.trace("date: 5 may 2020", target="2020-05-05"),
        "decoder": decoder.trace("sort: owl cat fig"),
    }


def test_temperature_one_reproduces_the_models_softmax(traces):
    for trace in traces.values():
        for kind in trace.kinds:
            maps = trace.attention[kind]
            np.testing.assert_allclose(softmax_with_temperature(maps.scores, 1.0), maps.weights, atol=1e-5)


def test_temperature_matches_torch_softmax_of_scaled_scores(traces):
    scores = traces["decoder"].attention["decoder_self"].scores  # causal: -inf above the diagonal
    for temperature in (0.25, 3.0):
        expected = torch.softmax(torch.from_numpy(scores).double() / temperature, dim=-1).numpy()
        result = softmax_with_temperature(scores, temperature)
        np.testing.assert_allclose(result, expected, atol=1e-9)
        assert np.all(result[..., 0, 1:] == 0)  # masked keys get exactly 0


def test_distribution_is_the_selected_heads_row(traces):
    trace = traces["encoder-decoder"]
    state = ExplorerState()
    state.set_trace(trace)
    state.select(kind="cross", layer=1, head=1, query=3)
    distribution = distribution_view(state)
    weights = trace.attention["cross"].weights[1, 1, 3]
    np.testing.assert_allclose(distribution.probabilities, weights, atol=1e-5)
    np.testing.assert_allclose(distribution.probabilities, state.head_matrix()[3], atol=1e-5)
    np.testing.assert_allclose(distribution.scores, trace.attention["cross"].scores[1, 1, 3], atol=1e-6)
    assert distribution.keys == trace.encoder.tokens
    assert distribution.entropy_bits == pytest.approx(-(weights * np.log2(weights)).sum(), abs=1e-4)
    assert distribution.top[0][0] == int(np.argmax(weights))


def test_mean_over_heads_distribution_and_matrix(traces):
    trace = traces["decoder"]
    state = ExplorerState()
    state.set_trace(trace)
    state.select(head=None, layer=0, query=2)
    weights = trace.attention["decoder_self"].weights[0]  # (H, Q, K)
    np.testing.assert_allclose(state.head_matrix(), weights.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(distribution_view(state).probabilities, weights[:, 2].mean(axis=0), atol=1e-5)
    scores = trace.attention["decoder_self"].scores[0]
    mean_scores = state.head_matrix(values="scores")
    assert np.isneginf(mean_scores[0, 1])  # masked in every head stays masked
    assert mean_scores[2, 1] == pytest.approx(scores[:, 2, 1].mean(), abs=1e-6)


def test_selection_is_clamped_to_the_trace(traces):
    state = ExplorerState()
    state.select(kind="cross", layer=7, head=9, query=99)
    state.set_trace(traces["decoder"])  # decoder-only: no cross, 2 layers, 2 heads
    selection = state.selection
    assert selection.kind == "decoder_self"
    assert (selection.layer, selection.head) == (1, 1)
    assert selection.query == len(traces["decoder"].decoder) - 1
    assert state.step_head(1).head is None  # the mean sits after the last head
    assert state.step_head(1).head == 0  # and wraps around


def test_levels_are_shared_per_kind(traces):
    state = ExplorerState()
    state.set_trace(traces["encoder-decoder"])
    assert state.levels(values="weights") == (0.0, 1.0)
    scores = traces["encoder-decoder"].attention["cross"].scores
    assert state.levels(kind="cross", values="scores") == (pytest.approx(scores.min()), pytest.approx(scores.max()))


def test_thumbnail_max_pools_long_inputs_and_keeps_sharp_cells():
    rng = np.random.default_rng(0)
    matrix = rng.random((2, 202, 300), dtype=np.float32) * 0.1
    matrix[1, 150, 17] = 1.0  # one sharply attended key
    matrix[0, :, 299] = -np.inf  # a masked column
    small = thumbnail(matrix, side=100)
    assert small.shape == (2, 68, 100)  # 202 rows in blocks of 3, the last one padded
    assert small[0, 0, 0] == pytest.approx(matrix[0, :3, :3].max())
    assert small[1, 50, 5] == 1.0
    assert small[0, 0, 99] == pytest.approx(matrix[0, :3, 297:299].max())  # masked cells lose
    assert small[0, 67, 0] == pytest.approx(matrix[0, 201:, :3].max())  # the padded block
    short = np.ones((4, 5), dtype=np.float32)
    assert thumbnail(short, side=100) is short


def test_grid_thumbnails_are_cached_per_trace(traces):
    state = ExplorerState()
    state.set_trace(traces["encoder-decoder"])
    first = state.grid(kind="cross")
    state.select(layer=1, head=0)
    assert state.grid(kind="cross") is first
    state.set_trace(traces["decoder"])
    assert state.grid().shape[2:] == traces["decoder"].attention["decoder_self"].weights.shape[2:]


def test_entropy_and_top_k():
    assert entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert entropy_bits(np.array([1.0, 0.0, 0.0])) == 0.0
    assert top_k(np.array([0.1, 0.5, 0.1, 0.3]), 3) == [(1, 0.5), (3, 0.3), (0, 0.1)]


def test_mean_over_heads_keeps_fully_masked_cells_masked():
    raw = np.array([[[0.0, -np.inf]], [[2.0, -np.inf]]], dtype=np.float32)  # (H=2, Q=1, K=2)
    result = mean_over_heads(raw)
    assert result[0, 0] == 1.0 and np.isneginf(result[0, 1])


def test_panel_availability_per_architecture():
    assert panel_availability("encoder-decoder")["cross"].enabled
    decoder = panel_availability("decoder")
    assert not decoder["cross"].enabled and "decoder-only" in decoder["cross"].reason
    assert not decoder["target"].enabled and not decoder["pair"].enabled
    assert panel_availability("encoder")["pair"].enabled


def test_job_queue_coalesces_and_judges_staleness():
    queue = JobQueue()
    first = queue.trace("a")
    assert queue.take_next() == first
    queue.trace("ab")
    newest = queue.trace("abc")  # replaces "ab" while "a" runs
    assert queue.take_next() is None  # one job in flight
    queue.finished(first.request_id)
    assert not queue.is_current(first.request_id)
    assert queue.take_next() == newest
    assert queue.is_current(newest.request_id)


def test_job_queue_runs_loads_before_traces():
    queue = JobQueue()
    trace = queue.trace("x")
    load = queue.load("/some/folder", "cpu")
    assert isinstance(queue.take_next(), LoadRequest)
    assert queue.loading
    queue.finished(load.request_id)
    job = queue.take_next()
    assert isinstance(job, TraceRequest) and job == trace


def test_sharpest_head_is_the_one_with_the_lowest_row_entropy():
    weights = np.full((2, 3, 4, 4), 0.25, dtype=np.float32)  # uniform: 2 bits per row
    weights[1, 2] = np.eye(4, dtype=np.float32)  # one-hot rows: 0 bits
    weights[0, 1, :, :2] = 0.5  # 1 bit per row
    weights[0, 1, :, 2:] = 0.0
    assert sharpest_head(weights) == (1, 2)
    weights[1, 2] = 0.25
    assert sharpest_head(weights) == (0, 1)


def test_float16_traces_are_shown_as_float32_without_changing_values(traces):
    trace = traces["decoder"]
    half = dataclasses.replace(
        trace,
        attention={
            kind: AttentionMaps(maps.weights.astype(np.float16), maps.scores.astype(np.float16))
            for kind, maps in trace.attention.items()
        },
    )
    state = ExplorerState()
    state.set_trace(half)
    state.select(layer=1, head=1, query=4, values="scores")
    grid = state.grid()
    assert grid.dtype == np.float32
    np.testing.assert_array_equal(grid, np.where(np.isfinite(half.attention["decoder_self"].scores), half.attention["decoder_self"].scores, np.nan).astype(np.float32))
    low, high = state.levels()
    finite = trace.attention["decoder_self"].scores[np.isfinite(trace.attention["decoder_self"].scores)]
    assert low == pytest.approx(finite.min(), abs=1e-2) and high == pytest.approx(finite.max(), abs=1e-2)
    np.testing.assert_allclose(distribution_view(state).probabilities.sum(), 1.0, atol=1e-6)


def test_pooled_bars_keep_each_runs_strongest_key_and_its_score_extent():
    from explorer.core.numeric import pooled_bars

    probabilities = np.zeros(10)
    probabilities[7] = 0.9
    scores = np.array([1.0, -2.0, 3.0, 0.5, -np.inf, -np.inf, -1.0, 4.0, 0.2, -0.3])
    starts, ends, highest, low, high = pooled_bars(probabilities, scores, 5)
    assert starts.tolist() == [0, 2, 4, 6, 8] and ends.tolist() == [2, 4, 6, 8, 10]
    assert highest.tolist() == [0.0, 0.0, 0.0, 0.9, 0.0]
    assert low.tolist() == [-2.0, 0.0, 0.0, -1.0, -0.3] and high.tolist() == [1.0, 3.0, 0.0, 4.0, 0.2]
