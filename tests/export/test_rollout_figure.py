"""The aggregate figure (rollout, flow, mean, max) and ``--hide-special`` on every figure."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from figure_pixels import cell_colours as read_cells
from PySide6.QtGui import QImage

from explorer.analysis import aggregation
from explorer.analysis.aggregation import FLOW_NAME, ROLLOUT_NAME, layer_max, rollout, widest_path_flow
from explorer.cli import main
from explorer.colormaps import colour_of
from explorer.export import FigureRequest, export_figure
from explorer.export.figures import build_figure


@pytest.fixture
def export(checkpoint: Path, input_arguments: list[str]) -> Callable[..., int]:
    """Run ``attention-explorer export`` in this process on the ``trace`` fixture's input; its exit code."""

    def run(out: Path, *options: str) -> int:
        return main(["export", "--checkpoint", str(checkpoint), *input_arguments, "--out", str(out), *options])

    return run


def svg_texts(path: Path) -> list[str]:
    root = ElementTree.parse(path).getroot()
    return ["".join(element.itertext()) for element in root.iter("{http://www.w3.org/2000/svg}text")]


def cell_colours(png: Path, request: FigureRequest, shape: tuple[int, int], scale: float) -> np.ndarray:
    """``(Q, K, 3)`` colours read from ``png`` at the centre of every cell of ``request``'s heatmap."""
    return read_cells(QImage(str(png)), build_figure(request).heatmap, shape, scale)


def assert_cells_show(colours: np.ndarray, matrix: np.ndarray) -> None:
    for (query, key), value in np.ndenumerate(matrix):
        assert tuple(colours[query, key]) == colour_of("viridis", float(value), 0.0, 1.0), (query, key, value)


def test_rollout_figure_shows_the_rollout_through_every_layer(export, trace, tmp_path, capsys):
    out = tmp_path / "rollout.png"
    assert export(out, "--kind", "encoder_self", "--aggregate", "rollout", "--scale", "2") == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}")
    expected = rollout(trace.attention["encoder_self"].weights)[-1]  # no --layer: layers 0 to the last
    request = FigureRequest(trace, "aggregate", "encoder_self", 1, None, aggregate="rollout")
    assert_cells_show(cell_colours(out, request, expected.shape, 2.0), expected)


def test_svg_title_names_the_method_and_the_layers(export, tmp_path):
    out = tmp_path / "rollout.svg"
    assert export(out, "--kind", "encoder_self", "--aggregate", "rollout", "--layer", "0") == 0
    title, subtitle = svg_texts(out)[:2]
    assert title == "Encoder self-attention · attention rollout (layer 0)"
    assert ROLLOUT_NAME in subtitle and "tiny test model" in subtitle
    flow = tmp_path / "flow.svg"
    assert export(flow, "--kind", "decoder_self", "--aggregate", "flow") == 0
    title, subtitle = svg_texts(flow)[:2]
    assert title == "Decoder self-attention · attention flow, widest-path approximation (layers 0–1)"
    assert FLOW_NAME in subtitle


def test_flow_and_max_figures_hold_their_values(trace, tmp_path):
    weights = trace.attention["decoder_self"].weights
    for method, expected in (("flow", widest_path_flow(weights)[1]), ("max", layer_max(weights)[1])):
        request = FigureRequest(trace, "aggregate", "decoder_self", 1, None, aggregate=method)
        png = export_figure(request, tmp_path / f"{method}.png", scale=2.0)
        assert_cells_show(cell_colours(png, request, expected.shape, 2.0), expected)


