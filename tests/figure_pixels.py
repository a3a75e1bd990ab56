"""Reading a rendered figure back: the colour at the centre of every heatmap cell."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage


def cell_colours(image: QImage, heatmap: QRectF, shape: tuple[int, int], scale: float) -> np.ndarray:
    """``(Q, K, 3)`` RGB at the centre of each cell of the ``shape`` heatmap drawn in ``heatmap``
    (in points; the image has ``scale`` pixels per point)."""
    n_queries, n_keys = shape
    colours = np.zeros((n_queries, n_keys, 3), dtype=int)
    for query in range(n_queries):
        for key in range(n_keys):
            x = (heatmap.left() + (key + 0.5) * heatmap.width() / n_keys) * scale
            y = (heatmap.top() + (query + 0.5) * heatmap.height() / n_queries) * scale
            pixel = image.pixelColor(int(x), int(y))
            colours[query, key] = (pixel.red(), pixel.green(), pixel.blue())
    return colours
