"""What a user sees first: every key labelled, inapplicable panels out of the way, the
keyboard in the source editor, the window filling the screen."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QGuiApplication

from explorer.panels.cross_attention import AlignmentView
from explorer.panels.token_heatmap import TokenHeatmap


def test_crowded_key_labels_are_rotated_so_every_key_keeps_its_label(qtbot) -> None:
    heatmap = TokenHeatmap()
    qtbot.addWidget(heatmap)
    heatmap.resize(700, 500)
    heatmap.show()
    tokens = ["wednesday", "november", "thursday", "september"] * 6
    heatmap.show_matrix(np.full((24, 24), 1 / 24), tokens, tokens, (0.0, 1.0), "viridis", 0)
    qtbot.waitUntil(lambda: heatmap.plot.getViewBox().width() > 0)
    heatmap._update_ticks()
    axis = heatmap.plot.getAxis("bottom")
    assert axis.rotated
    assert len(axis._tickLevels[0]) == 24  # a cell ≥ a line wide: every key labelled
    assert axis.maximumHeight() > 60  # room for the rotated labels
    # Few short keys fit side by side: no rotation.
    heatmap.show_matrix(np.full((3, 3), 1 / 3), ["a", "b", "c"], ["a", "b", "c"], (0.0, 1.0), "viridis", 0)
    assert not axis.rotated and len(axis._tickLevels[0]) == 3


def test_alignment_labels_beyond_the_column_keep_the_selected_token_and_strong_links(qtbot) -> None:
    view = AlignmentView()
    qtbot.addWidget(view)
    view.resize(300, 240)
    view.show()
    weights = np.full((80, 80), 0.0)
    weights[np.arange(80), np.arange(80)[::-1]] = 0.2
    weights[37, 11] = 0.9
    view.set_alignment([f"s{i}" for i in range(80)], [f"t{i}" for i in range(80)], weights, 37)
    view.grab()  # paints
    source, target = view.drawn_labels[False], view.drawn_labels[True]
    assert 11 in source and 37 in target
    assert 0 < len(source) < 80 and 0 < len(target) < 80


def test_a_panel_that_does_not_apply_leaves_the_layout_and_comes_back(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder"], text="owl cat", target=None)
    assert window.docks["cross"].isHidden() and "cross" in window.collapsed_panels
    assert not window.containers["cross"].available  # still says why, if shown from the View menu
    assert window.docks["head"].isVisible()
    drive.load(window, checkpoints["encoder-decoder"])
    assert window.docks["cross"].isVisible() and not window.collapsed_panels
    assert window.cross.shown is not None


def test_the_source_editor_has_the_keyboard_with_the_cursor_at_the_end_after_opening(drive, qtbot, window, checkpoints):
    window.activateWindow()
    drive.load(window, checkpoints["encoder-decoder"])
    source = window.input_panel.source
    qtbot.waitUntil(lambda: source.hasFocus() or QGuiApplication.focusObject() is source)
    assert source.textCursor().position() == len(source.toPlainText())


def test_a_first_start_fills_the_available_screen_and_a_remembered_one_does_not(window) -> None:
    window.geometry_restored = False
    window.resize(700, 500)
    window.fill_screen()
    available = window.screen().availableGeometry()
    # As much of the screen as the panels' minimum sizes allow (the offscreen screen is small).
    assert window.geometry().topLeft() == available.topLeft()
    assert window.height() == available.height() and window.width() >= available.width()
    window.geometry_restored = True
    window.resize(1300, 500)
    before = window.geometry()
    window.fill_screen()
    assert window.geometry() == before
