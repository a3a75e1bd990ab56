"""Summaries across heads and layers: mean, maximum, rollout and flow.

- ``layer_mean`` / ``layer_max``: one ``(Q, K)`` map per layer from its heads.
- ``rollout``: attention rollout (Abnar & Zuidema 2020), the variant that averages the
  heads, adds the identity for the residual stream and multiplies through the layers.
- ``widest_path_flow``: a cheap lower bound on attention flow (same paper): the
  capacity of the single best path instead of the maximum flow over all paths. It is
  refused above ``FLOW_TOKEN_LIMIT`` tokens (``flow_refusal`` says why).
- ``aggregate_refusal``: every method needs whole layers' dense cells, so each has a cap
  (flow 512 tokens, rollout ``ROLLOUT_TOKEN_LIMIT``, mean/max ``AGGREGATE_CELL_LIMIT``)
  and a sentence; recomputed traces are read a layer at a time below it.
- ``rollout_step`` / ``flow_step``: one layer of either, from the previous layer's map,
  so a view can compute them one layer per worker request.
- The special-token filter (``drop_keys``, ``kept_keys``, ``filtered_axis``) lives in
  ``explorer.core.special``; it is imported here for the aggregate maps.
- ``aggregate``: one ``(Q, K)`` map of a chosen method at a chosen layer, as the
  aggregation panel and the aggregate figure show it; ``AGGREGATIONS`` holds each
  method's words (chooser entry, title, details, colour-bar title).

All functions take weights as ``(L, H, Q, K)`` (or any leading axes where noted) and
return float32 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.special import drop_keys, renormalise_rows

ROLLOUT_NAME = "attention rollout (mean over heads, 0.5·A + 0.5·I, rows renormalised)"
FLOW_NAME = "attention flow, widest-path lower bound (mean over heads, 0.5·A + 0.5·I)"
RESIDUAL_SHARE = 0.5
METHODS = ("mean", "max", "rollout", "flow")
# Methods that multiply attention through the layers: they need queries and keys on one axis.
ACROSS_LAYERS = frozenset({"rollout", "flow"})
# The widest-path flow costs T³ per layer: measured ~1.1 s per layer at 1,024 tokens on
# two CPU cores (~0.14 s at 512), so above 512 one layer would hold the worker for seconds.
FLOW_TOKEN_LIMIT = 512
# Rollout multiplies (T, T) maps through the layers (T³ per layer, every cell dense):
# about 0.3 s per layer at 2,048 tokens on two CPU cores, 2.5 s at 4,096.
ROLLOUT_TOKEN_LIMIT = 2048
# The mean or maximum over a layer's heads is a dense (Q, K) map: up to 4,096² cells
# (64 MB); beyond, the head view shows the mean over heads as tiles at any length.
AGGREGATE_CELL_LIMIT = 4096 * 4096
# Rows of at most this many query positions go through the (max, min) product at once:
# the broadcast holds chunk × K × K float32 values (64 × 512 × 512 is 64 MiB).
_FLOW_CHUNK_CELLS = 16_777_216


@dataclass(frozen=True)
class Aggregation:
    """The words of one aggregation method, wherever it is named.

    Attributes:
        name: what the map shows, lower case ('attention rollout').
        detail: how it is computed, one line (the panel's note, the figure's subtitle).
        hidden_note: how the special-token filter changes it.
        value_title: what a colour means (the figure's colour bar).
    """

    method: str
    name: str
    detail: str
    hidden_note: str
    value_title: str

    @property
    def across_layers(self) -> bool:
        return self.method in ACROSS_LAYERS

    @property
    def label(self) -> str:
        """The chooser's entry: 'Attention rollout (layers 0–L)'."""
        layers = "layers 0–L" if self.across_layers else "layer L"
        return f"{self.name[0].upper()}{self.name[1:]} ({layers})"

    def title(self, layer: int) -> str:
        """What the map at ``layer`` shows: 'attention rollout (layers 0–2)'."""
        if not self.across_layers:
            return f"{self.name} (layer {layer})"
        return f"{self.name} ({'layer 0' if layer == 0 else f'layers 0–{layer}'})"


_HIDDEN = "special-token key columns hidden; "
AGGREGATIONS: dict[str, Aggregation] = {
    "mean": Aggregation(
        "mean",
        "mean over heads",
        "mean over heads of one layer; rows sum to 1",
        _HIDDEN + "each head's rows renormalised before the mean",
        "mean attention weight",
    ),
    "max": Aggregation(
        "max",
        "max over heads",
        "maximum over heads of one layer; each cell is the strongest head's weight",
        _HIDDEN + "each head's rows renormalised before the maximum",
        "largest attention weight",
    ),
    "rollout": Aggregation(
        "rollout",
        "attention rollout",
        ROLLOUT_NAME,
        _HIDDEN + "rows renormalised over the remaining tokens",
        "rollout share of the input token",
    ),
    "flow": Aggregation(
        "flow",
        "attention flow, widest-path approximation",
        FLOW_NAME,
        _HIDDEN + "not renormalised (flow values are path capacities, not shares)",
        "widest-path capacity",
    ),
}


def flow_refusal(n_tokens: int) -> str | None:
    """Why attention flow is not computed for ``n_tokens`` tokens, or None when it is."""
    if n_tokens <= FLOW_TOKEN_LIMIT:
        return None
    return (
        f"Attention flow is limited to {FLOW_TOKEN_LIMIT} tokens and this input has {n_tokens}: its cost grows "
        f"with the cube of the length (about a second per layer at 1,024 tokens); use the rollout or a shorter input."
    )


def aggregate_refusal(method: str, n_queries: int, n_keys: int) -> str | None:
    """Why ``method`` is not computed for a ``n_queries`` × ``n_keys`` attention, or None when it is.

    Every method here needs the dense cells of whole layers, so each stops at a length
    where that stays interactive; the sentence says where and what to use instead.
    """
    if method == "flow":
        return flow_refusal(n_keys)
    if method == "rollout" and n_keys > ROLLOUT_TOKEN_LIMIT:
        return (
            f"Attention rollout is limited to {ROLLOUT_TOKEN_LIMIT:,} tokens and this input has {n_keys:,}: it "
            "multiplies every layer's dense token × token map (the cube of the length per layer); use a shorter input."
        )
    if method in ("mean", "max") and n_queries * n_keys > AGGREGATE_CELL_LIMIT:
        return (
            f"The {method} over heads is drawn here up to {AGGREGATE_CELL_LIMIT:,} cells and this layer has "
            f"{n_queries:,} × {n_keys:,}; the head view shows the mean over heads (head: mean) at any length."
        )
    return None


def layer_mean(weights: np.ndarray) -> np.ndarray:
    """Mean over heads of ``(L, H, Q, K)`` weights: ``(L, Q, K)``."""
    return np.asarray(weights, dtype=np.float32).mean(axis=1)


def layer_max(weights: np.ndarray) -> np.ndarray:
    """Maximum over heads of ``(L, H, Q, K)`` weights: ``(L, Q, K)``.

    Rows of the result do not sum to 1: each cell shows the strongest head's weight.
    """
    return np.asarray(weights, dtype=np.float32).max(axis=1)


def _mixed(layer_weights: np.ndarray, residual_share: float) -> np.ndarray:
    """``(H, T, T)`` → ``(T, T)`` float32: mean over heads, mixed with the identity, rows renormalised."""
    layer_weights = np.asarray(layer_weights)
    if layer_weights.ndim != 3 or layer_weights.shape[-1] != layer_weights.shape[-2]:
        raise ValueError(
            f"rollout needs self-attention, square in queries and keys; got queries × keys "
            f"{layer_weights.shape[-2]} × {layer_weights.shape[-1]}"
        )
    if not 0.0 <= residual_share <= 1.0:
        raise ValueError(f"the residual share must lie in [0, 1], got {residual_share}")
    # Accumulate in float64 without copying the (H, T, T) layer to float64.
    head_mean = layer_weights.mean(axis=0, dtype=np.float64)  # (T, T)
    mixed = (1.0 - residual_share) * head_mean + residual_share * np.eye(layer_weights.shape[-1])  # (T, T)
    totals = mixed.sum(axis=-1, keepdims=True)
    # With no residual share a fully masked row stays all zeros rather than NaN.
    return np.divide(mixed, totals, out=np.zeros_like(mixed), where=totals > 0).astype(np.float32)


def rollout_step(
    layer_weights: np.ndarray, previous: np.ndarray | None, residual_share: float = RESIDUAL_SHARE
) -> np.ndarray:
    """One layer of the rollout: ``A'_l · R_{l-1}`` from the layer's ``(H, T, T)`` weights.

    ``previous`` is the rollout after the layer before, None for layer 0 (``R_0 = A'_0``).
    float32 keeps rows summing to 1 within 1e-6 and halves the time of float64.
    """
    mixed = _mixed(layer_weights, residual_share)  # (T, T)
    return mixed if previous is None else mixed @ previous


def flow_step(
    layer_weights: np.ndarray, previous: np.ndarray | None, residual_share: float = RESIDUAL_SHARE
) -> np.ndarray:
    """One layer of the widest-path flow: ``F_l[i, j] = max_k min(A'_l[i, k], F_{l-1}[k, j])``."""
    mixed = _mixed(layer_weights, residual_share)  # (T, T)
    return mixed if previous is None else _max_min_product(mixed, previous)


LAYER_STEPS = {"rollout": rollout_step, "flow": flow_step}


def _through_layers(weights: np.ndarray, method: str, residual_share: float) -> np.ndarray:
    weights = np.asarray(weights)
    if weights.ndim != 4:
        raise ValueError(
            f"{method} needs (layers, heads, queries, keys) self-attention weights; got shape {weights.shape}"
        )
    step = LAYER_STEPS[method]
    maps = np.empty((weights.shape[0], weights.shape[-2], weights.shape[-1]), dtype=np.float32)  # (L, T, T)
    previous = None
    for layer in range(weights.shape[0]):
        previous = maps[layer] = step(weights[layer], previous, residual_share)
    return maps


def rollout(weights: np.ndarray, residual_share: float = RESIDUAL_SHARE) -> np.ndarray:
    """Attention rollout of self-attention weights ``(L, H, T, T)``, cumulative per layer.

    Abnar & Zuidema (2020): ``A'_l = renormalise(0.5·mean_heads(A_l) + 0.5·I)`` models the
    residual connection; ``R_0 = A'_0`` and ``R_l = A'_l · R_{l-1}``. Returns ``(L, T, T)``
    where entry ``[l, i, j]`` is how much of input token ``j`` reaches position ``i``
    after layer ``l``; every row sums to 1. Only self-attention has a rollout: the
    product needs queries and keys on one axis.
    """
    return _through_layers(weights, "rollout", residual_share)


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
    comparisons (about 1.1 s per layer at 1,024 tokens), so views refuse it above
    ``FLOW_TOKEN_LIMIT`` tokens.
    """
    return _through_layers(weights, "flow", residual_share)


def aggregate(weights: np.ndarray, method: str, layer: int, keep: np.ndarray | None = None) -> np.ndarray:
    """The ``(Q, K)`` map of ``method`` at ``layer`` from ``(L, H, Q, K)`` weights, float32.

    ``mean``/``max``: over the heads of ``layer``. ``rollout``/``flow``: through layers
    ``0…layer`` (self-attention only; flow is refused above ``FLOW_TOKEN_LIMIT`` tokens
    with ``flow_refusal``'s sentence). With ``keep`` (see ``kept_keys``) only the kept key
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
    if refusal := aggregate_refusal(method, weights.shape[-2], weights.shape[-1]):
        raise ValueError(refusal)
    if method in ("mean", "max"):
        heads = drop_keys(np.asarray(weights[layer], dtype=np.float32), keep)  # (H, Q, kept)
        return (heads.mean(axis=0) if method == "mean" else heads.max(axis=0)).astype(np.float32)
    return hide_in_aggregate(across_layers(weights[: layer + 1], method)[-1], method, keep)


def across_layers(weights: np.ndarray, method: str) -> np.ndarray:
    """``(L, T, T)``: the rollout or the widest-path flow after each layer (self-attention only)."""
    if method not in LAYER_STEPS:
        raise ValueError(f"{method!r} is not computed across layers; choose rollout or flow")
    return _through_layers(weights, method, RESIDUAL_SHARE)


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
