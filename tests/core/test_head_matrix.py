"""Heads read through ``HeadMatrix`` and the zoomable view's ``Viewport``: no display.

Tiles, rows and thumbnails of recomputed maps (``tests/recomputed.py``) must equal the
dense computation, and never read a whole head; the viewport's clamps, tile requests,
labels and "go to token" are plain arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core import head_matrix, thumbnails
from explorer.core.head_matrix import HeadMatrix, pool_to
from explorer.core.special import drop_keys, kept_keys, mean_over_heads
from explorer.core.state import ExplorerState
from explorer.core.viewport import MIN_CELLS, Viewport, find_token, position_ticks
from explorer.core.views import distribution_view, head_view
from model import load_checkpoint, save_checkpoint
from recomputed import recomputed, recomputed_trace
from tiny_models import task_tokenizer, tiny_config, tiny_network

TEXT = "sort: owl cat fig ant bee dog elk yak owl cat fig ant bee dog elk"


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """A windowed decoder (layer 0 window 4) and an encoder–decoder, dense."""
    root = tmp_path_factory.mktemp("head-matrix")
    found = {}
    for architecture, overrides in (
        ("decoder", dict(layer_windows=(4, None), lm_head=True)),
        ("encoder-decoder", {}),
    ):
        config = tiny_config(architecture, **overrides)
        folder = save_checkpoint(root / architecture, tiny_network(config, 3), task_tokenizer(config.max_positions), name=architecture)
        model = load_checkpoint(folder)
        found[architecture] = model.trace(TEXT) if architecture == "decoder" else model.trace(TEXT, target="ant bee cat dog")
    return found


def _expected(maps, layer, head, keep, values):
    raw = maps.weights if values == "weights" else maps.scores
    block = drop_keys(raw[layer] if head is None else raw[layer, head], keep, values)
    return mean_over_heads(block) if head is None else block


@pytest.mark.parametrize("filtered", [False, True])
def test_tiles_and_rows_of_recomputed_maps_equal_the_dense_cells(traces, filtered, monkeypatch):
    monkeypatch.setattr(head_matrix, "ROW_BLOCK_CELLS", 40)  # many row blocks even on a tiny trace
    for trace in traces.values():
        for kind in trace.kinds:
            maps = trace.attention[kind]
            keep = kept_keys(trace.axes(kind)[1]) if filtered else None
            lazy = recomputed(maps)
            for layer in range(maps.n_layers):
                for head in [*range(maps.n_heads), None]:
                    for values in ("weights", "scores"):
                        expected = _expected(maps, layer, head, keep, values)
                        source = HeadMatrix(lazy, layer, head, keep)
                        queries, keys = source.shape
                        assert (queries, keys) == expected.shape
                        rows, columns = slice(2, queries - 1), slice(1, keys - 2)
                        exact = source.tile(rows, columns, (queries, keys), values)
                        np.testing.assert_allclose(exact, expected[rows, columns], atol=1e-6)
                        pooled = source.tile(rows, columns, (3, 4), values)
                        np.testing.assert_allclose(pooled, pool_to(expected[rows, columns], (3, 4)), atol=1e-6)
                        np.testing.assert_allclose(source.row(5, values), expected[5], atol=1e-6)
                        dense = HeadMatrix(maps, layer, head, keep).tile(rows, columns, (3, 4), values)
                        np.testing.assert_allclose(dense, pooled, atol=1e-6)
            # Never more than one head's block of rows at a time, never a whole layer.
            layers, heads, queries, keys = maps.weights.shape
            assert lazy.weights.largest < heads * queries * keys


def test_pooling_keeps_the_strongest_cell_and_empty_bins_stay_empty():
    matrix = np.zeros((6, 6), dtype=np.float32)
    matrix[4, 1] = 0.9
    matrix[:, 4:] = np.nan
    pooled = pool_to(matrix, (2, 3))
    assert pooled[1, 0] == pytest.approx(0.9) and pooled[0, 0] == 0.0
    assert np.isnan(pooled[:, 2]).all()
    assert pool_to(matrix, (10, 10)).shape == (6, 6)


def test_the_views_of_a_recomputed_trace_equal_those_of_the_dense_trace(traces):
    trace = traces["decoder"]
    lazy_trace = recomputed_trace(trace)
    for hide in (False, True):
        dense_state, lazy_state = ExplorerState(), ExplorerState()
        for state, shown in ((dense_state, trace), (lazy_state, lazy_trace)):
            state.set_trace(shown)
            state.select(kind="decoder_self", layer=0, head=1, query=7, hide_special=hide)
        for values in ("weights", "scores"):
            dense_state.select(values=values), lazy_state.select(values=values)
            np.testing.assert_allclose(lazy_state.grid(), dense_state.grid(), atol=1e-6)
            np.testing.assert_allclose(lazy_state.grid_means(), dense_state.grid_means(), atol=1e-6)
            assert lazy_state.levels() == pytest.approx(dense_state.levels())
            dense_view, lazy_view = head_view(dense_state), head_view(lazy_state)
            np.testing.assert_allclose(lazy_view.matrix, dense_view.matrix, atol=1e-6)
            a, b = distribution_view(dense_state), distribution_view(lazy_state)
            np.testing.assert_allclose(b.probabilities, a.probabilities, atol=1e-6)
            np.testing.assert_allclose(b.scores, a.scores, atol=1e-6)


def test_a_display_tile_leaves_the_keys_a_window_cut_off_empty(traces):
    trace = traces["decoder"]
    state = ExplorerState()
    state.set_trace(recomputed_trace(trace))
    state.select(kind="decoder_self", layer=0, head=0)
    view = head_view(state)
    request = Viewport.whole(*view.shape).request(1000, 1000)
    tile = view.tile(request)
    weights = trace.attention["decoder_self"].weights[0, 0]
    query, key = 10, 2  # 8 keys back: outside the window of 4
    assert np.isnan(tile[query, key]) and tile[query, query + 1] == 0.0  # the future stays 0
    np.testing.assert_allclose(tile[query, query - 3 : query + 1], weights[query, query - 3 : query + 1], atol=1e-6)


def test_a_head_too_large_to_hold_is_refused_with_a_sentence(traces, monkeypatch):
    monkeypatch.setattr(head_matrix, "DENSE_CELLS", 10)
    source = HeadMatrix(recomputed(traces["decoder"].attention["decoder_self"]), 0, 0)
    with pytest.raises(ValueError, match=r"cells .* shown and exported as tiles"):
        source.matrix()


def test_a_recomputed_trace_beyond_the_cap_says_what_its_overview_shows(traces, monkeypatch):
    maps = recomputed(traces["decoder"].attention["decoder_self"])
    keep = np.ones(maps.weights.shape[-1], dtype=bool)
    keep[0] = False
    assert thumbnails.grid_note(maps, keep) == ""
    monkeypatch.setattr(thumbnails, "FILTERED_GRID_CELLS", 10)
    assert "special tokens still shown" in thumbnails.grid_note(maps, keep)
    assert thumbnails.grid_thumbnails(maps, keep) is maps.overview
    assert "raw scores" in thumbnails.grid_note(maps, None, "scores")
    assert np.isnan(thumbnails.grid_thumbnails(maps, None, "scores")).all()


# -- the viewport ------------------------------------------------------------------------
def test_zoom_never_shows_more_than_the_matrix_nor_fewer_than_min_cells():
    whole = Viewport.whole(8192, 8192)
    assert not whole.zoomed_in
    out = whole.zoomed(0.25)
    assert (out.top, out.left, out.height, out.width) == (0, 0, 8192, 8192)
    deep = whole
    for _ in range(40):
        deep = deep.zoomed(2.0, 100.0, 7000.0)
    assert deep.height == pytest.approx(MIN_CELLS) and deep.width == pytest.approx(MIN_CELLS)
    assert deep.top <= 100.0 <= deep.top + deep.height and deep.left <= 7000.0 <= deep.left + deep.width
    assert deep.zoomed_in


def test_zooming_keeps_the_point_under_the_cursor_where_it_was():
    view = Viewport.whole(1000, 1000).zoomed(4.0, 300.0, 600.0)
    # The anchor sat 30 % down and 60 % across; it still does.
    assert (300.0 - view.top) / view.height == pytest.approx(0.3)
    assert (600.0 - view.left) / view.width == pytest.approx(0.6)
    assert view.height == pytest.approx(250.0)


def test_panning_stops_at_the_edges():
    view = Viewport.whole(1000, 500).zoomed(10.0, 0.0, 0.0)
    assert (view.top, view.left) == (0.0, 0.0)
    moved = view.panned(-50.0, 10_000.0)
    assert moved.top == 0.0 and moved.left == pytest.approx(500 - view.width)
    assert moved.height == view.height


def test_the_tile_request_is_the_visible_cells_at_screen_resolution():
    zoomed_out = Viewport.whole(8192, 8192).request(600, 800)
    assert (zoomed_out.rows, zoomed_out.columns, zoomed_out.out_shape) == (slice(0, 8192), slice(0, 8192), (600, 800))
    assert not zoomed_out.exact
    view = Viewport(8192, 8192, top=100.5, left=2000.25, height=40.0, width=60.0)
    request = view.request(600, 800)
    assert (request.rows, request.columns) == (slice(100, 141), slice(2000, 2061))
    assert request.out_shape == (41, 61) and request.exact
    assert Viewport.whole(10, 20).request(600, 800).out_shape == (10, 20)
    assert Viewport.whole(2000, 2000).request(100, 100).out_shape == (512, 512)  # small regions stay cheap


def test_token_labels_appear_once_cells_are_wide_enough():
    whole = Viewport.whole(8192, 8192)
    assert whole.labelled("columns", 800) == []
    near = whole.centred_on(4000, 4000, cells=40)
    labelled = near.labelled("columns", 800, label_pixels=12.0)
    assert labelled == list(range(3980, 4021))  # 20 px a cell: every visible label fits
    thinned = whole.centred_on(4000, 4000, cells=200).labelled("rows", 800, label_pixels=12.0)
    assert 40 < len(thinned) < 200 and all(b - a >= 3 for a, b in zip(thinned, thinned[1:]))


def test_position_ticks_are_round_and_apart():
    ticks = position_ticks(0, 8191, 800)
    assert ticks[:3] == [0, 1000, 2000] and ticks[-1] == 8000
    assert position_ticks(100, 140, 800)[:2] == [100, 105]


def test_go_to_token_takes_a_position_or_a_word_and_steps_through_repeats():
    tokens = ["<s>", "Ġthe", "Ġcat", "Ġsat", "Ġon", "Ġthe", "Ġmat"]
    assert find_token(tokens, "3") == 3
    assert find_token(tokens, "99") is None
    assert find_token(tokens, "the") == 1
    assert find_token(tokens, "the", after=1) == 5
    assert find_token(tokens, "the", after=5) == 1  # wraps around
    assert find_token(tokens, "ma") == 6  # no whole-token match: a part of one
    assert find_token(tokens, "dog") is None
    view = Viewport.whole(7, 7).centred_on(5, 5, cells=4)
    assert view.top <= 5 < view.top + view.height


def test_the_views_of_a_model_recomputed_trace_equal_those_of_its_dense_trace(tmp_path):
    """The model's own recomputed storage, long enough that the overview is pooled."""
    config = tiny_config("decoder", max_positions=300, lm_head=True, layer_windows=(8, None))
    folder = save_checkpoint(tmp_path / "long", tiny_network(config, 2), task_tokenizer(config.max_positions), name="long")
    model = load_checkpoint(folder)
    text = "sort: " + " ".join("owl cat fig yak emu ant bee dog".split() * 20)
    dense = model.trace(text, storage="dense", overview_side=96)
    lazy = model.trace(text, storage="recomputed", overview_side=96)
    assert not lazy.attention["decoder_self"].is_dense and len(lazy.decoder) > 96
    for hide in (False, True):
        for values in ("weights", "scores"):
            states = []
            for trace in (dense, lazy):
                state = ExplorerState()
                state.set_trace(trace, thumbnails.prepare_thumbnails(trace, hide))
                state.select(layer=0, head=1, query=50, hide_special=hide, values=values)
                states.append(state)
            np.testing.assert_allclose(states[1].grid(), states[0].grid(), atol=1e-5)
            np.testing.assert_allclose(states[1].grid_means(), states[0].grid_means(), atol=1e-5)
            for head in (1, None):
                for state in states:
                    state.select(head=head)
                a, b = head_view(states[0]), head_view(states[1])
                for request in (Viewport.whole(*a.shape).request(60, 70, exact_cells=0),
                                Viewport.whole(*a.shape).centred_on(90, 80, cells=20).request(600, 600)):
                    np.testing.assert_allclose(b.tile(request), a.tile(request), atol=1e-5)
                np.testing.assert_allclose(
                    distribution_view(states[1]).probabilities, distribution_view(states[0]).probabilities, atol=1e-6
                )


def test_a_tile_asked_to_stop_gives_up_between_row_blocks_and_otherwise_equals_the_one_shot(traces, monkeypatch):
    from explorer.core.head_matrix import TileSuperseded

    # Blocks of a stoppable tile are small (a newer keystroke waits for one), the one-shot's large.
    monkeypatch.setattr(head_matrix, "STOPPABLE_BLOCK_CELLS", 40)
    maps = recomputed(traces["decoder"].attention["decoder_self"])
    source = HeadMatrix(maps, 1, 2)
    queries, keys = source.shape
    whole = (slice(0, queries), slice(0, keys), (5, 6))
    asked = []
    np.testing.assert_allclose(source.tile(*whole, should_stop=lambda: asked.append(1) and False), source.tile(*whole), atol=1e-7)
    assert len(asked) > 1  # asked before every block
    answers = iter([False, True])
    with pytest.raises(TileSuperseded):
        source.tile(*whole, should_stop=lambda: next(answers))
