"""What "a recomputed trace equals the dense one" means, checked the same way everywhere.

Two checks per attention kind:

- **The reads are exact.** Every way of reading a recomputed map — materialising it,
  indexing, tiles at full and reduced resolution, single rows, the overview — equals
  the dense computation from the same stored queries and keys (the dense attention
  function of ``model.attention`` with the mask and bias built the dense way) within
  2e-6 for weights and 2e-6 relative for scores: a few float32 units in the last place
  of scores that reach 10–20 (where one unit is 1e-6), because a read multiplies its
  rows in a matmul of another shape than the forward's, which rounds the last bit
  differently. Everything else (mask, bias, cap, lse, pooling) is exact.
- **The forward agrees.** The recomputed trace against the dense trace of the same
  input: the first self-attention layer sees identical inputs in both forwards (2e-6);
  later layers and cross-attention read hidden states the blockwise forward rounded
  differently, so they agree within 1e-5 for weights (the tolerance the parity tests
  hold the dense trace to against ``transformers``) and 1e-4 relative for scores.
"""

from __future__ import annotations

import numpy as np
import torch

from model.attention import scaled_dot_product_attention
from model.overview import power_of_two_steps
from model.trace import AttentionMaps
from model.transformer import window_mask

WEIGHTS_TOLERANCE = 2e-6
DEEPER_TOLERANCE = 1e-5
DEEPER_SCORES_TOLERANCE = 1e-4


def pooled(dense: np.ndarray, steps: tuple[int, int]) -> np.ndarray:
    """``(..., Q, K)`` → block maxima in ``steps`` blocks (zeros pad the partial edges)."""
    *lead, Q, K = dense.shape
    rows, cols = steps
    nr, nc = -(-Q // rows), -(-K // cols)
    padded = np.zeros((*lead, nr * rows, nc * cols), dtype=np.float32)
    padded[..., :Q, :K] = dense
    return padded.reshape(*lead, nr, rows, nc, cols).max(axis=(-3, -1))


def assert_scores_close(ours: np.ndarray, dense: np.ndarray, tolerance: float = 1e-6) -> None:
    finite = np.isfinite(dense)
    assert np.array_equal(np.isfinite(ours), finite), "masked cells differ"
    assert np.array_equal(ours[~finite], dense[~finite])
    scale = np.maximum(1.0, np.abs(dense[finite]))
    assert (np.abs(ours[finite] - dense[finite]) / scale).max(initial=0.0) <= tolerance


@torch.inference_mode()
def dense_reference(maps: AttentionMaps, batch: int = 0) -> AttentionMaps:
    """The dense computation from a recomputed map's own stored queries and keys."""
    source = maps.weights.source
    weights, scores = [], []
    for record in source.layers:
        q = record.queries.whole()[batch : batch + 1].float()  # (1, H, Tq, dh)
        k = record.keys.whole()[batch : batch + 1].float()  # (1, KV, Tk, dh)
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)  # (1, H, Tk, dh)
        Tq, Tk = q.shape[2], k.shape[2]
        recipe = record.recipe
        mask = None
        if recipe.causal:
            mask = torch.ones(Tq, Tk, dtype=torch.bool).tril()
        if recipe.window is not None:
            band = window_mask(Tq, recipe.window, recipe.causal, q.device)
            mask = band if mask is None else mask & band
        if recipe.key_padding is not None:
            real = recipe.key_padding[batch][None, :].expand(Tq, Tk)
            mask = real if mask is None else mask & real
        bias = recipe.relative(Tq, Tk) if recipe.relative is not None else None
        result = scaled_dot_product_attention(
            q, k, torch.zeros_like(k), mask, bias, scale=1.0, softcap=recipe.softcap
        )
        weights.append(result.weights[0].numpy())
        scores.append(result.scores[0].numpy())
    return AttentionMaps(weights=np.stack(weights), scores=np.stack(scores), kv_heads=maps.kv_heads, windows=maps.windows)


