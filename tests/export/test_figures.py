"""Figures as images: sizes, the colours of cells, text in SVG, one-page PDF, request checks."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import replace

import numpy as np
import pytest
from figure_pixels import cell_colours as read_cells
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QImage

from explorer.colormaps import colour_of
from explorer.export import FigureRequest, export_figure, figure_png_bytes, resolved_levels
from explorer.export.figures import build_figure
from explorer.export.raster import MASKED_RGB
from explorer.export.request import distribution
from explorer.token_labels import display_token
from model import AttentionMaps


def decode_png(data: bytes) -> QImage:
    image = QImage()
    assert image.loadFromData(QByteArray(data), "PNG")
    return image


def cell_colours(request: FigureRequest, scale: float) -> np.ndarray:
    """``(Q, K, 3)`` colours read back from the PNG at the centre of every heatmap cell."""
    image = decode_png(figure_png_bytes(request, scale))
    shape = request.trace.attention[request.kind].weights.shape[2:]
    return read_cells(image, build_figure(request).heatmap, shape, scale)


def test_png_decodes_and_its_size_follows_the_scale(trace):
    request = FigureRequest(trace, figure="head", kind="encoder_self", layer=1, head=2)
    figure = build_figure(request)
    sizes = {}
    for scale in (1.0, 2.0, 3.5):
        image = decode_png(figure_png_bytes(request, scale))
        sizes[scale] = (image.width(), image.height())
        assert sizes[scale] == (round(figure.width * scale), round(figure.height * scale))
    assert sizes[1.0][0] > 200 and sizes[1.0][1] > 200
    assert abs(sizes[2.0][0] - 2 * sizes[1.0][0]) <= 1


@pytest.mark.parametrize(
    ("figure", "kind", "head", "colormap"),
    [
        ("head", "encoder_self", 1, "viridis"),
        ("cross", "cross", 3, "magma"),
        ("head", "cross", None, "cividis"),
        # Masked probabilities are a true 0 and get the colour of 0, as in the panels.
        ("head", "decoder_self", 0, "inferno"),
    ],
)
def test_every_cell_has_the_colour_map_colour_of_its_weight(trace, figure, kind, head, colormap):
    request = FigureRequest(trace, figure=figure, kind=kind, layer=1, head=head, colormap=colormap)
    weights = trace.attention[kind].weights[1]  # (H, Q, K)
    matrix = weights.mean(axis=0) if head is None else weights[head]
    colours = cell_colours(request, scale=2.0)
    for (query, key), weight in np.ndenumerate(matrix):
        assert tuple(colours[query, key]) == colour_of(colormap, float(weight), 0.0, 1.0), (query, key, weight)


def test_masked_scores_are_neutral_and_outside_the_default_range(trace):
    request = FigureRequest(trace, figure="head", kind="decoder_self", layer=0, head=1, values="scores")
    scores = trace.attention["decoder_self"].scores[0, 1]
    masked = np.isneginf(scores)
    assert masked.sum() == scores.shape[0] * (scores.shape[0] - 1) // 2  # the causal upper triangle
    low, high = resolved_levels(request)
    every_head = trace.attention["decoder_self"].scores  # one range for the kind, as the panels use
    assert (low, high) == (float(every_head[np.isfinite(every_head)].min()), float(every_head.max()))
    colours = cell_colours(request, scale=1.5)
    for (query, key), score in np.ndenumerate(scores):
        expected = MASKED_RGB if masked[query, key] else colour_of("viridis", float(score), low, high)
        assert tuple(colours[query, key]) == expected
    assert MASKED_RGB != colour_of("viridis", low, low, high)


def test_explicit_levels_set_the_colour_range(trace):
    request = FigureRequest(trace, figure="head", kind="cross", layer=0, head=0, levels=(0.0, 0.25))
    matrix = trace.attention["cross"].weights[0, 0]
    colours = cell_colours(request, scale=2.0)
    for (query, key), weight in np.ndenumerate(matrix):
        assert tuple(colours[query, key]) == colour_of("viridis", float(weight), 0.0, 0.25)


def svg_texts(path) -> list[str]:
    root = ElementTree.parse(path).getroot()
    return ["".join(element.itertext()) for element in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("figure", ["head", "cross"])
def test_svg_is_xml_and_holds_every_token_label_as_text(trace, tmp_path, figure):
    request = FigureRequest(trace, figure=figure, kind="cross", layer=0, head=None)
    path = export_figure(request, tmp_path / "figure.svg")
    texts = svg_texts(path)
    # <s> and </s> must survive XML escaping.
    for token in trace.encoder.tokens + trace.decoder.tokens:
        assert display_token(token) in texts, token
    title = " ".join(texts[:2])
    assert (
        "tiny test model" in title and "ross-attention" in title and "layer 0" in title and "mean over heads" in title
    )


def test_svg_of_the_grid_and_the_distribution_name_layers_heads_and_keys(trace, tmp_path):
    grid = svg_texts(
        export_figure(FigureRequest(trace, "grid", "encoder_self", 0, 0, show_mean_column=True), tmp_path / "g.svg")
    )
    for name in ["layer 0", "layer 1", "head 0", "head 3", "mean"]:
        assert name in grid
    chart = svg_texts(export_figure(FigureRequest(trace, "distribution", "cross", 1, 2, query=4), tmp_path / "d.svg"))
    assert all(display_token(token) in chart for token in trace.encoder.tokens)
    row = trace.attention["cross"].weights[1, 2, 4]
    assert f"{row.max():.3f}" in chart


def test_pdf_is_one_page_of_the_figure_size(trace, tmp_path):
    request = FigureRequest(trace, figure="cross", kind="cross", layer=1, head=0)
    data = export_figure(request, tmp_path / "figure.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)) == 1
    figure = build_figure(request)
    media_box = [float(v) for v in re.search(rb"/MediaBox\s*\[([^\]]*)\]", data).group(1).split()]
    assert media_box[2:] == pytest.approx([figure.width, figure.height], abs=0.01)


def test_grid_with_the_mean_column_is_wider(trace):
    plain = build_figure(FigureRequest(trace, "grid", "decoder_self", 0, 0))
    with_mean = build_figure(FigureRequest(trace, "grid", "decoder_self", 0, 0, show_mean_column=True))
    assert with_mean.width > plain.width and with_mean.height == plain.height


def test_distribution_at_temperature_one_is_the_heads_row(trace):
    request = FigureRequest(trace, "distribution", "decoder_self", layer=1, head=3, query=5)
    row = distribution(request)
    np.testing.assert_allclose(row.probabilities, trace.attention["decoder_self"].weights[1, 3, 5], atol=1e-6)
    assert row.probabilities[6:].sum() == 0 and np.isneginf(row.scores[6:]).all()  # causal: keys after 5
    sharper = distribution(replace(request, temperature=0.25))
    assert sharper.entropy_bits < row.entropy_bits
    np.testing.assert_array_equal(sharper.model_probabilities, trace.attention["decoder_self"].weights[1, 3, 5])
    mean = distribution(replace(request, head=None))
    np.testing.assert_allclose(
        mean.probabilities, trace.attention["decoder_self"].weights[1, :, 5].mean(axis=0), atol=1e-6
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"layer": 2}, "layer 2 is out of range.*layers 0–1"),
        ({"layer": -1}, "layers 0–1"),
        ({"head": 4}, "head 4 is out of range.*heads 0–3"),
        ({"figure": "pie"}, "head, grid, cross, distribution"),
        ({"kind": "decoder_self", "figure": "cross"}, "cross figure shows cross-attention"),
        ({"values": "logits"}, "weights or scores"),
        ({"colormap": "jet"}, "viridis"),
        ({"levels": (1.0, 0.0)}, "low < high"),
        ({"figure": "distribution", "query": 9}, "query 9 is out of range.*0–8"),
        ({"figure": "distribution", "temperature": 0.0}, "positive"),
    ],
)
def test_invalid_requests_name_the_valid_choices(trace, tmp_path, changes, message):
    request = replace(FigureRequest(trace, figure="head", kind="cross", layer=0, head=0), **changes)
    with pytest.raises(ValueError, match=message):
        export_figure(request, tmp_path / "figure.png")
    assert list(tmp_path.iterdir()) == []


def test_a_kind_the_model_lacks_is_refused(trace):
    encoder_only = replace(trace, attention={"encoder_self": trace.attention["encoder_self"]}, decoder=None)
    with pytest.raises(ValueError, match="no cross-attention.*; it has encoder_self"):
        figure_png_bytes(FigureRequest(encoder_only, "head", "cross", 0, 0))


def test_unknown_extension_names_the_supported_ones(trace, tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf"):
        export_figure(FigureRequest(trace, "head", "cross", 0, 0), tmp_path / "figure.jpg")
    assert list(tmp_path.iterdir()) == []


def test_a_scale_that_would_exhaust_memory_is_refused(trace):
    with pytest.raises(ValueError, match="scale"):
        figure_png_bytes(FigureRequest(trace, "head", "cross", 0, 0), scale=math.inf)
    # 48 layers × 16 heads: the grid is about 1000 × 2700 points, 16 000 × 43 000 pixels at 16×.
    tall = np.full((48, 16, 4, 4), 0.25, dtype=np.float32)
    deep = replace(trace, attention={"encoder_self": AttentionMaps(tall, np.zeros_like(tall))})
    deep = replace(deep, encoder=replace(trace.encoder, tokens=trace.encoder.tokens[:4]))
    with pytest.raises(ValueError, match="too large; choose a smaller scale"):
        figure_png_bytes(FigureRequest(deep, "grid", "encoder_self", 0, 0), scale=16.0)
