"""The special-token filter: every derived view of the state drops the hidden key columns."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.core.numeric import softmax_with_temperature
from explorer.core.state import ExplorerState
from explorer.core.views import distribution_view
from model import load_checkpoint


@pytest.fixture(scope="module")
def trace(checkpoints):
    # Teacher-forced: the decoder side is <s> … </s>, the encoder side ends in </s>.
    return load_checkpoint(checkpoints["encoder-decoder"]).trace("date: 5 may 2020", target="2020-05-05")


def renormalised(rows: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; a row with nothing left (all on hidden keys) stays zeros."""
    totals = rows.sum(axis=-1, keepdims=True)
    return np.divide(rows, totals, out=np.zeros_like(rows), where=totals > 0)


def kept_columns(axis) -> np.ndarray:
    """The keys the filter keeps, worked out from the axis here rather than by the code under test."""
    return np.array([not (special or padding) for special, padding in zip(axis.special, axis.padding)])


@pytest.mark.parametrize("kind", ["encoder_self", "decoder_self", "cross"])
def test_hidden_columns_are_dropped_and_rows_renormalised(trace, kind):
    state = ExplorerState()
    state.set_trace(trace)
    state.select(kind=kind, layer=1, head=1, hide_special=True)
    query_axis, key_axis = trace.axes(kind)
    keep = kept_columns(key_axis)
    assert 0 < keep.sum() < len(keep), "the fixture must have special keys to hide"
    weights = trace.attention[kind].weights[1, 1].astype(np.float64)  # (Q, K)
    expected = renormalised(weights[:, keep])
    matrix = state.head_matrix()
    assert matrix.shape == (len(query_axis), keep.sum())  # rows stay, hidden columns go
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    row_sums = matrix.sum(axis=1)
    # Every row sums to 1 over the kept keys, except a causal first row that had only <s>.
    np.testing.assert_allclose(row_sums[weights[:, keep].sum(axis=1) > 0], 1.0, atol=1e-5)
    # Scores lose the columns; their softmax is the renormalised weights.
    scores = state.head_matrix(values="scores")
    np.testing.assert_array_equal(scores, trace.attention[kind].scores[1, 1][:, keep])
    np.testing.assert_allclose(softmax_with_temperature(scores, 1.0), expected, atol=1e-5)
    # The key axis labels exactly the kept columns; the query axis is untouched.
    shown_query_axis, shown_key_axis = state.axes()
    assert shown_key_axis.tokens == [token for token, kept_key in zip(key_axis.tokens, keep) if kept_key]
    assert not shown_key_axis.special.any()
    assert shown_query_axis.tokens == query_axis.tokens


def test_mean_grid_distribution_and_levels_follow_the_filter(trace):
    state = ExplorerState()
    state.set_trace(trace)
    state.select(kind="encoder_self", layer=1, head=None, query=3, hide_special=True)
    keep = kept_columns(trace.encoder)
    weights = trace.attention["encoder_self"].weights.astype(np.float64)[..., keep]  # (L, H, Q, kept)
    per_head = renormalised(weights)
    np.testing.assert_allclose(state.head_matrix(), per_head[1].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(state.grid(), per_head, atol=1e-6)
    np.testing.assert_allclose(state.grid_means(), per_head.mean(axis=1), atol=1e-6)
    distribution = distribution_view(state)
    assert distribution.keys == [t for t, k in zip(trace.encoder.tokens, keep) if k]
    np.testing.assert_allclose(distribution.probabilities, per_head[1, :, 3].mean(axis=0), atol=1e-6)
    assert distribution.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert distribution.max_entropy_bits == pytest.approx(np.log2(keep.sum()))
    scores = trace.attention["encoder_self"].scores[..., keep]
    assert state.levels(values="scores") == pytest.approx((float(scores.min()), float(scores.max())))
    assert "special tokens hidden" in state.title()


def test_switching_the_filter_off_restores_the_unfiltered_views(trace):
    state = ExplorerState()
    state.set_trace(trace)
    state.select(kind="cross", layer=0, head=0)
    before = state.grid().copy()
    state.select(hide_special=True)
    assert state.grid().shape[-1] == kept_columns(trace.encoder).sum()
    state.select(hide_special=False)
    np.testing.assert_array_equal(state.grid(), before)
    np.testing.assert_allclose(state.head_matrix(), trace.attention["cross"].weights[0, 0], atol=1e-7)
    assert state.axes()[1].tokens == trace.encoder.tokens


def test_a_text_of_special_tokens_only_is_shown_unfiltered(trace):
    from dataclasses import replace

    all_special = replace(trace.encoder, special=np.ones(len(trace.encoder), dtype=bool))
    only_special = replace(trace, encoder=all_special)
    state = ExplorerState()
    state.set_trace(only_special)
    state.select(kind="encoder_self", layer=0, head=0, hide_special=True)
    np.testing.assert_allclose(state.head_matrix(), trace.attention["encoder_self"].weights[0, 0], atol=1e-7)
    assert state.axes()[1].tokens == trace.encoder.tokens


def test_the_checkbox_changes_what_the_head_detail_shows(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    window.select(kind="decoder_self", layer=1, head=0, query=4)
    trace = window.state.trace
    assert window.head_detail.heatmap.matrix.shape == (len(trace.decoder), len(trace.decoder))
    window.selection_bar.hide_special.setChecked(True)
    keep = kept_columns(trace.decoder)
    expected = renormalised(trace.attention["decoder_self"].weights[1, 0][:, keep].astype(np.float64))
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, expected, atol=1e-6)
    assert window.head_detail.heatmap._key_labels == [t for t, k in zip(trace.decoder.tokens, keep) if k]
    assert window.distribution.shown.keys == [t for t, k in zip(trace.decoder.tokens, keep) if k]
    np.testing.assert_allclose(window.grid.cells[(1, 0)], expected, atol=1e-6)
    assert window.settings.value("view/hide_special") is True
    # The cross-attention panel drops the encoder's </s> column too.
    assert window.cross.heatmap.matrix.shape == (len(trace.decoder), kept_columns(trace.encoder).sum())
    window.selection_bar.hide_special.setChecked(False)
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, trace.attention["decoder_self"].weights[1, 0], atol=1e-6)


