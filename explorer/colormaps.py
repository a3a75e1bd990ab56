"""The colour maps every heatmap and every export use, so a figure matches its panel.

Sequential maps are perceptually uniform (viridis and its relatives); the diverging map
is for signed values such as differences, centred on zero.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SEQUENTIAL = ("viridis", "magma", "inferno", "plasma", "cividis")
DIVERGING = "CET-D1"
DEFAULT = "viridis"


@lru_cache(maxsize=None)
def colormap(name: str):
    """The pyqtgraph ``ColorMap`` for ``name``; an unknown name is a ``ValueError``."""
    import pyqtgraph as pg

    if name not in SEQUENTIAL and name != DIVERGING:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(SEQUENTIAL)}")
    return pg.colormap.get(name)


def lookup_table(name: str, size: int = 256) -> np.ndarray:
    """``(size, 3)`` uint8 RGB colours from the low to the high end of the map."""
    return colormap(name).getLookupTable(0.0, 1.0, size, alpha=False)


def colour_of(name: str, value: float, low: float, high: float) -> tuple[int, int, int]:
    """The RGB colour a value gets on a heatmap whose colour range is [low, high]."""
    table = lookup_table(name)
    position = 0.0 if high <= low else min(max((value - low) / (high - low), 0.0), 1.0)
    r, g, b = table[int(round(position * (len(table) - 1)))]
    return int(r), int(g), int(b)
