"""Sink-aware colour ranges: a key that holds most of a head's weight leaves the colour range."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.head_matrix import HeadMatrix
from explorer.core.sink_scale import SINK_ROWS, excluded_keys, first_key_share, head_sink_scale, levels_without
from explorer.core.state import ExplorerState
from explorer.core.views import head_view
from hand_traces import sink_trace
from model.trace import AttentionMaps, TokenAxis
from recomputed import recomputed

def test_auto_leaves_out_the_first_key_of_a_sink_head_only() -> None:
    state = ExplorerState(trace=sink_trace())
    state.select(kind="encoder_self", layer=0, head=0)
    view = head_view(state)
    assert view.excluded_keys == (0,)
    assert view.levels == pytest.approx((0.0, 0.3))  # the largest weight off the sink
    assert "colour range without key 0 '[CLS]' (it holds 70% of the weight)" in view.title
    state.select(head=1)
    assert head_view(state).excluded_keys == () and head_view(state).levels == (0.0, 1.0)


def test_every_key_first_key_and_special_tokens_ranges() -> None:
    state = ExplorerState(trace=sink_trace())
    state.select(kind="encoder_self", layer=0, head=0, colour_range="all")
    assert head_view(state).excluded_keys == () and head_view(state).levels == (0.0, 1.0)
    state.select(head=1, colour_range="first")
    assert head_view(state).excluded_keys == (0,) and head_view(state).levels == pytest.approx((0.0, 0.25))
    state.select(head=0, colour_range="special")
    view = head_view(state)
    assert view.excluded_keys == (0, 3) and view.levels == pytest.approx((0.0, 0.3))
    assert "without the 2 special tokens" in view.title
    with pytest.raises(ValueError, match="colour range must be one of"):
        state.select(colour_range="sideways")


def test_the_share_counts_only_queries_that_see_another_key_in_causal_attention() -> None:
    causal = np.tril(np.ones((3, 3), dtype=np.float32))
    causal[1] = [0.8, 0.2, 0.0]
    causal[2] = [0.4, 0.3, 0.3]
    assert first_key_share(causal, causal=True) == pytest.approx(0.6)  # (0.8 + 0.4) / 2, not counting query 0
    axis = TokenAxis(ids=np.arange(3), tokens=list("abc"), special=np.zeros(3, bool), padding=np.zeros(3, bool))
    assert excluded_keys("auto", causal, axis, causal=True) == (0,)
    scores = np.array([[0.0, -1.0, 2.0], [9.0, -3.0, 1.0]])
    assert levels_without(scores, "scores", (0,), (-3.0, 9.0)) == (-3.0, 2.0)


def test_a_head_figure_says_which_keys_its_colour_range_left_out() -> None:
    from explorer.export.request import FigureRequest, resolved_levels
    from explorer.export.titles import subtitle_of

    plain = FigureRequest(trace=sink_trace(), figure="head", kind="encoder_self", layer=0, head=0)
    assert "colour range" not in subtitle_of(plain)  # the command line's default keeps every key
    sink = FigureRequest(trace=sink_trace(), figure="head", kind="encoder_self", layer=0, head=0, colour_range="auto")
    assert subtitle_of(sink).endswith("colour range without '[CLS]'")
    from explorer.export.request import figure_view

    assert figure_view(sink).levels == pytest.approx((0.0, 0.3)) and resolved_levels(plain) == (0.0, 1.0)


def _long_sink_maps(n: int) -> AttentionMaps:
    """One head of ``n`` tokens whose every row puts 0.6 on key 0 and spreads the rest."""
    rng = np.random.default_rng(3)
    rest = rng.random((n, n - 1)).astype(np.float32)
    rest *= 0.4 / rest.sum(axis=1, keepdims=True)
    weights = np.concatenate([np.full((n, 1), 0.6, np.float32), rest], axis=1)[None, None]  # (1, 1, n, n)
    return AttentionMaps(weights, np.log(weights))


def test_a_long_recomputed_head_judges_its_colour_range_on_sampled_rows_only() -> None:
    n = 4 * SINK_ROWS
    dense = _long_sink_maps(n)
    long_maps = recomputed(dense)
    axis = TokenAxis(ids=np.arange(n), tokens=["<s>"] + ["t"] * (n - 1),
                     special=np.arange(n) == 0, padding=np.zeros(n, bool))
    excluded, levels, title = head_sink_scale(
        HeadMatrix(long_maps, layer=0, head=0), "auto", "weights", axis, causal=False, default=(0.0, 1.0)
    )
    # The sampled rows in one read, never the whole head: recomputing it would cost a keystroke's frame.
    assert long_maps.weights.reads == 1 and long_maps.weights.largest == SINK_ROWS * n
    assert excluded == (0,) and "holds 60% of the weight" in title
    sampled = np.unique(np.linspace(0, n - 1, SINK_ROWS).astype(np.int64))
    assert levels == pytest.approx((0.0, float(dense.weights[0, 0][sampled, 1:].max())))
    # A stored head of the same size is read whole: it costs nothing to slice.
    stored = head_sink_scale(HeadMatrix(dense, layer=0, head=0), "auto", "weights", axis, causal=False, default=(0.0, 1.0))
    assert stored[1] == pytest.approx((0.0, float(dense.weights[0, 0][:, 1:].max())))
