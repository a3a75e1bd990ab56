"""The special-token filter every heatmap honours ("Hide special tokens").

With the filter on, views drop the key columns of special ([CLS], [SEP], BOS, EOS,
``</s>``) and padding tokens and renormalise each probability row over the keys that
remain; raw scores only lose the columns (their softmax is the renormalised row). Query
rows are never dropped. Numpy only; ``mean_over_heads`` lives here because the filtered
mean and the plain mean must be the same function.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.trace import AttentionMaps, TokenAxis, Trace


def hidden_keys(axis: TokenAxis) -> np.ndarray:
    """``(T,)`` bool: the tokens the special-token filter hides (special or padding)."""
    return np.asarray(axis.special, dtype=bool) | np.asarray(axis.padding, dtype=bool)


def mean_over_heads(raw: np.ndarray, axis: int = 0) -> np.ndarray:
    """float32 mean over the head axis, over the heads where an entry is finite.

    A key masked (-inf) in every head stays -inf and is drawn empty; this is the one
    mean over heads every panel, figure and analysis uses.
    """
    raw = np.asarray(raw, dtype=np.float32)
    finite = np.isfinite(raw)
    if finite.all():
        return raw.mean(axis=axis)
    total = np.where(finite, raw, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), -np.inf).astype(np.float32)


def kept_keys(axis: TokenAxis) -> np.ndarray | None:
    """``(T,)`` bool of the keys a filtered view keeps, or None when it keeps them all.

    None also when every key would be hidden (a text of special tokens only): the view
    is then shown unfiltered rather than empty.
    """
    hidden = hidden_keys(axis)
    if not hidden.any() or hidden.all():
        return None
    return ~hidden


def filtered_axis(axis: TokenAxis, keep: np.ndarray | None) -> TokenAxis:
    """A copy of ``axis`` holding only the tokens ``keep`` marks (``axis`` itself for None)."""
    if keep is None:
        return axis
    return TokenAxis(
        ids=np.asarray(axis.ids)[keep],
        tokens=[token for token, kept in zip(axis.tokens, keep) if kept],
        special=np.asarray(axis.special, dtype=bool)[keep],
        padding=np.asarray(axis.padding, dtype=bool)[keep],
        template=None if axis.template is None else np.asarray(axis.template, dtype=bool)[keep],
    )


def drop_keys(matrix: np.ndarray, keep: np.ndarray | None, values: str = "weights") -> np.ndarray:
    """``(..., Q, K)`` → ``(..., Q, kept)``: the kept key columns; weights renormalised per row.

    Raw scores only lose the columns: a softmax of what remains equals the renormalised
    weights; so do value-weighted norms (what a kept key adds does not change when
    another is hidden). None keeps every column and returns ``matrix`` unchanged.
    """
    if values not in ("weights", "scores", "value-weighted"):
        raise ValueError(f"values must be weights, scores or value-weighted, not {values!r}")
    if keep is None:
        return matrix
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != np.shape(matrix)[-1:]:
        raise ValueError(f"the filter marks {keep.shape[0]} keys but the matrix has {np.shape(matrix)[-1]}")
    kept = np.asarray(matrix)[..., keep]
    return renormalise_rows(kept) if values == "weights" else kept


def renormalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Divide each row (last axis) by its sum; a row summing to 0 stays all zeros, never NaN."""
    matrix = np.asarray(matrix, dtype=np.float32)
    totals = matrix.sum(axis=-1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def without_special_keys(trace: Trace, kind: str) -> Trace:
    """A plain copy of ``trace`` holding only ``kind``, its hidden key columns dropped.

    The token axes stay as they are (a self-attention kind's queries and keys share one
    axis, and query rows are never dropped): ``filtered_axis(key_axis, kept_keys(key_axis))``
    labels the columns that remain. Weights are renormalised over the kept keys and scores
    lose the columns (see ``drop_keys``). A trace with nothing to hide on that axis comes
    back as it is.
    """
    keep = kept_keys(trace.axes(kind)[1])
    if keep is None:
        return trace
    maps = trace.attention[kind]
    filtered = AttentionMaps(
        weights=drop_keys(maps.weights, keep).astype(maps.weights.dtype, copy=False),
        scores=drop_keys(maps.scores, keep, "scores"),
    )
    return replace(trace, attention={kind: filtered}, notices=list(trace.notices))
