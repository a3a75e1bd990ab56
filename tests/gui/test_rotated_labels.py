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
