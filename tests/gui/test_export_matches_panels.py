"""An export of a panel draws exactly what the panel was given, array for array.

For each panel: the view object the panel was shown, the request the export action builds
from the window's current selection, and the view that request's figure draws. The app's
export draws the panel's own object; a request without it (the command line) makes one
with the same function, and its arrays are equal to the panel's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from explorer.core.views import CrossView, DistributionView, GridView, HeadView
from explorer.export.figures import build_figure
from explorer.export.request import figure_view

SELECTIONS = [
    {"kind": "encoder_self", "layer": 1, "head": 0, "query": 2},
    {"kind": "cross", "layer": 0, "head": None, "query": 1, "values": "scores", "colormap": "magma"},
    {"kind": "decoder_self", "layer": 1, "head": 1, "query": 3, "hide_special": True, "temperature": 2.5},
]


@pytest.fixture
def shown(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])

    def select(changes: dict) -> None:
        window.select(**changes)

    return select


def _export_view(window, panel: str):
    request = window.exports.request_for(panel)
    build_figure(request)  # the figure can be drawn from it
    return request, figure_view(request)


def _assert_same_arrays(first, second, names: tuple[str, ...]) -> None:
    for name in names:
        left, right = getattr(first, name), getattr(second, name)
        if left is None or right is None:
            assert left is None and right is None, name
        else:
            np.testing.assert_array_equal(left, right, err_msg=name)


@pytest.mark.parametrize("changes", SELECTIONS)
def test_the_head_export_draws_the_head_panels_view(shown, window, changes) -> None:
    shown(changes)
    panel_view = window.head_detail.shown
    assert isinstance(panel_view, HeadView)
    np.testing.assert_array_equal(window.head_detail.heatmap.matrix, panel_view.matrix)
    request, export_view = _export_view(window, "head")
    assert export_view is panel_view
    assert export_view.levels == window.state.levels()
    fields = ("weights", "scores")
    _assert_same_arrays(figure_view(replace(request, view=None)), panel_view, fields)
    assert figure_view(replace(request, view=None)).key_axis.tokens == panel_view.key_axis.tokens


@pytest.mark.parametrize("changes", SELECTIONS)
def test_the_distribution_export_draws_the_distribution_panels_view(shown, window, changes) -> None:
    shown(changes)
    panel_view = window.distribution.shown
    assert isinstance(panel_view, DistributionView)
    request, export_view = _export_view(window, "distribution")
    assert export_view is panel_view
    fields = ("probabilities", "model_probabilities", "scores", "special")
    from_request = figure_view(replace(request, view=None))
    _assert_same_arrays(from_request, panel_view, fields)
    assert from_request.keys == panel_view.keys and from_request.entropy_bits == panel_view.entropy_bits


@pytest.mark.parametrize("changes", SELECTIONS)
def test_the_grid_export_draws_the_overview_panels_view(shown, window, changes) -> None:
    shown(changes)
    panel_view = window.grid.shown
    assert isinstance(panel_view, GridView)
    request, export_view = _export_view(window, "grid")
    assert export_view is panel_view
    _assert_same_arrays(figure_view(replace(request, view=None)), panel_view, ("thumbnails", "means"))


@pytest.mark.parametrize("changes", SELECTIONS)
def test_the_cross_export_draws_the_cross_attention_panels_view(shown, window, changes) -> None:
    shown(changes)
    panel_view = window.cross.shown
    assert isinstance(panel_view, CrossView)
    np.testing.assert_array_equal(window.cross.alignment.weights, panel_view.weights)
    request, export_view = _export_view(window, "cross")
    assert export_view is panel_view
    _assert_same_arrays(figure_view(replace(request, view=None)), panel_view, ("weights", "scores"))