def test_pdf_of_a_rollout_is_written(export, tmp_path):
    out = tmp_path / "rollout.pdf"
    assert export(out, "--kind", "encoder_self", "--aggregate", "rollout") == 0
    assert out.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--kind", "cross", "--aggregate", "rollout"], "needs self-attention"),
        (["--kind", "encoder_self", "--aggregate", "mean", "--scores"], "cannot be used with --scores"),
        (["--kind", "encoder_self", "--aggregate", "flow", "--layer", "7"], "layer 7 is out of range"),
    ],
)
def test_impossible_aggregates_give_one_line(export, tmp_path, capsys, options, message):
    out = tmp_path / "figure.png"
    assert export(out, *options) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(message, lines[0])
    assert not out.exists()


def test_flow_above_the_token_limit_is_refused_in_one_line(export, trace, tmp_path, capsys, monkeypatch):
    n_tokens = len(trace.encoder)
    monkeypatch.setattr(aggregation, "FLOW_TOKEN_LIMIT", n_tokens - 1)
    out = tmp_path / "flow.png"
    assert export(out, "--kind", "encoder_self", "--aggregate", "flow") != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"Attention flow is limited to {n_tokens - 1} tokens and this input has {n_tokens}" in lines[0]
    assert not out.exists()
    # At the limit it is drawn.
    monkeypatch.setattr(aggregation, "FLOW_TOKEN_LIMIT", n_tokens)
    assert export(out, "--kind", "encoder_self", "--aggregate", "flow") == 0 and out.exists()


def test_hide_special_drops_the_end_token_from_a_head_figure(export, trace, tmp_path):
    out = tmp_path / "head.png"
    assert export(out, "--kind", "cross", "--layer", "1", "--head", "2", "--hide-special", "--scale", "2") == 0
    keep = ~(trace.encoder.special | trace.encoder.padding)
    assert 0 < keep.sum() < len(keep)
    kept = trace.attention["cross"].weights[1, 2][:, keep].astype(np.float64)
    expected = kept / kept.sum(axis=1, keepdims=True)
    request = FigureRequest(trace, "cross", "cross", 1, 2, hide_special=True)
    assert_cells_show(cell_colours(out, request, expected.shape, 2.0), expected)
    svg = export_figure(request, tmp_path / "head.svg")
    texts = svg_texts(svg)
    assert "special tokens hidden" in texts[1]
    # Each hidden encoder token labelled a heatmap column and a source of the alignment drawing.
    unfiltered = svg_texts(export_figure(FigureRequest(trace, "cross", "cross", 1, 2), tmp_path / "all.svg"))
    for token in {token for token, kept_key in zip(trace.encoder.tokens, keep) if not kept_key}:
        hidden_here = sum(1 for t, kept_key in zip(trace.encoder.tokens, keep) if t == token and not kept_key)
        assert texts.count(token) == unfiltered.count(token) - 2 * hidden_here


@pytest.mark.parametrize("figure", ["grid", "distribution", "head"])
def test_hide_special_applies_to_every_figure_kind(trace, tmp_path, figure):
    request = FigureRequest(trace, figure, "decoder_self", 1, 0, query=3, hide_special=True, show_mean_column=True)
    plain = build_figure(FigureRequest(trace, figure, "decoder_self", 1, 0, query=3, show_mean_column=True))
    filtered = build_figure(request)
    # Two of the decoder's keys are special (<s> and </s>): the figure loses their columns.
    assert filtered.width < plain.width
    assert "special tokens hidden" in " ".join(svg_texts(export_figure(request, tmp_path / f"{figure}.svg"))[:2])


def test_rollout_with_hidden_special_tokens_is_renormalised(trace, tmp_path):
    request = FigureRequest(trace, "aggregate", "encoder_self", 1, None, aggregate="rollout", hide_special=True)
    keep = ~(trace.encoder.special | trace.encoder.padding)
    kept = rollout(trace.attention["encoder_self"].weights)[1][:, keep].astype(np.float64)
    expected = kept / kept.sum(axis=1, keepdims=True)
    png = export_figure(request, tmp_path / "rollout.png", scale=2.0)
    assert_cells_show(cell_colours(png, request, expected.shape, 2.0), expected)
