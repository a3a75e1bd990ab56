"""Export does only the work its format needs: raster pages take the cells as they are,
vector pages embed no more pixels than keep the cells sharp, PNG is written in one pass."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from explorer.export import FigureRequest, figure_png_bytes
from explorer.export import canvas
from explorer.export.figures import build_figure
from explorer.export.writers import encode_png, svg_bytes


def _embedded_sizes(monkeypatch) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    original = canvas.QPainter.drawImage

    def recording(painter, rect, image, *args):
        sizes.append((image.width(), image.height()))
        return original(painter, rect, image, *args)

    monkeypatch.setattr(canvas.QPainter, "drawImage", recording)
    return sizes


def test_a_png_page_draws_each_heatmap_at_its_own_cells(trace, monkeypatch) -> None:
    sizes = _embedded_sizes(monkeypatch)
    request = FigureRequest(trace, figure="grid", kind="encoder_self", layer=0, head=None, show_mean_column=True)
    figure_png_bytes(request, 2.0)
    n_tokens = len(trace.encoder)
    assert sizes and all(max(size) <= n_tokens for size in sizes[:-1])  # no upsampling (the last is the colour bar)


def test_an_svg_grid_embeds_thumbnails_at_twice_their_points_at_most(trace, monkeypatch) -> None:
    sizes = _embedded_sizes(monkeypatch)
    request = FigureRequest(trace, figure="grid", kind="encoder_self", layer=0, head=None, show_mean_column=True)
    figure = build_figure(request)
    svg_bytes(figure)
    assert sizes and all(width <= 8 * len(trace.encoder) for width, _height in sizes)


def test_the_png_encoder_round_trips_pixels_and_resolution() -> None:
    image = QImage(7, 5, QImage.Format.Format_RGB32)
    rng = np.random.default_rng(0)
    for y in range(5):
        for x in range(7):
            image.setPixel(x, y, int(rng.integers(0, 1 << 24)) | 0xFF000000)
    decoded = QImage.fromData(encode_png(image, 5669), "PNG")
    assert decoded.dotsPerMeterX() == 5669 and decoded.size() == image.size()
    assert all(decoded.pixel(x, y) == image.pixel(x, y) for y in range(5) for x in range(7))
