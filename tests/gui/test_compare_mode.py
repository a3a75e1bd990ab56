"""The compare mode driven as a user would: input B, checkpoint B, refusals, the ranking, export."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent, QImage
from PySide6.QtWidgets import QApplication

from explorer.analysis.compare import compare_traces
from explorer.app import SCREENSHOT_SIZE
from model import load_checkpoint, save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

TEXT_A = "date: 5 may 2020"
TEXT_B = "date: 6 may 2020"  # as many tokens as A, one differs
LONGER_B = "date: 15 may 2020"  # one token more than A
TARGET = "2020-05-05"


@pytest.fixture(scope="module")
def second_checkpoint(tmp_path_factory, checkpoints) -> Path:
    """An encoder–decoder shaped like the ``checkpoints`` one, from another seed."""
    config = tiny_config("encoder-decoder", n_heads=2, max_positions=32, lm_head=True)
    folder = tmp_path_factory.mktemp("second") / "tiny encoder-decoder, seed 7"
    return save_checkpoint(folder, tiny_network(config, 7), task_tokenizer(config.max_positions), name="tiny seed 7")


def _open_compare(window, drive, checkpoint: Path):
    drive.load(window, checkpoint, text=TEXT_A, target=TARGET)
    mode = window.modes["compare"]
    mode.raise_dock()
    return mode


def _wait_for_result(qtbot, mode, check=lambda result: True) -> None:
    qtbot.waitUntil(lambda: not mode.busy and mode.result is not None and check(mode.result), timeout=30_000)


def test_second_input_shows_a_b_and_their_exact_difference(qtbot, window, drive, checkpoints) -> None:
    mode = _open_compare(window, drive, checkpoints["encoder-decoder"])
    mode.set_text_b(TEXT_B)
    _wait_for_result(qtbot, mode)
    reference = load_checkpoint(checkpoints["encoder-decoder"])
    trace_a, trace_b = reference.trace(TEXT_A, target=TARGET), reference.trace(TEXT_B, target=TARGET)
    for kind in ("encoder_self", "cross"):
        window.select(kind=kind, layer=1, head=1)
        view = mode.view
        a = trace_a.attention[kind].weights[1, 1]
        b = trace_b.attention[kind].weights[1, 1]
        np.testing.assert_allclose(view.plot_a.image.image, a, atol=1e-5)
        np.testing.assert_allclose(view.plot_b.image.image, b, atol=1e-5)
        np.testing.assert_allclose(view.plot_difference.image.image, b - a, atol=1e-5)
        # The diverging colour range is symmetric about 0 and reaches the largest change.
        low, high = view.difference_bar.levels()
        assert low == pytest.approx(-high)
        assert high == pytest.approx(float(np.abs(b - a).max()), rel=1e-5)
        # A and B share one colour range.
        assert tuple(view.plot_a.image.levels) == tuple(view.plot_b.image.levels) == pytest.approx(
            (min(a.min(), b.min()), max(a.max(), b.max())), rel=1e-5
        )
    assert mode.view.label_a.text() == f"A: “{TEXT_A}”"
    assert mode.view.label_b.text() == f"B: “{TEXT_B}”"
    # The mean over heads: the difference of the head means.
    window.select(kind="cross", layer=0, head=None)
    expected = trace_b.attention["cross"].weights[0].mean(axis=0) - trace_a.attention["cross"].weights[0].mean(axis=0)
    np.testing.assert_allclose(mode.view.plot_difference.image.image, expected, atol=1e-5)
    # The special-token filter drops the special key columns of every map and renormalises.
    window.select(kind="encoder_self", layer=1, head=0, hide_special=True)
    keep = ~np.asarray(trace_a.encoder.special)
    assert 0 < keep.sum() < len(keep)
    a = trace_a.attention["encoder_self"].weights[1, 0][:, keep]
    b = trace_b.attention["encoder_self"].weights[1, 0][:, keep]
    expected = b / b.sum(axis=1, keepdims=True) - a / a.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(mode.view.plot_difference.image.image, expected, atol=1e-5)
    # The filtered mean over heads is the one every other view shows: each head
    # renormalised over the kept keys, then averaged.
    for kind in ("decoder_self", "cross"):
        window.select(kind=kind, layer=1, head=None, hide_special=True)
        keep = ~np.asarray(trace_a.axes(kind)[1].special)
        assert 0 < keep.sum() < len(keep)
        np.testing.assert_allclose(mode.view.plot_a.image.image, window.state.head_matrix(kind, 1, None), atol=1e-6)
        heads_b = trace_b.attention[kind].weights[1][:, :, keep]  # (H, Q, kept)
        sums_b = heads_b.sum(axis=-1, keepdims=True)
        mean_b = np.divide(heads_b, sums_b, out=np.zeros_like(heads_b), where=sums_b > 0).mean(axis=0)
        np.testing.assert_allclose(mode.view.plot_b.image.image, mean_b, atol=1e-6)


def test_a_longer_input_b_is_refused_with_the_reason_shown(qtbot, window, drive, checkpoints) -> None:
    mode = _open_compare(window, drive, checkpoints["encoder-decoder"])
    mode.set_text_b(LONGER_B)
    _wait_for_result(qtbot, mode)
    window.select(kind="encoder_self")
    reference = load_checkpoint(checkpoints["encoder-decoder"])
    n_a, n_b = len(reference.trace(TEXT_A, target=TARGET).encoder), len(reference.trace(LONGER_B, target=TARGET).encoder)
    assert n_b == n_a + 1
    message = mode.view.message_text
    assert message.startswith(f"The encoder sides have {n_a} and {n_b} tokens")
    assert "a difference needs the same number of tokens" in message
    assert mode.view.pages.currentIndex() == 1
    # Typing B back to A's length brings the heatmaps back.
    mode.set_text_b(TEXT_B)
    _wait_for_result(qtbot, mode, lambda result: "encoder_self" in result.comparisons)
    assert mode.view.message_text == ""
    assert mode.view.frame is not None and mode.view.frame.kind == "encoder_self"


def test_second_checkpoint_ranks_heads_as_compare_traces_does(qtbot, window, drive, checkpoints, second_checkpoint) -> None:
    mode = _open_compare(window, drive, checkpoints["encoder-decoder"])
    window.select(kind="cross", layer=0, head=0)
    mode.set_checkpoint(str(second_checkpoint))
    _wait_for_result(qtbot, mode)
    trace_a = load_checkpoint(checkpoints["encoder-decoder"]).trace(TEXT_A, target=TARGET)
    trace_b = load_checkpoint(second_checkpoint).trace(TEXT_A, target=TARGET)
    for ranking in ("js_divergence_bits", "mean_abs_difference"):
        mode.view.ranking.setCurrentIndex(mode.view.ranking.findData(ranking))
        expected = compare_traces(trace_a, trace_b, "cross").ranked(ranking)
        assert mode.view.ranked_heads() == [(head.layer, head.head) for head in expected]
        assert all(getattr(head, ranking) > 0 for head in mode.view.frame.ranking)
        shown = [float(mode.view.table.item(row, 2).text()) for row in range(mode.view.table.rowCount())]
        np.testing.assert_allclose(shown, [head.js_divergence_bits for head in expected], atol=5e-5)
    assert mode.view.label_a.text() == "A: tiny encoder-decoder"
    assert mode.view.label_b.text() == "B: tiny seed 7"
    # Clicking a ranked head selects it in the window.
    table = mode.view.table
    row = table.rowCount() - 1
    rectangle = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rectangle.center())
    layer, head = mode.view.ranked_heads()[row]
    assert (window.state.selection.kind, window.state.selection.layer, window.state.selection.head) == ("cross", layer, head)
    np.testing.assert_allclose(
        mode.view.plot_difference.image.image,
        trace_b.attention["cross"].weights[layer, head] - trace_a.attention["cross"].weights[layer, head],
        atol=1e-5,
    )
    # A new trace A compares again, with checkpoint B read once and kept on the worker.
    window.input_panel.source.setPlainText("date: 7 may 2020")
    _wait_for_result(qtbot, mode, lambda result: result.trace_a is window.state.trace)
    assert mode.second.loads == 1
    # Back to the same model: checkpoint B is let go on the worker.
    mode.set_checkpoint(None)
    qtbot.waitUntil(lambda: not mode.busy, timeout=30_000)
    assert mode.second.model is None
    assert mode.view.message_text.startswith("Type an input B")


def test_checkpoint_of_another_architecture_is_refused(qtbot, window, drive, checkpoints) -> None:
    mode = _open_compare(window, drive, checkpoints["encoder-decoder"])
    mode.set_checkpoint(str(checkpoints["decoder"]))
    qtbot.waitUntil(lambda: not mode.busy and mode.failure != "", timeout=30_000)
    assert "only checkpoints of the same architecture can be compared" in mode.view.message_text
    assert mode.view.message_text.startswith("Checkpoint B is decoder, 2 decoder layers × 2 heads")
    # The refused model is not kept in memory.
    assert mode.second.loads == 1 and mode.second.model is None


def test_picking_a_checkpoint_again_reloads_it_even_when_requests_coalesce(
    qtbot, window, drive, checkpoints, second_checkpoint
) -> None:
    mode = _open_compare(window, drive, checkpoints["encoder-decoder"])
    mode.set_checkpoint(str(second_checkpoint))
    _wait_for_result(qtbot, mode)
    assert mode.second.loads == 1
    # Hold the worker so the next requests wait together: picking the checkpoint again,
    # then typing an input B, replaces the comparison asked for by the pick.
    started, gate = threading.Event(), threading.Event()
    window.controller.request_analysis("held", lambda _model: (started.set(), gate.wait(30)))
    try:
        qtbot.waitUntil(started.is_set, timeout=10_000)
        mode.set_checkpoint(str(second_checkpoint))
        mode.set_text_b(TEXT_B)
    finally:
        gate.set()
    _wait_for_result(qtbot, mode, lambda result: TEXT_B in result.label_b)
    assert mode.second.loads == 2


def test_an_older_comparison_is_marked_as_updating_until_the_new_one_arrives(qtbot, window, drive, checkpoints) -> None:
    mode = _open_compare(window, drive, checkpoints["encoder-decoder"])
    mode.set_text_b(TEXT_B)
    _wait_for_result(qtbot, mode)
    assert not mode.view.is_updating
    # Right after a new trace A is painted, the previous comparison is still up, marked.
    seen: list[tuple[bool, str]] = []
    window.trace_painted.connect(lambda _result: seen.append((mode.view.is_updating, mode.view.label_a.text())))
    with qtbot.waitSignal(window.trace_painted, timeout=30_000):
        window.input_panel.source.setPlainText("date: 7 may 2020")
    _wait_for_result(qtbot, mode, lambda result: result.trace_a is window.state.trace)
    assert seen[0] == (True, f"A: “{TEXT_A}”")
    assert mode.view.updating.text() == "updating…"
    assert not mode.view.is_updating
    assert mode.view.label_a.text() == "A: “date: 7 may 2020”"


def test_command_line_options_keep_the_mode_busy_until_the_comparison_arrives(qtbot, window, drive, checkpoints, tmp_path) -> None:
    mode = window.modes["compare"]
    args = argparse.Namespace(compare_text=TEXT_B, compare_checkpoint=None, show="compare")
    assert window.apply_mode_args(args) is False
    assert mode.busy
    with qtbot.waitSignal(window.modes_settled, timeout=30_000):
        drive.load(window, checkpoints["encoder-decoder"], text=TEXT_A, target=TARGET)
    assert mode.result is not None and mode.view.frame is not None
    # A right click on the plots offers the export.
    viewport = mode.view.difference_view.viewport()
    centre = viewport.rect().center()
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre, viewport.mapToGlobal(centre)))
    assert mode.menu is not None
    assert [(action.text(), action.isEnabled()) for action in mode.menu.actions()] == [("Export image…", True)]
    mode.menu.close()
    # The shown comparison exports as a diff figure.
    written = mode.export_image(str(tmp_path / "comparison.svg"))
    svg = written.read_text(encoding="utf-8")
    assert TEXT_A in svg and TEXT_B in svg and "B − A" in svg


def test_screenshot_of_the_comparison_from_the_command_line(tmp_path, checkpoints) -> None:
    out = tmp_path / "compare.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    command = [
        sys.executable, "-m", "explorer.cli",
        "--checkpoint", str(checkpoints["encoder-decoder"]),
        "--text", TEXT_A, "--target", TARGET,
        "--show", "compare", "--compare-text", TEXT_B,
        "--screenshot", str(out),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
