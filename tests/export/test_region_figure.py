"""Head figures of a region (the zoomed view's) and of a head too long to draw cell by cell."""

from __future__ import annotations

import numpy as np
from figure_pixels import cell_colours as read_cells
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QImage

from explorer.colormaps import colour_of
from explorer.export import FigureRequest, figure_png_bytes
from explorer.export import heatmap_figures
from explorer.export.figures import build_figure
from explorer.export.heatmap_figures import HeatmapPanel
from recomputed import recomputed_trace


def decode_png(data: bytes) -> QImage:
    image = QImage()
    assert image.loadFromData(QByteArray(data), "PNG")
    return image


def test_a_region_figure_draws_exactly_the_cells_of_that_region(trace):
    region = (slice(2, 7), slice(3, 10))
    request = FigureRequest(recomputed_trace(trace), "head", "cross", layer=1, head=2, region=region)
    panel = HeatmapPanel.build(request)
    weights = trace.attention["cross"].weights[1, 2, 2:7, 3:10]
    assert panel.rgb.shape[:2] == weights.shape
    assert len(panel.rows.labels) == 5 and panel.rows.labels[0].strip() != ""
    assert "rows 2–6, keys 3–9" in panel.column_title
    image = decode_png(figure_png_bytes(request, 2.0))
    colours = read_cells(image, build_figure(request).heatmap, weights.shape, 2.0)
    for (row, column), weight in np.ndenumerate(weights):
        assert np.abs(colours[row, column].astype(int) - colour_of("viridis", float(weight), 0.0, 1.0)).max() <= 2


def test_a_head_beyond_the_exact_size_is_pooled_and_says_so(trace, monkeypatch):
    monkeypatch.setattr(heatmap_figures, "FIGURE_EXACT_CELLS", 20)
    monkeypatch.setattr(heatmap_figures, "FIGURE_SIDE", 4)
    request = FigureRequest(recomputed_trace(trace), "head", "encoder_self", layer=0, head=1)
    panel = HeatmapPanel.build(request)
    assert panel.rgb.shape[:2] == (4, 4)
    assert "max-pooled to 4 × 4 cells" in panel.column_title
    assert panel.rows.labels[:2] == ["0", "3"]  # each pooled row: its first token position


def test_the_export_command_draws_a_region_of_rows_and_keys(checkpoint, input_arguments, tmp_path, capsys):
    from explorer.cli import main

    out = tmp_path / "region.png"
    argv = ["export", "--checkpoint", str(checkpoint), *input_arguments, "--kind", "encoder_self", "--layer", "1",
            "--head", "2", "--rows", "2-6", "--keys", "3-9", "--out", str(out)]
    assert main(argv) == 0 and out.exists()
    assert main([*argv[:-2], "--rows", "6-2", "--out", str(out)]) == 1
    assert "--rows takes a run of token positions" in capsys.readouterr().err
