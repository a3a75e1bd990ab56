"""The main window driven as a user would: typing, selecting, switching models."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui.call_counts import calls
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTextCursor

from model import load_checkpoint



@pytest.fixture(scope="module")
def reference_models(checkpoints):
    """The same checkpoints loaded directly, to compare what the panels show."""
    return {name: load_checkpoint(folder) for name, folder in checkpoints.items() if name != "broken"}


def test_typing_updates_every_panel_with_the_newest_text(drive, qtbot, window, checkpoints, reference_models):
    drive.load(window, checkpoints["encoder-decoder"])
    window.input_panel.source.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(window.input_panel.source, " may")
    text = "date: 5 may 2020 may"
    drive.wait_for_text(window, text)
    expected = reference_models["encoder-decoder"].trace(text, target="2020-05-05")
    selection = window.state.selection
    layer, head, query = selection.layer, selection.head, selection.query
    kind_weights = expected.attention[selection.kind].weights
    # Overview grid: every thumbnail holds its head of the new trace.
    for (grid_layer, grid_head), values in window.grid.cells.items():
        if grid_head >= 0:
            np.testing.assert_allclose(values, kind_weights[grid_layer, grid_head], atol=1e-5)
    # Head detail, distribution, cross-attention and the token chips.
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, kind_weights[layer, head], atol=1e-5)
    np.testing.assert_allclose(window.distribution.shown.probabilities, kind_weights[layer, head, query], atol=1e-5)
    np.testing.assert_allclose(window.cross.alignment.weights, expected.attention["cross"].weights[layer, head], atol=1e-5)
    assert window.cross.heatmap.matrix.shape == (len(expected.decoder), len(expected.encoder))
    assert window.input_panel.tokens.toPlainText().count("may") == 2
    assert "source" in window.tokens_label.text() and "ms" in window.timings_label.text()


def test_rapid_typing_ends_on_the_newest_text_and_never_paints_stale_results(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    painted: list[tuple[int, int]] = []  # (painted id, newest id at paint time)
    window.trace_painted.connect(
        lambda result: painted.append((result.request_id, window.controller.queue.latest_trace_id))
    )
    window.input_panel.source.clear()
    qtbot.keyClicks(window.input_panel.source, "reverse: owl cat fig yak emu")
    drive.wait_for_text(window, "reverse: owl cat fig yak emu")
    assert painted, "nothing was painted"
    assert all(painted_id == newest for painted_id, newest in painted)
    ids = [painted_id for painted_id, _ in painted]
    assert ids == sorted(ids)
    # Coalescing: far fewer forwards than keystrokes were painted or run.
    assert len(painted) < len("reverse: owl cat fig yak emu")


def test_selecting_kind_layer_head_and_query_updates_detail_and_distribution(drive, qtbot, window, checkpoints, reference_models):
    drive.load(window, checkpoints["encoder-decoder"])
    trace = window.state.trace
    bar = window.selection_bar
    bar.kind.setCurrentIndex(bar.kind.findData("encoder_self"))
    bar.layer.setValue(1)
    bar.head.setCurrentIndex(1)
    canvas = window.input_panel.tokens.canvas
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.chip_rect("encoder", 3).center().toPoint())
    selection = window.state.selection
    assert (selection.kind, selection.layer, selection.head, selection.query) == ("encoder_self", 1, 1, 3)
    weights = trace.attention["encoder_self"].weights
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, weights[1, 1], atol=1e-6)
    np.testing.assert_allclose(window.distribution.shown.probabilities, weights[1, 1, 3], atol=1e-5)
    assert window.grid.selected == (1, 1)
    # The distribution equals the head's row, for every query the user can pick.
    for query in range(len(trace.encoder)):
        window.select(query=query)
        np.testing.assert_allclose(window.distribution.shown.probabilities, window.head_detail.heatmap.matrix[query], atol=1e-5)
    # Keyboard on the grid: → next head (the mean after the last), PageUp previous layer.
    window.grid.view.setFocus()
    qtbot.keyClick(window.grid.view, Qt.Key.Key_Right)
    assert window.state.selection.head is None
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, weights[1].mean(axis=0), atol=1e-6)
    qtbot.keyClick(window.grid.view, Qt.Key.Key_PageUp)
    assert window.state.selection.layer == 0
    # Scores instead of probabilities.
    window.head_detail.scores_button.click()
    scores = trace.attention["encoder_self"].scores
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, scores[0].mean(axis=0), atol=1e-5)
    # A decoder token chip selects a decoder-side kind.
    window.input_panel.tokens.token_clicked.emit("decoder", 2)
    assert window.state.selection.kind == "cross" and window.state.selection.query == 2


def test_temperature_one_shows_the_models_softmax_and_other_temperatures_rescale(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["decoder"], text="sort: owl cat fig", target=None)
    window.select(layer=1, head=0, query=3)
    trace = window.state.trace
    row_scores = trace.attention["decoder_self"].scores[1, 0, 3]
    np.testing.assert_allclose(window.distribution.shown.probabilities, trace.attention["decoder_self"].weights[1, 0, 3], atol=1e-5)
    window.distribution.temperature.setValue(0.5)
    assert window.state.selection.temperature == pytest.approx(0.5)
    finite = np.isfinite(row_scores)
    expected = np.zeros_like(row_scores, dtype=np.float64)
    exponentials = np.exp(2.0 * (row_scores[finite] - row_scores[finite].max()))
    expected[finite] = exponentials / exponentials.sum()
    np.testing.assert_allclose(window.distribution.shown.probabilities, expected, atol=1e-6)
    assert np.all(window.distribution.shown.probabilities[4:] == 0)  # causal: later keys masked


def test_switching_models_enables_and_disables_the_right_panels(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    assert window.containers["cross"].available
    assert window.input_panel.target.isEnabled() and not window.input_panel.pair.isEnabled()

    drive.load(window, checkpoints["decoder"], text="sort: owl cat fig", target=None)
    assert window.state.trace.architecture == "decoder"
    assert not window.containers["cross"].available
    assert "encoder–decoder" in window.containers["cross"].reason
    assert not window.input_panel.target.isEnabled() and not window.input_panel.pair.isEnabled()
    assert window.state.kinds == ("decoder_self",)
    assert window.selection_bar.kind.count() == 1

    drive.load(window, checkpoints["encoder"], text="owl cat", target=None)
    window.input_panel.pair.setText("fig")
    drive.wait_for_text(window, "owl cat")
    qtbot.waitUntil(lambda: window.painted.request.pair == "fig", timeout=drive.timeout)
    assert window.input_panel.pair.isEnabled()
    assert not window.containers["cross"].available
    assert window.state.trace.encoder.tokens == ["owl", "cat", "</s>", "fig", "</s>"]
    for name in ("grid", "head", "distribution"):
        assert window.containers[name].available


def test_failed_load_keeps_the_previous_model(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    before = window.model
    with qtbot.waitSignal(window.controller.load_failed, timeout=drive.timeout) as failure:
        window.open_checkpoint(str(checkpoints["broken"]))
    location, reason = failure.args
    assert "not valid JSON" in reason and "\n" not in reason
    assert window.last_error_dialog is not None and reason in window.last_error_dialog.text()
    window.last_error_dialog.close()
    assert window.model == before
    window.input_panel.source.setPlainText("number: four")
    drive.wait_for_text(window, "number: four")
    assert window.state.trace.model_name == "tiny encoder-decoder"
    assert str(checkpoints["broken"]) not in window.settings.recent()


def test_typing_does_not_recreate_image_items(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    grid_item = window.grid.image
    grid_builds = calls(window.grid, "_build")  # the grid's image items made again
    builds = len(grid_builds)
    detail_item = window.head_detail.heatmap.image
    cross_item = window.cross.heatmap.image
    for text in ("date: 6 may 2020", "date: 6 may 2021 june", "date: 7"):
        window.input_panel.source.setPlainText(text)
        drive.wait_for_text(window, text)
    assert len(grid_builds) == builds
    assert window.grid.image is grid_item
    assert window.head_detail.heatmap.image is detail_item and window.cross.heatmap.image is cross_item
    window.select(show_mean_column=False)  # a different grid shape is the one reason to rebuild
    assert len(grid_builds) == builds + 1


def test_closing_during_an_inference_stops_the_worker_quickly(drive, qtbot, checkpoints):
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    window = MainWindow(Settings(None))
    qtbot.addWidget(window)
    window.show()
    drive.load(window, checkpoints["encoder-decoder"])
    window.input_panel.target.setText("")  # greedy generation: the slowest trace
    window.input_panel.source.setPlainText("sort: owl cat fig yak emu ant bee")
    assert window.controller.queue.busy
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 2.0
    assert not window.controller.thread.isRunning()


def test_settings_remember_colour_map_and_recent_checkpoints(drive, qtbot, window, checkpoints):
    from explorer.main_window import MainWindow
    from explorer.settings import Settings, user_store

    drive.load(window, checkpoints["encoder-decoder"])
    window.selection_bar.colormap.setCurrentText("magma")
    assert window.state.selection.colormap == "magma"
    window.docks["distribution"].hide()
    window.close()
    reopened = MainWindow(Settings(user_store()))
    qtbot.addWidget(reopened)
    reopened.show()
    assert reopened.state.selection.colormap == "magma"
    assert reopened.docks["distribution"].isHidden() and not reopened.docks["cross"].isHidden()
    assert reopened.settings.recent()[0] == str(checkpoints["encoder-decoder"])
    reopened.close()


def test_device_menu_says_when_there_is_no_gpu(window):
    import torch

    window.device_menu.aboutToShow.emit()  # the menu is listed when it first opens
    labels = [action.text() for action in window.device_menu.actions()]
    assert labels[0] == "CPU"
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert any("No GPU" in label for label in labels)


def test_panel_exports_match_the_panel_and_failures_show_a_dialog(drive, qtbot, window, checkpoints, tmp_path):
    from PySide6.QtGui import QImage

    from explorer.export_actions import figure_request

    drive.load(window, checkpoints["encoder-decoder"])
    window.select(kind="encoder_self", layer=1, head=None, values="scores", colormap="magma", query=2, temperature=2.0)
    menu = window.exports.panel_menu("head", window)
    assert [action.text() for action in menu.actions()][:3] == ["Export image…", "Copy image to clipboard", "Export data…"]
    assert all(action.isEnabled() for action in menu.actions()[:3])
    request = figure_request(window.state, "distribution")
    assert (request.kind, request.layer, request.head, request.values, request.colormap) == ("encoder_self", 1, None, "scores", "magma")
    assert request.levels == window.state.levels() and request.query == 2 and request.temperature == 2.0
    assert figure_request(window.state, "cross").kind == "cross"
    for panel in ("grid", "head", "distribution", "cross"):
        written = window.exports.write_image(panel, tmp_path / f"{panel}.png")
        assert written is not None and not QImage(str(written)).isNull()
    assert window.exports.copy_image("head")
    from PySide6.QtGui import QGuiApplication

    assert not QGuiApplication.clipboard().image().isNull()
    assert window.exports.write_data(tmp_path / "trace.npz") is not None
    assert window.exports.write_image("head", tmp_path / "missing-folder" / "x.png") is None
    assert window.exports.last_error is not None and window.exports.last_error.text()
    window.exports.last_error.close()
    assert window.exports.export_action.shortcut().toString() == "Ctrl+E"


def test_hover_reads_out_a_cell_and_clicking_a_row_picks_the_query(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    window.select(kind="encoder_self", layer=0, head=1, query=0)
    heatmap = window.head_detail.heatmap
    box = heatmap.plot.getViewBox()
    # pyqtgraph updates a view's transform when it next paints: render before mapping points.
    heatmap.view.grab()
    trace = window.state.trace
    scene_point = box.mapViewToScene(QPointF(4.5, 2.5))  # key 4, query 2
    heatmap._on_mouse_moved(scene_point)
    readout = window.head_detail.readout.text()
    weight = trace.attention["encoder_self"].weights[0, 1, 2, 4]
    score = trace.attention["encoder_self"].scores[0, 1, 2, 4]
    assert f"query 2 '{trace.encoder.tokens[2]}'" in readout and f"key 4 '{trace.encoder.tokens[4]}'" in readout
    assert f"p = {weight:.4f}" in readout and f"score = {score:+.4f}" in readout
    widget_point = heatmap.view.mapFromScene(box.mapViewToScene(QPointF(1.5, 3.5)))  # query row 3
    qtbot.mouseClick(heatmap.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    qtbot.waitUntil(lambda: window.state.selection.query == 3, timeout=2000)
    np.testing.assert_allclose(window.distribution.shown.probabilities, trace.attention["encoder_self"].weights[0, 1, 3], atol=1e-5)
    # Clicking a thumbnail in the overview grid selects that layer and head, outlined.
    window.grid.view.grab()
    x, y = window.grid.cell_centre(1, 0)
    box = window.grid.plot.getViewBox()
    widget_point = window.grid.view.mapFromScene(box.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(window.grid.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    qtbot.waitUntil(lambda: (window.state.selection.layer, window.state.selection.head) == (1, 0), timeout=2000)
    assert window.grid.selected == (1, 0)
