"""The numeric helpers every view and figure shares: softmax, entropy, top-k, pooling, ranges.

Each exists once so a panel, a figure and an analysis cannot disagree about a number.
Numpy only.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

TOP_K = 3
# Thumbnails in the overview grid never need more pixels than this per side; longer
# inputs are max-pooled so a 2,048-token grid costs what a 96-token one does.
THUMBNAIL_SIDE = 96
SHARPNESS_ROWS = 64
# Where a probability axis ends: the first of these at or above the largest bar.
PROBABILITY_AXIS_ENDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0)
# A score axis is cut in about this many round steps (1, 2, 2.5 or 5 × 10ⁿ each).
SCORE_AXIS_STEPS = 5


def softmax_with_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(scores / T) along the last axis; -inf (masked) keys get 0, a fully masked row all 0."""
    scaled = np.asarray(scores, dtype=np.float64) / float(temperature)
    finite = np.isfinite(scaled)
    row_max = np.where(finite, scaled, -np.inf).max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    exponentials = np.where(finite, np.exp(np.where(finite, scaled, 0.0) - row_max), 0.0)
    total = exponentials.sum(axis=-1, keepdims=True)
    return np.divide(exponentials, total, out=np.zeros_like(exponentials), where=total > 0)


def entropy_bits(probabilities: np.ndarray) -> float:
    """Shannon entropy of one distribution in bits; zero-probability entries add nothing."""
    positive = probabilities[probabilities > 0]
    entropy = float(-(positive * np.log2(positive)).sum())
    # A one-hot row gives -0.0, which would read "-0.000 bits".
    return entropy if entropy > 0 else 0.0


def top_k(probabilities: np.ndarray, k: int = TOP_K) -> list[tuple[int, float]]:
    """The ``k`` largest entries as (index, value), largest first, ties by position."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(index), float(probabilities[index])) for index in order]


def display_values(matrix: np.ndarray) -> np.ndarray:
    """A float32 matrix an image can show: masked (-inf) scores become nan (drawn empty)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    return np.where(np.isfinite(matrix), matrix, np.nan) if not np.isfinite(matrix).all() else matrix


