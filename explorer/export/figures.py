"""From a request to a laid-out figure: validates it and picks the figure kind."""

from __future__ import annotations

import dataclasses

from .canvas import Figure, ensure_application
from .distribution_figure import distribution_figure
from .grid_figure import grid_figure
from .heatmap_figures import aggregate_figure, cross_figure, head_figure
from .request import FigureRequest, validate

BUILDERS = {
    "head": head_figure,
    "cross": cross_figure,
    "grid": grid_figure,
    "distribution": distribution_figure,
    "aggregate": aggregate_figure,
}


def build_figure(request: FigureRequest) -> Figure:
    """Validate ``request`` and lay its figure out in points."""
    validate(request)
    ensure_application()  # fonts need a GUI application
    return dataclasses.replace(BUILDERS[request.figure](request), theme=request.theme)
