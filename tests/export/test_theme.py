"""``export --theme``: figures keep a light page unless a dark one is asked for."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from explorer.cli import main
from explorer.export import FigureRequest
from explorer.export.canvas import PAGE_COLOURS
from explorer.export.figures import build_figure
from explorer.export.writers import png_bytes
from figure_pixels import cell_colours


def _pixels(image: QImage) -> np.ndarray:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())  # (H, padded row bytes)
    return rows[:, : 3 * rgb.width()].reshape(rgb.height(), rgb.width(), 3).copy()  # a copy outlives ``rgb``


def _rgb(colour) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


@pytest.mark.parametrize("figure", ["head", "grid", "cross", "distribution"])
def test_a_dark_page_has_dark_paper_light_text_and_the_same_cells(trace, figure):
    kind = "cross" if figure == "cross" else "encoder_self"
    light_request = FigureRequest(trace, figure, kind, 1, 0 if figure != "grid" else None)
    light = QImage.fromData(png_bytes(build_figure(light_request), scale=1))
    dark_figure = build_figure(FigureRequest(trace, figure, kind, 1, 0 if figure != "grid" else None, theme="dark"))
    dark = QImage.fromData(png_bytes(dark_figure, scale=1))
    assert (dark.width(), dark.height()) == (light.width(), light.height())  # the same layout

    light_pixels, dark_pixels = _pixels(light), _pixels(dark)
    assert tuple(light_pixels[1, 1]) == _rgb(PAGE_COLOURS["light"].paper)
    assert tuple(dark_pixels[1, 1]) == _rgb(PAGE_COLOURS["dark"].paper)
    # The title's ink: the brightest pixels of the top band are light on the dark page.
    title_band = dark_pixels[: dark.height() // 8].reshape(-1, 3).astype(int).sum(axis=1)
    assert title_band.max() >= sum(_rgb(PAGE_COLOURS["dark"].ink)) - 30
    if dark_figure.heatmap is not None:
        view = trace.attention[kind]
        shape = view.weights.shape[2:]
        np.testing.assert_array_equal(
            cell_colours(dark, dark_figure.heatmap, shape, 1.0), cell_colours(light, dark_figure.heatmap, shape, 1.0)
        )


def test_the_command_line_takes_the_theme_and_refuses_an_unknown_one(checkpoint, input_arguments, tmp_path, capsys):
    out = tmp_path / "dark.png"
    arguments = ["export", "--checkpoint", str(checkpoint), *input_arguments, "--kind", "cross", "--head", "0"]
    assert main([*arguments, "--out", str(out), "--theme", "dark", "--scale", "1"]) == 0
    assert tuple(_pixels(QImage(str(out)))[1, 1]) == _rgb(PAGE_COLOURS["dark"].paper)
    assert main([*arguments, "--out", str(tmp_path / "sepia.png"), "--theme", "sepia"]) != 0
    assert "invalid choice: 'sepia'" in capsys.readouterr().err


def test_a_figure_request_refuses_an_unknown_theme(trace):
    with pytest.raises(ValueError, match="unknown theme 'sepia'; choose one of light, dark"):
        build_figure(FigureRequest(trace, "head", "encoder_self", 0, 0, theme="sepia"))
