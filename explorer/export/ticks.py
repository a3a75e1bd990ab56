"""Where axis labels go: token label thinning, tidy colour-bar ticks, number formatting.

Plain Python, so the choices are testable without a display.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..token_labels import display_token, elide

# Longest token label on an axis, in characters; longer ones end in an ellipsis.
LABEL_WIDTH = 16


def label_step(n_tokens: int, pitch: float, label_height: float) -> int:
    """Label every n-th token so labels ``label_height`` tall never overlap at ``pitch`` spacing."""
    if n_tokens <= 0 or pitch <= 0:
        return 1
    return max(1, math.ceil(label_height / pitch))


def labelled_indices(n_tokens: int, step: int, priority: Sequence[int] = ()) -> list[int]:
    """Indices that get a label: ``priority`` ones first, then every ``step``-th token that
    keeps at least ``step`` rows away from every label already placed. Sorted."""
    chosen: list[int] = []
    for index in [*priority, *range(0, n_tokens, step)]:
        if 0 <= index < n_tokens and all(abs(index - other) >= step for other in chosen):
            chosen.append(index)
    return sorted(chosen)


def token_label(token: str) -> str:
    """A token as an axis shows it: whitespace marks visible, long tokens elided."""
    return elide(display_token(token), LABEL_WIDTH)


def nice_ticks(low: float, high: float, max_ticks: int = 6) -> list[float]:
    """As many round-numbered ticks within [low, high] as fit in ``max_ticks`` (steps 1, 2, 2.5, 5 × 10ⁿ)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    magnitude = 10 ** math.floor(math.log10((high - low) / max_ticks))
    tolerance = (high - low) * 1e-9
    for step in (m * magnitude for m in (1, 2, 2.5, 5, 10, 20, 25, 50, 100)):
        first, last = math.ceil((low - tolerance) / step), math.floor((high + tolerance) / step)
        if last - first + 1 <= max_ticks:
            # round() drops the float noise of n × step (0.30000000000000004).
            return [round(n * step, 12) + 0.0 for n in range(first, last + 1)]
    return [low, high]


def format_number(value: float) -> str:
    """Short text for a tick or annotation: ``0.25``, ``-3.1``, ``1.2e+04``, ``−∞``."""
    if math.isinf(value):
        return "−∞" if value < 0 else "∞"
    if math.isnan(value):
        return "n/a"
    text = f"{value:.3g}"
    return text.replace("-", "−")


def format_ticks(ticks: list[float]) -> list[str]:
    """Tick texts with the fewest significant digits that still tell neighbouring ticks apart."""
    for digits in range(3, 11):
        texts = [f"{tick:.{digits}g}".replace("-", "−") for tick in ticks]
        if len(set(texts)) == len(texts):
            return texts
    return texts
