"""Summaries across heads and layers, and the special-token filter every heatmap honours.

- ``layer_mean`` / ``layer_max``: one ``(Q, K)`` map per layer from its heads.
- ``rollout``: attention rollout (Abnar & Zuidema 2020), the variant that averages the
  heads, adds the identity for the residual stream and multiplies through the layers.
- ``widest_path_flow``: a cheap lower bound on attention flow (same paper): the
  capacity of the single best path instead of the maximum flow over all paths.
- ``filter_keys``: hide special and padding key columns and renormalise the rows;
  ``kept_keys`` / ``filtered_axis`` say which columns a filtered view keeps and label them.
- ``aggregate``: one ``(Q, K)`` map of a chosen method at a chosen layer, as the
  aggregation panel and the aggregate figure show it, with ``method_title`` naming it.

All functions take weights as ``(L, H, Q, K)`` (or any leading axes where noted) and
return float32 arrays.
"""

from __future__ import annotations

import numpy as np

from model.trace import AttentionMaps, TokenAxis, Trace

ROLLOUT_NAME = "attention rollout (mean over heads, 0.5·A + 0.5·I, rows renormalised)"
FLOW_NAME = "attention flow, widest-path lower bound (mean over heads, 0.5·A + 0.5·I)"
RESIDUAL_SHARE = 0.5
METHODS = ("mean", "max", "rollout", "flow")
# Methods that multiply attention through the layers: they need queries and keys on one axis.
ACROSS_LAYERS = frozenset({"rollout", "flow"})
METHOD_DETAILS = {
    "mean": "mean over heads of one layer; rows sum to 1",
    "max": "maximum over heads of one layer; each cell is the strongest head's weight",
    "rollout": ROLLOUT_NAME,
    "flow": FLOW_NAME,
}
# Rows of at most this many query positions go through the (max, min) product at once:
# the broadcast holds chunk × K × K float32 values (64 × 512 × 512 is 64 MiB).
_FLOW_CHUNK_CELLS = 16_777_216


def layer_mean(weights: np.ndarray) -> np.ndarray:
    """Mean over heads of ``(L, H, Q, K)`` weights: ``(L, Q, K)``."""
    return np.asarray(weights, dtype=np.float32).mean(axis=1)


def layer_max(weights: np.ndarray) -> np.ndarray:
    """Maximum over heads of ``(L, H, Q, K)`` weights: ``(L, Q, K)``.

    Rows of the result do not sum to 1: each cell shows the strongest head's weight.
    """
    return np.asarray(weights, dtype=np.float32).max(axis=1)


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
    )


def drop_keys(matrix: np.ndarray, keep: np.ndarray | None, values: str = "weights") -> np.ndarray:
    """``(..., Q, K)`` → ``(..., Q, kept)``: the kept key columns; weights renormalised per row.

    Raw scores only lose the columns: a softmax of what remains equals the renormalised
    weights. None keeps every column and returns ``matrix`` unchanged.
    """
    if keep is None:
        return matrix
    kept = np.asarray(matrix)[..., keep]
    return renormalise_rows(kept) if values == "weights" else kept


def renormalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Divide each row (last axis) by its sum; a row summing to 0 stays all zeros, never NaN."""
    matrix = np.asarray(matrix, dtype=np.float32)
    totals = matrix.sum(axis=-1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def filter_keys(matrix: np.ndarray, hidden: np.ndarray, values: str = "weights") -> np.ndarray:
    """Hide the key columns marked in ``hidden`` from a ``(..., Q, K)`` matrix, same shape out.

    For weights the hidden columns become 0 and each row is renormalised over the keys
    that remain, so it is again a distribution; a row whose weight was all on hidden
    keys becomes all zeros. For raw scores the hidden columns become -inf (masked): a
    softmax of the filtered scores equals the filtered weights. A panel that drops the
    columns altogether takes ``matrix[..., ~hidden]`` of the result.
    """
    hidden = np.asarray(hidden, dtype=bool)
    matrix = np.asarray(matrix, dtype=np.float32)
    if hidden.shape != matrix.shape[-1:]:
        raise ValueError(f"the filter marks {hidden.shape[0]} keys but the matrix has {matrix.shape[-1]}")
    if values == "scores":
        return np.where(hidden, np.float32(-np.inf), matrix)
    if values != "weights":
        raise ValueError(f"values must be weights or scores, not {values!r}")
    return renormalise_rows(np.where(hidden, np.float32(0.0), matrix))


def _with_residual(weights: np.ndarray, residual_share: float) -> np.ndarray:
    """``(L, H, T, T)`` → ``(L, T, T)``: mean over heads, mixed with the identity, rows renormalised."""
    weights = np.asarray(weights)
    if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(
            f"rollout needs self-attention, square in queries and keys; got queries × keys "
            f"{weights.shape[-2]} × {weights.shape[-1]}"
        )
    if not 0.0 <= residual_share <= 1.0:
        raise ValueError(f"the residual share must lie in [0, 1], got {residual_share}")
    identity = np.eye(weights.shape[-1])
    # Accumulate in float64 without copying the whole (L, H, T, T) stack to float64.
    head_mean = weights.mean(axis=1, dtype=np.float64)  # (L, T, T)
    mixed = (1.0 - residual_share) * head_mean + residual_share * identity  # (L, T, T)
    totals = mixed.sum(axis=-1, keepdims=True)
    # With no residual share a fully masked row stays all zeros rather than NaN.
    return np.divide(mixed, totals, out=np.zeros_like(mixed), where=totals > 0)


def rollout(weights: np.ndarray, residual_share: float = RESIDUAL_SHARE) -> np.ndarray:
    """Attention rollout of self-attention weights ``(L, H, T, T)``, cumulative per layer.

    Abnar & Zuidema (2020): ``A'_l = renormalise(0.5·mean_heads(A_l) + 0.5·I)`` models the
    residual connection; ``R_0 = A'_0`` and ``R_l = A'_l · R_{l-1}``. Returns ``(L, T, T)``
    where entry ``[l, i, j]`` is how much of input token ``j`` reaches position ``i``
    after layer ``l``; every row sums to 1. Only self-attention has a rollout: the
    product needs queries and keys on one axis.
    """
    mixed = _with_residual(weights, residual_share).astype(np.float32)  # (L, T, T)
    # Python loops over layers only; each step is one T × T matrix product (float32 keeps
    # rows summing to 1 within 1e-6 and halves the time of float64).
    products = np.empty_like(mixed)
    products[0] = mixed[0]
    for layer in range(1, mixed.shape[0]):
        np.matmul(mixed[layer], products[layer - 1], out=products[layer])
    return products


def _max_min_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``out[i, j] = max_k min(left[i, k], right[k, j])`` for square ``(T, T)`` float32 matrices."""
    size = left.shape[0]
    out = np.empty((size, right.shape[1]), dtype=np.float32)
    chunk = max(1, _FLOW_CHUNK_CELLS // max(size * right.shape[1], 1))
    for start in range(0, size, chunk):
        block = np.minimum(left[start : start + chunk, :, None], right[None, :, :])  # (chunk, T, T)
        out[start : start + chunk] = block.max(axis=1)
    return out


def widest_path_flow(weights: np.ndarray, residual_share: float = RESIDUAL_SHARE) -> np.ndarray:
    """A cheap lower bound on attention flow, cumulative per layer: ``(L, T, T)``.

    Attention flow (Abnar & Zuidema 2020) is the maximum flow from input token ``j`` to
    position ``i`` through the layers, with the residual-mixed weights ``A'_l`` (as in
    ``rollout``) as capacities. Solving one max-flow problem per pair is far too slow
    for an interactive view; this returns the capacity of the single widest path
    instead, ``F_l[i, j] = max_k min(A'_l[i, k], F_{l-1}[k, j])``, which is at most the
    true flow. Rows are not distributions; values lie in [0, 1]. It costs ``L·T³``
    comparisons — about 1.5 s for 12 layers at 512 tokens, against 0.2 s for the
    rollout — so a view computes it when asked, not on every keystroke.
    """
    mixed = _with_residual(weights, residual_share).astype(np.float32)  # (L, T, T)
    flows = np.empty_like(mixed)
    flows[0] = mixed[0]
    for layer in range(1, mixed.shape[0]):
        flows[layer] = _max_min_product(mixed[layer], flows[layer - 1])
    return flows


def aggregate(weights: np.ndarray, method: str, layer: int, keep: np.ndarray | None = None) -> np.ndarray:
    """The ``(Q, K)`` map of ``method`` at ``layer`` from ``(L, H, Q, K)`` weights, float32.

    ``mean``/``max``: over the heads of ``layer``. ``rollout``/``flow``: through layers
    ``0…layer`` (self-attention only). With ``keep`` (see ``kept_keys``) only the kept key
    columns come back: for ``mean`` and ``max`` each head is filtered and renormalised
    first, as in the head views; a rollout, whose rows are distributions over the input
    tokens, is renormalised over the kept ones; a flow, whose values are path capacities
    rather than shares, only loses the columns.
    """
    if method not in METHODS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(METHODS)}")
    n_layers = weights.shape[0]
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: there are layers 0–{n_layers - 1}")
    if method in ("mean", "max"):
        heads = drop_keys(np.asarray(weights[layer], dtype=np.float32), keep)  # (H, Q, kept)
        return (heads.mean(axis=0) if method == "mean" else heads.max(axis=0)).astype(np.float32)
    return hide_in_aggregate(across_layers(weights[: layer + 1], method)[-1], method, keep)


