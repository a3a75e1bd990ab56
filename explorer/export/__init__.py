"""Figures (PNG, SVG, PDF) and raw data (NPZ, CSV) of an attention trace, for the app and the CLI.

    from explorer.export import FigureRequest, export_figure, export_trace_data
    request = FigureRequest(trace, figure="cross", kind="cross", layer=1, head=2)
    export_figure(request, "cross.pdf")
    export_trace_data(trace, "trace.csv")

Figures are painted with QPainter in points, the same layout for every format; the
request, its validation and the data writers need no Qt, so they import without it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .data import CSV_COLUMNS, DATA_FORMATS, export_trace_data
from .files import IMAGE_FORMATS
from .request import FIGURES, VALUES, FigureRequest, resolved_levels, validate


def export_figure(request: FigureRequest, path: str | os.PathLike, scale: float = 2.0) -> Path:
    """Write the request's figure to ``path`` (.png, .svg or .pdf, from the extension), atomically.

    ``scale`` is PNG pixels per point; SVG and PDF are vector and ignore it. Raises
    ``ValueError`` for an invalid request or an unknown extension and ``OSError`` when
    the file cannot be written; an existing file is then left as it was.
    """
    from .writers import export_figure as export

    return export(request, path, scale)


def figure_png_bytes(request: FigureRequest, scale: float = 2.0) -> bytes:
    """The request's figure as PNG bytes, e.g. for the clipboard."""
    from .writers import figure_png_bytes as render

    return render(request, scale)


__all__ = [
    "CSV_COLUMNS",
    "DATA_FORMATS",
    "FIGURES",
    "IMAGE_FORMATS",
    "VALUES",
    "FigureRequest",
    "export_figure",
    "export_trace_data",
    "figure_png_bytes",
    "resolved_levels",
    "validate",
]
