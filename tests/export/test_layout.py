"""The figure arithmetic that needs no display: label thinning, ticks, colour lookup, thumbnails."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from explorer.colormaps import colour_of
from explorer.export.raster import MASKED_RGB, block_maximum, to_rgb
from explorer.export.ticks import format_ticks, label_step, labelled_indices, nice_ticks, token_label


def test_labels_are_thinned_so_they_never_overlap():
    assert labelled_indices(12, label_step(12, pitch=28.0, label_height=11.0)) == list(range(12))
    step = label_step(512, pitch=560 / 512, label_height=11.0)
    shown = labelled_indices(512, step)
    assert all(later - earlier >= 11.0 / (560 / 512) for earlier, later in zip(shown, shown[1:]))
    assert 40 <= len(shown) <= 52


def test_priority_labels_are_kept_and_their_neighbours_dropped():
    shown = labelled_indices(100, 10, priority=[37])
    assert 37 in shown and 30 not in shown and 40 not in shown
    assert all(b - a >= 10 for a, b in zip(shown, shown[1:]))


def test_token_labels_show_whitespace_and_are_elided():
    assert token_label("Ġhello") == "␣hello"
    assert token_label("supercalifragilisticexpialidocious") == "supercalifragil…"


def test_ticks_are_round_and_inside_the_range():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(-9.76, 14.74)
    assert ticks == [-5.0, 0.0, 5.0, 10.0]
    assert len(set(format_ticks(nice_ticks(3.0, 3.0001)))) == len(nice_ticks(3.0, 3.0001))


def test_colours_match_colour_of_with_non_finite_cells_neutral():
    values = np.array([[0.0, 0.5, -np.inf], [-3.0, 7.0, np.nan]])
    rgb = to_rgb(values, "plasma", (-1.0, 2.0))
    for (row, column), value in np.ndenumerate(values):
        expected = colour_of("plasma", value, -1.0, 2.0) if np.isfinite(value) else MASKED_RGB
        assert tuple(rgb[row, column]) == expected


def test_thumbnails_keep_a_one_token_diagonal_visible():
    size = 512
    values = np.where(np.tril(np.ones((size, size), dtype=bool)), np.eye(size), -np.inf)  # causal scores
    small = block_maximum(values, max_side=200)
    assert small.shape == (171, 171)  # blocks of 3
    assert (np.diag(small) == 1.0).all()
    assert np.isneginf(small[0, 5]) and small[5, 0] == 0.0


def test_request_and_data_modules_import_without_qt():
    code = "import sys, explorer.export, explorer.export.data; assert 'PySide6' not in sys.modules, 'Qt imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