def test_typing_with_the_filter_on_pools_no_thumbnails_on_the_gui_thread(drive, qtbot, window, checkpoints, monkeypatch):
    import threading

    from explorer.core import thumbnails as state_module

    drive.load(window, checkpoints["encoder-decoder"])
    window.selection_bar.hide_special.setChecked(True)
    pooled_on: list[int] = []
    for name in ("layer_thumbnails", "layer_mean_thumbnails"):
        original = getattr(state_module, name)

        def spy(*args, original=original, **kwargs):
            pooled_on.append(threading.get_ident())
            return original(*args, **kwargs)

        monkeypatch.setattr(state_module, name, spy)
    text = "date: 17 june 1999"
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    assert pooled_on, "the filtered thumbnails were never made"
    assert threading.get_ident() not in pooled_on  # all of them on the worker
    # And they are what the filter shows: the kept columns, renormalised, of the new trace.
    trace = window.state.trace
    keep = kept_columns(trace.decoder)
    expected = renormalised(trace.attention["decoder_self"].weights[1, 0][:, keep].astype(np.float64))
    np.testing.assert_allclose(window.state.grid("decoder_self", "weights")[1, 0], expected, atol=1e-6)


def test_aggregate_filters_each_method_as_documented_by_hand():
    from explorer.analysis.aggregation import aggregate

    # One layer, two heads, three tokens; key 2 is hidden.
    weights = np.array(
        [[[[0.5, 0.25, 0.25], [0.2, 0.2, 0.6], [0.0, 0.5, 0.5]], [[1.0, 0.0, 0.0], [0.25, 0.25, 0.5], [0.5, 0.0, 0.5]]]],
        dtype=np.float32,
    )  # (L=1, H=2, Q=3, K=3)
    keep = np.array([True, True, False])
    # Each head renormalised over keys 0 and 1: head 0 rows (2/3, 1/3), (1/2, 1/2), (0, 1);
    # head 1 rows (1, 0), (1/2, 1/2), (1, 0).
    np.testing.assert_allclose(
        aggregate(weights, "mean", 0, keep), [[5 / 6, 1 / 6], [0.5, 0.5], [0.5, 0.5]], atol=1e-6
    )
    np.testing.assert_allclose(aggregate(weights, "max", 0, keep), [[1.0, 1 / 3], [0.5, 0.5], [1.0, 1.0]], atol=1e-6)
    # Rollout of one layer: 0.5·mean + 0.5·I, rows renormalised over the kept keys.
    mixed = 0.5 * weights[0].mean(axis=0) + 0.5 * np.eye(3)
    kept = mixed[:, :2]
    np.testing.assert_allclose(aggregate(weights, "rollout", 0, keep), kept / kept.sum(axis=1, keepdims=True), atol=1e-6)
    # Flow values are capacities: the columns go, nothing is renormalised.
    np.testing.assert_allclose(aggregate(weights, "flow", 0, keep), kept, atol=1e-6)