def assert_reads_match(recomputed, dense, tolerance: float = WEIGHTS_TOLERANCE, scores_tolerance: float | None = None,
                       side: int | None = None) -> None:
    """Every read of ``recomputed`` (AttentionMaps, not dense) equals ``dense``'s."""
    scores_tolerance = tolerance if scores_tolerance is None else scores_tolerance
    assert not recomputed.is_dense and dense.is_dense
    assert recomputed.shape == dense.shape
    weights = np.asarray(dense.weights, dtype=np.float32)
    assert np.abs(np.asarray(recomputed.weights) - weights).max() <= tolerance
    assert_scores_close(np.asarray(recomputed.scores), np.asarray(dense.scores, dtype=np.float32), scores_tolerance)
    L, H, Q, K = dense.shape
    for layer in range(L):
        for head in range(H):
            for out_shape in ((Q, K), (max(1, Q // 3), max(1, K // 2)), (1, 1)):
                for rows, cols in ((slice(None), slice(None)), (slice(1, None, 2), slice(K // 3, None))):
                    ours = recomputed.tile(layer, head, rows, cols, out_shape)
                    theirs = dense.tile(layer, head, rows, cols, out_shape)
                    assert ours.shape == theirs.shape and ours.dtype == np.float32
                    assert np.abs(ours - theirs).max(initial=0.0) <= tolerance
                    assert_scores_close(
                        recomputed.tile(layer, head, rows, cols, out_shape, "scores"),
                        dense.tile(layer, head, rows, cols, out_shape, "scores"), scores_tolerance,
                    )
            query = Q - 1 - (layer + head) % Q
            assert np.abs(recomputed.row(layer, head, query) - dense.row(layer, head, query)).max() <= tolerance
    if recomputed.overview is not None:
        steps = power_of_two_steps(Q, K, side or max(recomputed.overview.shape[-2:]))
        assert recomputed.overview.shape[-2:] == pooled(weights, steps).shape[-2:]
        assert np.abs(recomputed.overview - pooled(weights, steps)).max() <= tolerance
        means = pooled(weights.mean(axis=1), steps)
        assert np.abs(recomputed.overview_means - means).max() <= tolerance


def assert_forward_agrees(recomputed, dense, same_inputs: bool, tolerance: float = DEEPER_TOLERANCE) -> None:
    """The recomputed and dense traces' maps of one kind agree as the module docstring says."""
    weights, scores = np.asarray(dense.weights, np.float32), np.asarray(dense.scores, np.float32)
    for layer in range(dense.shape[0]):
        exact = same_inputs and layer == 0
        w_tolerance = WEIGHTS_TOLERANCE if exact else tolerance
        s_tolerance = WEIGHTS_TOLERANCE if exact else DEEPER_SCORES_TOLERANCE
        assert np.abs(np.asarray(recomputed.weights[layer]) - weights[layer]).max() <= w_tolerance
        assert_scores_close(np.asarray(recomputed.scores[layer]), scores[layer], s_tolerance)


def assert_traces_match(recomputed, dense, side: int | None = None, incremental: bool = False) -> None:
    """Both checks of the module docstring for every kind, and the decoder's hidden states.

    An ``incremental`` trace computed its suffix rows in matmuls of other shapes than the
    full forward's, so even its first layer is held to 1e-5 only.
    """
    assert recomputed.kinds == dense.kinds
    for kind in dense.kinds:
        maps = recomputed.attention[kind]
        assert_reads_match(maps, dense_reference(maps), side=side)
        # The decoder of an encoder–decoder and cross-attention read the encoder's output.
        same_inputs = (kind == "encoder_self" or dense.encoder is None) and not incremental
        assert_forward_agrees(maps, dense.attention[kind], same_inputs)
    if dense.decoder_hidden is not None:
        assert np.abs(recomputed.decoder_hidden - dense.decoder_hidden).max() <= 1e-4
