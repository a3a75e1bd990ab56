"""The diff figure: A, B and B − A written as PNG, SVG and PDF, with its colours and its refusals."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from figure_pixels import cell_colours as read_cells
from PySide6.QtCore import QByteArray
from PySide6.QtGui import QImage

from explorer import colormaps
from explorer.analysis.compare import ComparisonError
from explorer.export.diff_figure import diff_figure, diff_matrices, export_diff_figure
from explorer.export.writers import png_bytes
from model import load_checkpoint
from model.trace import AttentionMaps, TokenAxis, Trace

SECOND_TEXT = "date: thursday, 26 november 2026"  # as many tokens as SOURCE_TEXT
LABELS = ("“wednesday”", "“thursday”")


@pytest.fixture
def target_text(input_arguments) -> str:
    """The target the ``trace`` fixture teacher-forces, so B's decoder side matches A's."""
    return input_arguments[input_arguments.index("--target") + 1]


@pytest.fixture
def second_trace(checkpoint, target_text):
    return load_checkpoint(checkpoint).trace(SECOND_TEXT, target=target_text)


def test_png_size_follows_the_scale_and_difference_cells_have_their_diverging_colour(trace, second_trace, tmp_path):
    figure = diff_figure(trace, second_trace, "cross", 1, 2, LABELS)
    path = export_diff_figure(trace, second_trace, "cross", 1, 2, tmp_path / "diff.png", labels=LABELS, scale=2.0)
    image = QImage()
    assert image.loadFromData(QByteArray(path.read_bytes()), "PNG")
    assert (image.width(), image.height()) == (round(figure.width * 2), round(figure.height * 2))
    difference = second_trace.attention["cross"].weights[1, 2] - trace.attention["cross"].weights[1, 2]
    extent = float(np.abs(difference).max())
    assert extent > 0
    rect = figure.heatmap
    n_queries, n_keys = difference.shape
    assert rect.width() == pytest.approx(rect.height() * n_keys / n_queries)
    colours = read_cells(image, rect, difference.shape, 2.0)
    expected = np.array(
        [[colormaps.colour_of(colormaps.DIVERGING, float(value), -extent, extent) for value in row] for row in difference]
    )
    assert np.abs(colours - expected).max() <= 2


def test_svg_and_pdf_carry_the_labels_and_titles(trace, second_trace, tmp_path):
    svg = export_diff_figure(trace, second_trace, "encoder_self", 0, None, tmp_path / "diff.svg", labels=LABELS)
    text = svg.read_text(encoding="utf-8")
    for expected in ("A: “wednesday”", "B: “thursday”", "B − A", "layer 0, mean over heads", "attention weight", "tiny test model"):
        assert expected in text
    # Both inputs' distinct tokens label their own map.
    assert "wednesday" in text and "thursday" in text
    pdf = export_diff_figure(trace, second_trace, "cross", 1, 0, tmp_path / "diff.pdf", labels=LABELS)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_the_difference_map_is_b_minus_a_and_hiding_special_keys_renormalises(trace, second_trace):
    matrices = diff_matrices(trace, second_trace, "encoder_self", 1, 3)
    a = trace.attention["encoder_self"].weights[1, 3]
    b = second_trace.attention["encoder_self"].weights[1, 3]
    np.testing.assert_allclose(matrices.difference, b - a, atol=1e-6)
    hidden = matrices.axes_a[1].special
    assert hidden.any()
    filtered = diff_matrices(trace, second_trace, "encoder_self", 1, 3, hide_special=True)
    kept_a = a[:, ~hidden] / a[:, ~hidden].sum(axis=1, keepdims=True)
    kept_b = b[:, ~hidden] / b[:, ~hidden].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(filtered.a, kept_a, atol=1e-6)
    np.testing.assert_allclose(filtered.difference, kept_b - kept_a, atol=1e-6)
    assert len(filtered.axes_b[1].tokens) == int((~hidden).sum())
    # The filtered mean over heads renormalises each head, then averages.
    mean = diff_matrices(trace, second_trace, "cross", 1, None, hide_special=True)
    keep = ~(np.asarray(trace.encoder.special) | np.asarray(trace.encoder.padding))

    def filtered_mean(weights: np.ndarray) -> np.ndarray:
        heads = weights[1][:, :, keep]  # (H, Q, kept)
        return (heads / heads.sum(axis=-1, keepdims=True)).mean(axis=0)

    np.testing.assert_allclose(mean.a, filtered_mean(trace.attention["cross"].weights), atol=1e-6)
    np.testing.assert_allclose(
        mean.difference,
        filtered_mean(second_trace.attention["cross"].weights) - filtered_mean(trace.attention["cross"].weights),
        atol=1e-6,
    )


def _deep_trace(seed: int, layers: int, heads: int, tokens: int) -> Trace:
    """An encoder trace of float16 weights, as a half-precision model records them."""
    weights = np.random.default_rng(seed).dirichlet(np.ones(tokens), size=(layers, heads, tokens)).astype(np.float16)
    axis = TokenAxis(
        ids=np.arange(tokens), tokens=[f"t{i}" for i in range(tokens)],
        special=np.zeros(tokens, dtype=bool), padding=np.zeros(tokens, dtype=bool),
    )
    return Trace("deep", "encoder", axis, None, {"encoder_self": AttentionMaps(weights, np.zeros_like(weights))})


def test_the_matrices_of_one_head_need_no_pass_over_every_layer():
    layers, heads, tokens = 48, 2, 64
    a, b = _deep_trace(1, layers, heads, tokens), _deep_trace(2, layers, heads, tokens)
    tracemalloc.start()  # numpy reports its array buffers to tracemalloc
    try:
        matrices = diff_matrices(a, b, "encoder_self", layers - 1, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected = [trace.attention["encoder_self"].weights[-1].astype(np.float32).mean(axis=0) for trace in (a, b)]
    np.testing.assert_allclose(matrices.difference, expected[1] - expected[0], atol=1e-6)
    one_layer = heads * tokens * tokens * 4  # bytes of one layer in float32
    # Checking that the traces can be compared costs nothing; only the layer drawn is
    # converted (a few one-layer temporaries), never all 48.
    assert peak < 8 * one_layer


def test_refusals_are_one_sentence_and_leave_no_file(checkpoint, trace, second_trace, target_text, tmp_path):
    longer = load_checkpoint(checkpoint).trace("date: thursday, 26 november 20266", target=target_text)
    out = tmp_path / "diff.png"
    with pytest.raises(ComparisonError, match="encoder sides have 12 and 13 tokens"):
        export_diff_figure(trace, longer, "encoder_self", 0, 0, out)
    with pytest.raises(ValueError, match=r"layer 5 is out of range: .* has layers 0–1"):
        export_diff_figure(trace, second_trace, "cross", 5, 0, out)
    with pytest.raises(ValueError, match=r"head 9 is out of range"):
        export_diff_figure(trace, second_trace, "cross", 0, 9, out)
    with pytest.raises(ValueError, match="cannot tell the image format"):
        export_diff_figure(trace, second_trace, "cross", 0, 0, tmp_path / "diff.bmp")
    assert not any(tmp_path.iterdir())


def test_identical_traces_draw_the_centre_of_the_diverging_map(trace):
    figure = diff_figure(trace, trace, "decoder_self", 0, 1)
    image = QImage()
    assert image.loadFromData(QByteArray(png_bytes(figure, 1.0)), "PNG")
    centre = figure.heatmap.center()
    pixel = image.pixelColor(int(centre.x()), int(centre.y()))
    assert (pixel.red(), pixel.green(), pixel.blue()) == colormaps.colour_of(colormaps.DIVERGING, 0.0, -1.0, 1.0)


def test_the_export_command_draws_a_second_input_and_refuses_other_token_counts(
    checkpoint, input_arguments, trace, second_trace, tmp_path, capsys
):
    from explorer.cli import main

    out = tmp_path / "diff.svg"
    common = ["export", "--checkpoint", str(checkpoint), *input_arguments, "--kind", "cross", "--layer", "1", "--head", "2"]
    assert main([*common, "--compare-text", SECOND_TEXT, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "B − A" in text and "wednesday" in text and "thursday" in text and "tiny test model" in text
    # The command's figure is the one the API draws from the two traces.
    expected = tmp_path / "expected.svg"
    export_diff_figure(trace, second_trace, "cross", 1, 2, expected, labels=("“{}”".format(input_arguments[1]), f"“{SECOND_TEXT}”"))
    assert text == expected.read_text(encoding="utf-8")
    capsys.readouterr()
    refused = tmp_path / "refused.png"
    assert main([*common, "--compare-text", "date: 2 may 2020", "--out", str(refused)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("attention-explorer: error:") and "tokens" in error and "\n" not in error
    assert not refused.exists()
    assert main([*common, "--compare-text", SECOND_TEXT, "--head", "all", "--out", str(refused)]) == 1
    assert "--head all" in capsys.readouterr().err


def test_the_export_command_compares_two_checkpoints_on_one_input(checkpoint, input_arguments, tmp_path):
    from tiny_models import task_tokenizer, tiny_config, tiny_network

    from explorer.cli import main
    from model import save_checkpoint

    config = tiny_config("encoder-decoder")
    second = save_checkpoint(tmp_path / "second", tiny_network(config, seed=4), task_tokenizer(config.max_positions), name="second model")
    out = tmp_path / "checkpoints.svg"
    arguments = ["export", "--checkpoint", str(checkpoint), *input_arguments, "--kind", "encoder_self", "--head", "mean"]
    assert main([*arguments, "--compare-checkpoint", str(second), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "A: tiny test model" in text and "B: second model" in text
