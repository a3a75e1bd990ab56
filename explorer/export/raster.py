"""Matrices to RGB pixels: the colour map lookup, masked cells, down- and upsampling.

Plain numpy. The lookup reproduces ``explorer.colormaps.colour_of`` exactly, so a cell in
an exported figure has the colour its panel gives the same value.
"""

from __future__ import annotations

import math

import numpy as np

from .. import colormaps
from ..core.mosaic import MASKED_RGBA
from ..core.numeric import max_pool

# Cells without a finite value — masked scores (-inf), a key the query could not see — are
# drawn in this neutral grey, apart from every colour of the sequential maps, never as the
# lowest colour. (Masked probabilities are a true 0 and get the colour of 0, as in the panels.)
MASKED_RGB = MASKED_RGBA[:3]  # the overview mosaic's grey: a panel and its figure agree


def colour_indices(values: np.ndarray, low: float, high: float, table_size: int) -> np.ndarray:
    """Lookup-table index of each value, as ``colour_of`` computes it."""
    if high <= low:
        return np.zeros(values.shape, dtype=np.intp)
    with np.errstate(invalid="ignore"):
        position = np.clip((values.astype(np.float64) - low) / (high - low), 0.0, 1.0)
    position = np.nan_to_num(position, nan=0.0)
    return np.rint(position * (table_size - 1)).astype(np.intp)


def to_rgb(values: np.ndarray, colormap: str, levels: tuple[float, float]) -> np.ndarray:
    """``(Q, K)`` values to ``(Q, K, 3)`` uint8 colours; non-finite cells neutral."""
    table = colormaps.lookup_table(colormap)  # (256, 3) uint8
    rgb = table[colour_indices(values, levels[0], levels[1], len(table))]  # (Q, K, 3)
    rgb[~np.isfinite(values)] = MASKED_RGB
    return rgb


def block_maximum(values: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink by whole blocks so neither side exceeds ``max_side``: each block keeps its largest
    finite value; a block without one is -inf (drawn empty).

    Thumbnails of long inputs would otherwise alias, and a block mean would fade a sharp
    one-token-wide diagonal to a fraction of its weight; the maximum keeps such structure visible.
    """
    n_rows, n_columns = values.shape
    factor = max(math.ceil(n_rows / max_side), math.ceil(n_columns / max_side), 1)
    if factor == 1:
        return values
    return max_pool(np.where(np.isfinite(values), values, -np.inf), factor, factor)  # (rows / f, columns / f)


def upsample(rgb: np.ndarray, min_pixels_per_cell: int = 8, max_side: int = 2048) -> np.ndarray:
    """Repeat each cell into a square of pixels.

    SVG and PDF viewers smooth embedded images when they enlarge them; cells that are
    already several pixels wide stay sharp-edged.
    """
    factor = max(1, min(min_pixels_per_cell, max_side // max(rgb.shape[0], rgb.shape[1], 1)))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
