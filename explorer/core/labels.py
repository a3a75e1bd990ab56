"""Which labels of a column of evenly spaced tokens to draw when not all of them fit.

The alignment drawing's token columns keep the labels that matter most: the selected
token's and those of the strongest links first, then the rest wherever there is room.
Numpy only.
"""

from __future__ import annotations

import bisect

import numpy as np


def labels_by_priority(priority: np.ndarray, row_pixels: float, line_pixels: float) -> list[int]:
    """Indices of the labels to draw, in index order, none closer than ``line_pixels``.

    Label ``i`` sits at ``i * row_pixels``; labels are taken greedily from the highest
    ``priority`` (ties: the earlier token) and kept when they overlap none kept before.
    When every label fits, every index is returned.
    """
    count = len(priority)
    if count == 0:
        return []
    if row_pixels >= line_pixels:
        return list(range(count))
    order = np.lexsort((np.arange(count), -np.asarray(priority, dtype=np.float64)))
    kept: list[float] = []  # sorted positions
    chosen: list[int] = []
    for index in order.tolist():
        y = index * row_pixels
        at = bisect.bisect_left(kept, y)
        if at > 0 and y - kept[at - 1] < line_pixels:
            continue
        if at < len(kept) and kept[at] - y < line_pixels:
            continue
        kept.insert(at, y)
        chosen.append(index)
        if len(kept) * line_pixels > count * row_pixels + line_pixels:
            break  # the column is full
    return sorted(chosen)


def alignment_priorities(weights: np.ndarray, query: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(source priorities, target priorities) for a (target, source) weight matrix.

    The selected target token comes first on its side and the sources it attends to
    most on the other; then every token by its strongest link.
    """
    weights = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0, neginf=0.0, posinf=0.0)
    targets, sources = weights.shape
    if weights.size == 0:
        return np.zeros(sources), np.zeros(targets)
    source = weights.max(axis=0)
    target = weights.max(axis=1)
    if query is not None and 0 <= query < targets:
        source = source + 2.0 * weights[query]  # weights ≤ 1: the query's links outrank any other
        target = target.copy()
        target[query] = 10.0
    return source, target