def across_layers(weights: np.ndarray, method: str) -> np.ndarray:
    """``(L, T, T)``: the rollout or the widest-path flow after each layer (self-attention only)."""
    if method == "rollout":
        return rollout(weights)
    if method == "flow":
        return widest_path_flow(weights)
    raise ValueError(f"{method!r} is not computed across layers; choose rollout or flow")


def hide_in_aggregate(matrix: np.ndarray, method: str, keep: np.ndarray | None) -> np.ndarray:
    """Drop the hidden key columns of one rollout or flow map ``(Q, K)``.

    A rollout row is renormalised over the kept keys; a flow only loses the columns (see
    ``aggregate``).
    """
    if keep is None:
        return matrix
    return matrix[:, keep] if method == "flow" else renormalise_rows(matrix[:, keep])


def aggregated_kind(kind: str, method: str) -> str:
    """The kind a ``method`` map of ``kind`` is drawn from: rollout and flow of cross-attention
    fall back to the encoder's self-attention (see ``cross_rollout_note``)."""
    return "encoder_self" if kind == "cross" and method in ACROSS_LAYERS else kind


def cross_rollout_note(method: str) -> str:
    """Why ``method`` is not drawn for cross-attention itself."""
    name = "Rollout" if method == "rollout" else "Attention flow"
    return (
        f"{name} multiplies attention through the layers of one sequence; cross-attention's queries are "
        "decoder tokens and its keys encoder tokens, so it has none. Shown: the encoder self-attention's."
    )


def method_title(method: str, layer: int) -> str:
    """What the map shows, in words: 'attention rollout (layers 0–2)'."""
    layers = "layer 0" if layer == 0 else f"layers 0–{layer}"
    return {
        "mean": f"mean over heads (layer {layer})",
        "max": f"max over heads (layer {layer})",
        "rollout": f"attention rollout ({layers})",
        "flow": f"attention flow, widest-path approximation ({layers})",
    }[method]


def without_special_keys(trace: Trace, kind: str) -> Trace:
    """A copy of ``trace`` holding only ``kind``, with the hidden key columns dropped.

    Its ``axes(kind)`` gives the filtered key axis (the query axis is unchanged); weights
    are renormalised over the kept keys and scores lose the columns (see ``drop_keys``).
    A trace with nothing to hide on that axis comes back as it is.
    """
    query_axis, key_axis = trace.axes(kind)
    keep = kept_keys(key_axis)
    if keep is None:
        return trace
    maps = trace.attention[kind]
    filtered = AttentionMaps(
        weights=drop_keys(maps.weights, keep).astype(maps.weights.dtype, copy=False),
        scores=drop_keys(maps.scores, keep, "scores"),
    )
    return KeyFilteredTrace(
        model_name=trace.model_name,
        architecture=trace.architecture,
        encoder=trace.encoder,
        decoder=trace.decoder,
        attention={kind: filtered},
        generated=trace.generated,
        notices=list(trace.notices),
        tokenise_ms=trace.tokenise_ms,
        key_axes={kind: filtered_axis(key_axis, keep)},
    )


class KeyFilteredTrace(Trace):
    """A trace whose key axes, per kind, hold only the tokens its matrices keep."""

    def __init__(self, *, key_axes: dict[str, TokenAxis], **fields: object) -> None:
        super().__init__(**fields)
        self.key_axes = key_axes

    def axes(self, kind: str) -> tuple[TokenAxis, TokenAxis]:
        query_axis, key_axis = super().axes(kind)
        return query_axis, self.key_axes.get(kind, key_axis)