def max_pool(matrix: np.ndarray, row_step: int, column_step: int) -> np.ndarray:
    """Max-pool the last two axes of ``(..., Q, K)`` in blocks of ``row_step`` × ``column_step``.

    The maximum rather than the mean: one sharply attended key must stay visible in a
    thumbnail of a long input, where a block mean would fade a one-token diagonal.
    Masked (-inf or nan) cells lose to any real value; a block with nothing else is -inf.
    This is the one pooling kernel: the overview's thumbnails and the figures' use it.
    """
    if row_step == 1 and column_step == 1:
        return matrix
    *lead, rows, columns = matrix.shape
    padded_rows, padded_columns = -(-rows // row_step) * row_step, -(-columns // column_step) * column_step
    padded = np.full((*lead, padded_rows, padded_columns), -np.inf, dtype=np.float32)
    padded[..., :rows, :columns] = matrix
    blocks = padded.reshape(*lead, padded_rows // row_step, row_step, padded_columns // column_step, column_step)
    # fmax ignores nan; reduce one block axis at a time (fmax.reduce takes a single axis).
    return np.fmax.reduce(np.fmax.reduce(blocks, axis=-1), axis=-2)  # (..., Q / row_step, K / column_step)


def thumbnail(matrix: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """Max-pool a (..., Q, K) array so neither of its last two sides exceeds ``side``."""
    rows, columns = matrix.shape[-2:]
    return max_pool(matrix, max(math.ceil(rows / side), 1), max(math.ceil(columns / side), 1))


def finite_range(raw: np.ndarray | Iterable[np.ndarray]) -> tuple[float, float] | None:
    """(min, max) of the finite entries (masked -inf ignored), or None if there are none.

    ``raw`` is an array or any iterable of arrays (its layers), read one at a time.
    """
    low, high = math.inf, -math.inf
    for layer in raw:  # one layer at a time: no full-size temporary
        finite = layer[np.isfinite(layer)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else None


def colour_levels(values: str, raw: np.ndarray | Iterable[np.ndarray]) -> tuple[float, float]:
    """The colour range of ``values`` ("weights" or "scores") drawn from ``raw``.

    Probabilities use [0, 1] so colours compare across inputs; raw scores have no natural
    range, so they use the finite extent (a constant one is widened by ±0.5 so a colour
    bar can still be drawn).
    """
    if values == "weights":
        return (0.0, 1.0)
    extent = finite_range(raw)
    if extent is None:
        return (0.0, 1.0)
    low, high = extent
    if values == "value-weighted":  # norms: from 0, so no contribution is the darkest colour
        return (0.0, high) if high > 0 else (0.0, 1.0)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def spaced_rows(n_rows: int, count: int) -> np.ndarray:
    """At most ``count`` distinct row indices spread evenly over ``range(n_rows)``, ascending.

    ``np.unique`` would give the same, but its first call imports ``numpy.ma`` (about
    12 ms), on the way to the first painted window.
    """
    rows = np.linspace(0, n_rows - 1, min(n_rows, count)).astype(np.int64)  # ascending
    return rows[np.concatenate(([True], rows[1:] != rows[:-1]))] if len(rows) else rows


def sharpest_head(weights: np.ndarray) -> tuple[int, int]:
    """(layer, head) of (L, H, Q, K) weights whose rows have the lowest mean entropy.

    Judged on at most ``SHARPNESS_ROWS`` evenly spaced query rows, which keeps it cheap
    on long inputs.
    """
    rows = spaced_rows(weights.shape[2], SHARPNESS_ROWS)
    sample = np.asarray(weights[:, :, rows], dtype=np.float32)  # (L, H, rows, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(sample > 0, -sample * np.log2(np.where(sample > 0, sample, 1.0)), 0.0)
    mean_entropy = terms.sum(axis=-1).mean(axis=-1)  # (L, H)
    layer, head = np.unravel_index(int(np.argmin(mean_entropy)), mean_entropy.shape)
    return int(layer), int(head)


def pooled_bars(probabilities: np.ndarray, scores: np.ndarray, bins: int) -> tuple[np.ndarray, ...]:
    """A long row's bars pooled to ``bins`` near-equal runs of keys, for drawing.

    Returns ``(starts, ends, probability maxima, score lows, score highs)``: each run's
    largest probability (one sharply attended key stays visible among thousands), and the
    extent of its finite scores with 0 included (a bar from low to high); a run of masked
    keys only is 0–0. The view keeps the exact row; this is only how it is drawn.
    """
    count = len(probabilities)
    bins = max(min(bins, count), 1)
    starts = (np.arange(bins, dtype=np.int64) * count) // bins
    ends = np.append(starts[1:], count)
    highest = np.maximum.reduceat(np.asarray(probabilities, dtype=np.float64), starts)
    finite = np.isfinite(scores)
    high = np.maximum.reduceat(np.where(finite, scores, -np.inf), starts)
    low = np.minimum.reduceat(np.where(finite, scores, np.inf), starts)
    high = np.where(np.isfinite(high), np.maximum(high, 0.0), 0.0)
    low = np.where(np.isfinite(low), np.minimum(low, 0.0), 0.0)
    return starts, ends, highest, low, high


def probability_axis_end(largest: float) -> float:
    """The end of a probability axis that holds ``largest``: one of ``PROBABILITY_AXIS_ENDS``.

    Round ends keep the axis still while typing moves the bars a little; the panel and
    its exported figure end the axis at the same value.
    """
    return next((end for end in PROBABILITY_AXIS_ENDS if end >= largest - 1e-12), PROBABILITY_AXIS_ENDS[-1])


def score_axis_range(low: float, high: float) -> tuple[float, float]:
    """Round ends around the scores' extent [low, high], zero included.

    Both ends are multiples of a round step (1, 2, 2.5 or 5 × 10ⁿ, about a fifth of the
    extent), so scores that move within a step leave the axis, and its drawing, as it was.
    """
    low, high = min(low, 0.0), max(high, 0.0)
    if not (math.isfinite(low) and math.isfinite(high)) or high == low:  # no finite score, or all zero
        return -1.0, 1.0
    rough = (high - low) / SCORE_AXIS_STEPS
    magnitude = 10.0 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= rough)
    # round() drops the float noise of n × step (0.6000000000000001).
    return round(math.floor(low / step) * step, 12) + 0.0, round(math.ceil(high / step) * step, 12) + 0.0
