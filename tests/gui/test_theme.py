"""Plots follow the desktop's palette: dark backgrounds and light text on a dark desktop."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from explorer.panels.cross_attention import AlignmentView
from explorer.panels.theme import DARK, LIGHT, plot_theme
from explorer.panels.token_heatmap import TokenHeatmap


@pytest.fixture
def dark_palette(qapp):
    before = QApplication.palette()
    palette = QPalette(before)
    palette.setColor(QPalette.ColorRole.Window, QColor("#2b2b2b"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#e0e0e0"))
    QApplication.setPalette(palette)
    yield
    QApplication.setPalette(before)


def test_a_light_desktop_gets_light_plots(qtbot) -> None:
    if plot_theme() is not LIGHT:
        pytest.skip("this test session runs on a dark palette")
    heatmap = TokenHeatmap()
    qtbot.addWidget(heatmap)
    assert heatmap.view.backgroundBrush().color() == QColor(LIGHT.background)


def test_a_dark_desktop_gets_dark_plots_axes_and_labels(qtbot, dark_palette) -> None:
    assert plot_theme() is DARK
    heatmap = TokenHeatmap()
    alignment = AlignmentView()
    qtbot.addWidget(heatmap)
    qtbot.addWidget(alignment)
    assert heatmap.view.backgroundBrush().color() == QColor(DARK.background)
    axis = heatmap.plot.getAxis("bottom")
    assert axis.pen().color() == QColor(DARK.foreground) and axis.textPen().color() == QColor(DARK.foreground)
    assert alignment.theme is DARK


def test_switching_the_desktop_to_dark_recolours_the_running_window(qtbot, drive, window) -> None:
    """A desktop that turns dark while the app runs: plots, axes, chips and the alignment follow."""
    drive.load(window, None)  # the bundled model: every panel has a trace
    if plot_theme() is not LIGHT:
        pytest.skip("this test session runs on a dark palette")
    grid_view = window.grid.view
    axis = window.distribution.probability_plot.getAxis("left")
    assert grid_view.backgroundBrush().color() == QColor(LIGHT.background)
    before = QApplication.palette()
    palette = QPalette(before)
    palette.setColor(QPalette.ColorRole.Window, QColor("#2b2b2b"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#e0e0e0"))
    try:
        QApplication.setPalette(palette)
        qtbot.waitUntil(lambda: grid_view.backgroundBrush().color() == QColor(DARK.background))
        assert window.head_detail.heatmap.view.backgroundBrush().color() == QColor(DARK.background)
        assert axis.pen().color() == QColor(DARK.foreground) and axis.textPen().color() == QColor(DARK.foreground)
        assert window.input_panel.tokens.canvas.theme is DARK and window.cross.alignment.theme is DARK
        assert window.cross.alignment.palette().color(window.cross.alignment.backgroundRole()) == QColor(DARK.background)
    finally:
        QApplication.setPalette(before)
    qtbot.waitUntil(lambda: grid_view.backgroundBrush().color() == QColor(LIGHT.background))
