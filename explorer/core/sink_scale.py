"""Sink-aware colour ranges: keys that soak up most of a head's weight leave its colour range.

Many heads put most of every query's weight on the first token (an "attention sink",
Xiao et al. 2023: BOS, [CLS] or whatever opens the text), or on separators. On a fixed
[0, 1] scale the rest of the head is then one dark colour. With the first key (or every
special token) left out of the range, the range runs from 0 to the largest value among
the remaining keys; the excluded columns are drawn saturated and marked, and the title
says what was left out and why.

``COLOUR_RANGES``: ``"auto"`` (the default: the first key is left out where the head —
or the mean over heads — puts over half of its weight there, ``SINK_SHARE``, averaged
over the queries that can see another key), ``"all"`` (every key, the fixed range),
``"first"`` (always without the first key), ``"special"`` (without every special and
padding token). Numpy only.
"""

from __future__ import annotations

import numpy as np

from model.trace import TokenAxis

from .head_matrix import DENSE_CELLS, HeadMatrix
from .numeric import colour_levels, spaced_rows
from .special import hidden_keys

COLOUR_RANGES = ("auto", "all", "first", "special")
COLOUR_RANGE_TITLES = {
    "auto": "auto (without a sink)",
    "all": "every key",
    "first": "without the first key",
    "special": "without special tokens",
}
SINK_SHARE = 0.5
# Query rows a long head's sink-aware colour range is judged on (a whole head of a long
# input is never read for it).
SINK_ROWS = 128


def first_key_share(weights: np.ndarray, causal: bool) -> float:
    """Mean weight of (Q, K) ``weights`` on key 0, over the queries that may see another key."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.size == 0:
        return 0.0
    rows = weights[1:] if causal and weights.shape[0] > 1 else weights
    counted = rows.sum(axis=-1) > 0
    return float(rows[counted, 0].mean()) if counted.any() else 0.0


def excluded_keys(colour_range: str, weights: np.ndarray, key_axis: TokenAxis, causal: bool) -> tuple[int, ...]:
    """The key columns (of the shown matrix) the colour range leaves out."""
    n_keys = np.shape(weights)[-1]
    if colour_range == "all" or n_keys < 2:
        return ()
    if colour_range == "special":
        hidden = np.flatnonzero(hidden_keys(key_axis))
        return tuple(int(key) for key in hidden) if len(hidden) < n_keys else ()
    if colour_range == "first" or first_key_share(weights, causal) > SINK_SHARE:
        return (0,)
    return ()


def levels_without(matrix: np.ndarray, values: str, excluded: tuple[int, ...],
                   default: tuple[float, float]) -> tuple[float, float]:
    """The colour range of ``matrix`` over the keys not ``excluded`` (``default`` when none is)."""
    if not excluded:
        return default
    keep = np.ones(np.shape(matrix)[-1], dtype=bool)
    keep[list(excluded)] = False
    kept = np.asarray(matrix, dtype=np.float32)[..., keep]
    if values == "scores":
        return colour_levels("scores", [kept])
    finite = kept[np.isfinite(kept)]
    high = float(finite.max()) if finite.size else 0.0
    return (0.0, high) if high > 0 else default


def exclusion_title(excluded: tuple[int, ...], key_axis: TokenAxis, share: float | None) -> str:
    """' · colour range without key 0 '<s>' (it holds 72 % of the weight)', or ''."""
    if not excluded:
        return ""
    if len(excluded) == 1:
        key = excluded[0]
        token = key_axis.tokens[key] if key < len(key_axis) else ""
        held = f" (it holds {share:.0%} of the weight)" if share is not None and key == 0 else ""
        return f" · colour range without key {key} {token!r}{held}"
    return f" · colour range without the {len(excluded)} special tokens"


def sampled_rows(source: HeadMatrix, values: str) -> np.ndarray:
    """(Q, K) the whole head when it is stored and may be held, else ``SINK_ROWS`` evenly
    spaced rows of it (the first among them, which a causal head's sink share leaves out).

    A recomputed head is sampled from ``SINK_ROWS`` rows on: its whole matrix would be
    recomputed on every keystroke (15 ms at 1,024 tokens) for a range the sample judges.
    """
    queries, keys = source.shape
    if queries <= SINK_ROWS or (source.dense and queries * keys <= DENSE_CELLS):
        return source.matrix(values)
    rows = spaced_rows(queries, SINK_ROWS)
    return source.rows(rows, values)  # one read of every sampled row, not one read per row


def head_sink_scale(
    source: HeadMatrix, colour_range: str, values: str, key_axis: TokenAxis, causal: bool, default: tuple[float, float]
) -> tuple[tuple[int, ...], tuple[float, float], str]:
    """(excluded keys, colour range, title suffix) of one head shown under ``colour_range``;
    ``default`` is the range with every key."""
    if colour_range == "all":
        return (), default, ""
    weights = sampled_rows(source, "weights")
    shown = weights if values == "weights" else sampled_rows(source, values)
    excluded = excluded_keys(colour_range, weights, key_axis, causal)
    share = first_key_share(weights, causal) if excluded == (0,) else None
    levels = levels_without(shown, values, excluded, default)
    return excluded, levels, exclusion_title(excluded, key_axis, share) if levels != default else ""
