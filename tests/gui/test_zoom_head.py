"""The zoomable head view: tiles equal the exact cells, the latest tile wins, go to token."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from explorer.core.viewport import Viewport
from explorer.panels import head_detail as head_detail_module
from recomputed import recomputed_trace

TEXT = "reverse: owl cat fig yak emu ant bee owl cat fig yak emu ant bee"


def _load(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"], text=TEXT, target=None)
    window.select(kind="encoder_self", layer=1, head=1, query=0)
    return window.head_detail


def test_zooming_in_paints_the_exact_cells_of_the_visible_region(drive, qtbot, window, checkpoints):
    detail = _load(drive, window, checkpoints)
    weights = window.state.trace.attention["encoder_self"].weights[1, 1]
    heatmap = detail.heatmap
    assert heatmap.request.rows == slice(0, weights.shape[0]) and not heatmap.minimap.isVisible()
    np.testing.assert_allclose(heatmap.matrix, weights, atol=1e-6)
    heatmap.set_viewport(Viewport(*weights.shape, top=3.0, left=5.0, height=6.0, width=7.0))
    request = heatmap.request
    assert (request.rows, request.columns) == (slice(3, 9), slice(5, 12)) and request.exact
    np.testing.assert_allclose(heatmap.matrix, weights[3:9, 5:12], atol=1e-6)
    # The image sits on its region, the minimap shows where it is, every visible key is labelled.
    rect = heatmap.image.mapRectToView(heatmap.image.boundingRect())
    assert (rect.left(), rect.top(), rect.width(), rect.height()) == pytest.approx((5, 3, 7, 6))
    assert heatmap.minimap.isVisible()
    keys = window.state.axes()[1].tokens
    ticks = heatmap.plot.getAxis("bottom")._tickLevels[0]
    assert [position for position, _ in ticks] == [index + 0.5 for index in range(5, 12)]
    assert "owl" in " ".join(label for _, label in ticks) or len(keys) < 12
    # Hovering a cell reads the matrix's own cell, wherever the view is.
    assert f"p = {weights[4, 6]:.4f}" in detail.readout_text(4, 6)


def test_the_wheel_zooms_and_a_drag_pans_within_the_matrix(drive, qtbot, window, checkpoints):
    detail = _load(drive, window, checkpoints)
    heatmap = detail.heatmap
    rows, columns = heatmap.shape
    viewport = heatmap.view.viewport()
    centre = viewport.rect().center()
    event = QWheelEvent(
        QPointF(centre), QPointF(viewport.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 480),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(viewport, event)
    zoomed = heatmap.viewport
    assert zoomed.zoomed_in and zoomed.width < columns
    weights = window.state.trace.attention["encoder_self"].weights[1, 1]
    request = heatmap.request
    np.testing.assert_allclose(heatmap.matrix, weights[request.rows, request.columns], atol=1e-6)
    heatmap.box.translateBy(x=1000.0, y=-1000.0)  # a drag far past the corner stops at the edges
    panned = heatmap.viewport
    assert panned.left + panned.width == pytest.approx(columns) and panned.top == pytest.approx(0.0)
    request = heatmap.request
    np.testing.assert_allclose(heatmap.matrix, weights[request.rows, request.columns], atol=1e-6)
    detail.show_whole()
    assert not heatmap.viewport.zoomed_in and not heatmap.minimap.isVisible()
    # A touchpad pinch zooms around the point under the fingers, as the wheel does.
    heatmap.pinch(2.0, QPointF(centre))
    assert heatmap.viewport.width == pytest.approx(columns / 2) and heatmap.viewport.zoomed_in


def test_a_costly_tile_is_made_on_the_worker_and_only_the_latest_is_painted(drive, qtbot, window, checkpoints, monkeypatch):
    detail = _load(drive, window, checkpoints)
    dense = window.state.trace
    window.state.set_trace(recomputed_trace(dense))
    window.paint()
    monkeypatch.setattr(head_detail_module, "SYNC_TILE_CELLS", 0)  # every tile goes to the worker
    heatmap = detail.heatmap
    weights = dense.attention["encoder_self"].weights[1, 1]
    rows, columns = weights.shape
    heatmap.set_viewport(Viewport(rows, columns, top=0.0, left=0.0, height=5.0, width=5.0))
    first_view, first_request = detail.pending
    heatmap.set_viewport(Viewport(rows, columns, top=8.0, left=2.0, height=6.0, width=6.0))
    view, latest = detail.pending
    assert latest != first_request
    qtbot.waitUntil(lambda: detail.pending is None, timeout=30_000)
    assert heatmap.request == latest
    np.testing.assert_allclose(heatmap.matrix, weights[8:14, 2:8], atol=1e-6)
    # An answer to an older request arriving late is never painted over the latest.
    detail.tile_answered(first_view, first_request, np.zeros((5, 5), dtype=np.float32))
    assert heatmap.request == latest
    np.testing.assert_allclose(heatmap.matrix, weights[8:14, 2:8], atol=1e-6)


def test_go_to_token_centres_the_view_and_selects_the_query(drive, qtbot, window, checkpoints):
    detail = _load(drive, window, checkpoints)
    tokens = window.state.trace.encoder.tokens
    detail.go_to.setText("emu")
    qtbot.keyClick(detail.go_to, Qt.Key.Key_Return)
    first = next(index for index, token in enumerate(tokens) if token == "emu")
    assert window.state.selection.query == first
    viewport = detail.heatmap.viewport
    assert viewport.top <= first < viewport.top + viewport.height
    qtbot.keyClick(detail.go_to, Qt.Key.Key_Return)  # Enter again: the next "emu"
    second = next(index for index, token in enumerate(tokens) if token == "emu" and index > first)
    assert window.state.selection.query == second
    assert detail.go_to_token("nothing-like-it") is None and "No token matches" in detail.readout.text()


def test_cross_attention_too_long_for_every_cell_is_drawn_pooled_without_lines(drive, qtbot, window, checkpoints, monkeypatch):
    from explorer.core.head_matrix import pool_to
    from explorer.panels import cross_attention

    _load(drive, window, checkpoints)
    monkeypatch.setattr(cross_attention, "POOLED_CELLS", 10)
    monkeypatch.setattr(cross_attention, "POOLED_SIDE", 4)
    window.state.set_trace(recomputed_trace(window.state.trace))
    window.select(kind="cross", layer=1, head=0)
    window.paint()
    panel = window.cross
    weights = window.state.trace.attention["cross"].weights._dense[1, 0]
    np.testing.assert_allclose(panel.heatmap.matrix, pool_to(weights, (4, 4)), atol=1e-6)
    assert "max-pooled to 4 × 4" in panel.title.text()
    assert panel.alignment.weights.size == 0


def test_a_row_of_thousands_of_keys_is_drawn_as_runs_of_keys_keeping_the_strongest(drive, qtbot, window, checkpoints, monkeypatch):
    from explorer.panels import distribution as distribution_module

    _load(drive, window, checkpoints)
    monkeypatch.setattr(distribution_module, "POOLED_BARS", 4)
    monkeypatch.setattr(distribution_module, "BAR_BINS", 3)
    window.select(query=5)
    window.state.shown_views.clear()
    window.paint()
    panel = window.distribution
    heights = panel.probability_bars.opts["height"]
    assert len(heights) == 3
    probabilities = panel.shown.probabilities  # the view keeps the exact row
    assert len(probabilities) == len(window.state.trace.encoder)
    assert max(heights) == pytest.approx(probabilities.max())


def test_hovering_a_recomputed_head_reads_the_cell_the_pointer_rests_on(drive, qtbot, window, checkpoints):
    detail = _load(drive, window, checkpoints)
    dense = window.state.trace
    window.state.set_trace(recomputed_trace(dense))
    window.paint()
    for row, column in ((1, 1), (2, 3), (4, 6)):  # a burst of moves: read once, for the last
        detail.heatmap.cell_hovered.emit(row, column)
    weight = dense.attention["encoder_self"].weights[1, 1, 4, 6]
    qtbot.waitUntil(lambda: f"p = {weight:.4f}" in detail.readout.text(), timeout=5000)
    assert "query 4" in detail.readout.text()


def test_value_weighted_attention_says_why_a_recomputed_trace_cannot_show_it(drive, qtbot, window, checkpoints):
    detail = _load(drive, window, checkpoints)
    assert detail.value_button.isEnabled()  # a dense trace keeps the value-vector norms
    model = window.controller._worker._model  # the worker is idle between requests
    recomputed = model.trace(window.input_panel.source.toPlainText(), storage="recomputed")
    window.state.set_trace(recomputed)
    window.paint()
    assert not detail.value_button.isEnabled()
    assert "recomputed on demand" in detail.value_button.toolTip()
