"""The aggregation dock: mean and max over heads, rollout and flow through layers, in the window."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from explorer.analysis import aggregation
from explorer.analysis.aggregation import FLOW_NAME, ROLLOUT_NAME, layer_max, layer_mean, rollout, widest_path_flow


@pytest.fixture
def mode(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    aggregation = window.modes["aggregation"]
    window.select(kind="encoder_self", layer=1, head=0, query=2)
    aggregation.raise_dock()
    return aggregation


def settle(qtbot, mode) -> None:
    """Wait until the worker answered every request of the mode."""
    if mode.busy:
        with qtbot.waitSignal(mode.settled, timeout=30_000):
            pass


def shown_image(mode) -> np.ndarray:
    return mode.heatmap.image.image


def test_rollout_of_the_encoder_is_shown_as_computed_from_the_trace(qtbot, window, mode):
    mode.set_method("rollout")
    settle(qtbot, mode)
    weights = window.state.trace.attention["encoder_self"].weights
    np.testing.assert_allclose(shown_image(mode), rollout(weights)[1], atol=1e-6)
    assert "Encoder self-attention · attention rollout (layers 0–1)" == mode.shown.text()
    assert ROLLOUT_NAME in mode.detail.text()
    # Moving to layer 0 takes the stored stack's first layer: no new worker request.
    window.select(layer=0)
    assert not mode.busy
    np.testing.assert_allclose(shown_image(mode), rollout(weights)[0], atol=1e-6)
    assert mode.shown.text().endswith("attention rollout (layer 0)")


def test_method_switch_shows_each_method_and_says_which(qtbot, window, mode):
    weights = window.state.trace.attention["encoder_self"].weights
    mode.set_method("mean")
    np.testing.assert_allclose(shown_image(mode), layer_mean(weights)[1], atol=1e-6)
    assert mode.shown.text().endswith("mean over heads (layer 1)")
    mode.set_method("max")
    np.testing.assert_allclose(shown_image(mode), layer_max(weights)[1], atol=1e-6)
    assert mode.shown.text().endswith("max over heads (layer 1)")
    mode.set_method("flow")
    settle(qtbot, mode)
    np.testing.assert_allclose(shown_image(mode), widest_path_flow(weights)[1], atol=1e-6)
    assert mode.shown.text().endswith("attention flow, widest-path approximation (layers 0–1)")
    assert FLOW_NAME in mode.detail.text()


def test_hide_special_drops_the_end_token_and_renormalises_the_rollout(qtbot, window, mode):
    mode.set_method("rollout")
    settle(qtbot, mode)
    trace = window.state.trace
    window.selection_bar.hide_special.setChecked(True)
    settle(qtbot, mode)
    keep = ~np.asarray(trace.encoder.special, dtype=bool)
    assert 0 < keep.sum() < len(keep)
    kept = rollout(trace.attention["encoder_self"].weights)[1][:, keep]
    np.testing.assert_allclose(shown_image(mode), kept / kept.sum(axis=1, keepdims=True), atol=1e-6)
    assert mode.heatmap._key_labels == [token for token, kept_key in zip(trace.encoder.tokens, keep) if kept_key]
    assert len(mode.heatmap._query_labels) == len(trace.encoder)  # query rows are never dropped
    assert "hidden" in mode.detail.text()
    # The mean over heads filters each head first, as the head views do.
    mode.set_method("mean")
    heads = trace.attention["encoder_self"].weights[1][..., keep].astype(np.float64)
    expected = (heads / heads.sum(axis=-1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(shown_image(mode), expected, atol=1e-6)


def test_cross_attention_rollout_says_why_and_shows_the_encoder(qtbot, window, mode):
    mode.set_method("rollout")
    window.select(kind="cross")
    settle(qtbot, mode)
    assert "cross-attention" in mode.detail.text() and "encoder self-attention" in mode.detail.text()
    assert mode.shown_kind == "encoder_self"
    np.testing.assert_allclose(shown_image(mode), rollout(window.state.trace.attention["encoder_self"].weights)[1], atol=1e-6)
    # Mean over heads applies to cross-attention itself.
    mode.set_method("mean")
    assert mode.shown_kind == "cross"
    np.testing.assert_allclose(shown_image(mode), layer_mean(window.state.trace.attention["cross"].weights)[1], atol=1e-6)


def test_clicking_a_row_selects_that_query(qtbot, window, mode):
    mode.set_method("mean")
    mode.heatmap.row_clicked.emit(5)
    assert (window.state.selection.kind, window.state.selection.query) == ("encoder_self", 5)
    np.testing.assert_allclose(window.distribution.shown.probabilities, window.state.trace.attention["encoder_self"].weights[1, 0, 5], atol=1e-5)


def test_the_exported_figure_is_what_the_panel_shows(qtbot, window, mode, tmp_path):
    mode.set_method("rollout")
    settle(qtbot, mode)
    request = window.exports.request_for("aggregation")
    assert (request.figure, request.kind, request.layer, request.aggregate) == ("aggregate", "encoder_self", 1, "rollout")
    written = window.exports.write_image("aggregation", tmp_path / "rollout.svg")
    assert written is not None and "attention rollout (layers 0–1)" in written.read_text(encoding="utf-8")


def _with_weights(trace, kind: str, weights: np.ndarray):
    attention = dict(trace.attention)
    attention[kind] = dataclasses.replace(trace.attention[kind], weights=weights)
    return dataclasses.replace(trace, attention=attention)


def test_rollout_is_computed_one_layer_per_request_and_restarts_for_a_new_trace(qtbot, window, mode):
    settle(qtbot, mode)
    shown = window.state.trace
    weights = shown.attention["encoder_self"].weights
    # Two more traces of the same tokens: the first with the heads reversed (the same
    # rollout), the newer with the layers swapped (another rollout, easy to tell apart).
    first = _with_weights(shown, "encoder_self", weights[:, ::-1].copy())
    newer = _with_weights(shown, "encoder_self", weights[::-1].copy())
    answered: list[int] = []

    def on_answer(topic: str, value) -> None:
        if topic != "aggregation/layer":
            return
        chain, index, _result = value
        answered.append(index)
        if chain.key[0] is first and index == 0:
            # A keystroke's trace arrives between layer 0 and layer 1 of the first trace.
            window.state.set_trace(newer)
            window.paint()

    window.controller.analysis_ready.connect(on_answer)
    try:
        window.state.set_trace(first)
        window.paint()
        assert mode.busy and "computing… (layer 0 of 2 done)" in mode.shown.text()
        settle(qtbot, mode)
    finally:
        window.controller.analysis_ready.disconnect(on_answer)
    # Layer 0 of the first trace, then layers 0 and 1 of the newer one: the first chain stopped.
    assert answered == [0, 0, 1]
    np.testing.assert_allclose(shown_image(mode), rollout(weights[::-1])[1], atol=1e-6)
    assert not np.allclose(rollout(weights[::-1])[1], rollout(weights)[1], atol=1e-3)
    assert mode.chain is None and not mode.busy


def test_flow_above_the_token_limit_is_refused_with_the_reason(qtbot, window, mode, monkeypatch):
    n_tokens = len(window.state.trace.encoder)
    monkeypatch.setattr(aggregation, "FLOW_TOKEN_LIMIT", n_tokens - 1)
    mode.set_method("flow")
    assert not mode.busy  # nothing was asked of the worker
    assert mode.shown.text().endswith("· not computed")
    assert f"Attention flow is limited to {n_tokens - 1} tokens and this input has {n_tokens}" in mode.detail.text()
    assert mode.heatmap.isHidden() and mode.matrix is None
    mode.set_method("rollout")
    settle(qtbot, mode)
    assert not mode.heatmap.isHidden()
    np.testing.assert_allclose(shown_image(mode), rollout(window.state.trace.attention["encoder_self"].weights)[1], atol=1e-6)
