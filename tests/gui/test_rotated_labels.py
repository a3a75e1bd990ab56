"""Rotated key labels are drawn even when a linked plot's range starts inside the first cell."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPainter, QPicture

from explorer.panels.heatmap import TokenAxisItem


def _drawn_by(paint) -> int:
    picture = QPicture()
    painter = QPainter(picture)
    paint(painter)
    painter.end()
    return picture.size()


def test_rotated_labels_skip_only_the_ticks_outside_the_range(qtbot):
    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    view.resize(600, 300)
    plot = view.addPlot(axisItems={"bottom": TokenAxisItem("bottom")})
    axis = plot.getAxis("bottom")
    ticks = [(index + 0.5, f"token{index}") for index in range(0, 100, 10)]
    axis.set_token_ticks(ticks, set(), rotated=True, label_pixels=40.0)
    plot.setXRange(0.6, 100, padding=0)  # as a linked plot's range can: tick 0.5 falls outside
    view.show()
    qtbot.waitExposed(view)
    specs: dict[str, list] = {}
    _drawn_by(lambda painter: specs.update(ticks=axis.generateDrawSpecs(painter)[1]))
    assert len(specs["ticks"]) == len(ticks) - 1
    with_labels = _drawn_by(lambda painter: axis._draw_rotated(painter, specs["ticks"]))
    without = _drawn_by(lambda painter: axis._draw_rotated(painter, []))
    assert with_labels > without  # the nine ticks in range got their labels


def test_label_widths_are_measured_once_per_font_and_label(qtbot):
    from PySide6.QtGui import QFont, QFontMetricsF

    from explorer.panels import heatmap

    font = QFont()
    font.setPointSize(7)
    labels = [f"word{index}" for index in range(50)]
    assert heatmap.label_widths(labels, font) == [QFontMetricsF(font).horizontalAdvance(label) for label in labels]
    table = heatmap._LABEL_WIDTHS[font.key()]
    measured = len(table)
    # The next keystroke's axis: the same labels and one new token; only that one is measured.
    again = heatmap.label_widths([*labels, "newtoken"], font)
    assert len(table) == measured + 1 and again[:-1] == heatmap.label_widths(labels, font)
    bold = QFont(font)
    bold.setBold(True)
    assert heatmap.label_widths(["word1"], bold) == [QFontMetricsF(bold).horizontalAdvance("word1")]  # its own table
