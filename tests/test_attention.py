"""The attention function against the formula softmax(q·kᵀ/√d + bias, masked)·v."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.attention import scaled_dot_product_attention


def reference(q, k, v, mask=None, bias=None):
    """The formula written out one query and key at a time, in float64 numpy."""
    q, k, v = (t.double().numpy() for t in (q, k, v))
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    weights = np.zeros((B, H, Tq, Tk))
    scores = np.full((B, H, Tq, Tk), -np.inf)
    for b in range(B):
        for h in range(H):
            for i in range(Tq):
                for j in range(Tk):
                    allowed = True if mask is None else bool(mask.expand(B, H, Tq, Tk)[b, h, i, j])
                    if allowed:
                        x = float(np.dot(q[b, h, i], k[b, h, j])) / math.sqrt(d)
                        if bias is not None:
                            x += float(bias.expand(B, H, Tq, Tk)[b, h, i, j])
                        scores[b, h, i, j] = x
                finite = np.isfinite(scores[b, h, i])
                if finite.any():
                    e = np.exp(scores[b, h, i][finite] - scores[b, h, i][finite].max())
                    weights[b, h, i][finite] = e / e.sum()
    return weights @ v, weights, scores


@pytest.fixture
def qkv():
    generator = torch.Generator().manual_seed(3)
    q = torch.randn(2, 3, 5, 8, generator=generator)
    k = torch.randn(2, 3, 7, 8, generator=generator)
    v = torch.randn(2, 3, 7, 8, generator=generator)
    return q, k, v


def test_matches_the_formula(qkv):
    output, weights, scores = scaled_dot_product_attention(*qkv)
    expected_output, expected_weights, expected_scores = reference(*qkv)
    np.testing.assert_allclose(scores.numpy(), expected_scores, atol=1e-5)
    np.testing.assert_allclose(weights.numpy(), expected_weights, atol=1e-6)
    np.testing.assert_allclose(output.numpy(), expected_output, atol=1e-5)
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, atol=1e-6)


def test_mask_and_bias(qkv):
    q, k, v = qkv
    mask = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(1)) > 0.3
    mask[..., 0] = True  # every row keeps a key
    bias = torch.randn(1, 3, 5, 7, generator=torch.Generator().manual_seed(2))
    output, weights, scores = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    expected_output, expected_weights, expected_scores = reference(q, k, v, mask, bias)
    np.testing.assert_allclose(weights.numpy(), expected_weights, atol=1e-6)
    np.testing.assert_allclose(output.numpy(), expected_output, atol=1e-5)
    masked = ~mask.expand_as(weights)
    assert torch.all(weights[masked] == 0)
    assert torch.all(torch.isneginf(scores[masked]))
    assert torch.isfinite(scores[~masked]).all()


def test_fully_masked_row_is_zero_not_nan(qkv):
    q, k, v = qkv
    mask = torch.ones(2, 1, 5, 7, dtype=torch.bool)
    mask[0, 0, 2] = False  # query 2 of batch 0 may attend to nothing
    for need_weights in (False, True):
        output, weights, _ = scaled_dot_product_attention(q, k, v, mask=mask, need_weights=need_weights)
        assert not torch.isnan(output).any()
        assert torch.all(output[0, :, 2] == 0)
    assert torch.all(weights[0, :, 2] == 0)
    np.testing.assert_allclose(weights[1].sum(-1).numpy(), 1.0, atol=1e-6)


def test_fused_path_gives_the_same_output(qkv):
    q, k, v = qkv
    mask = torch.ones(1, 1, 5, 7, dtype=torch.bool).tril(diagonal=2)
    bias = torch.randn(1, 3, 5, 7, generator=torch.Generator().manual_seed(5))
    explicit = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias, scale=0.5)
    fused = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias, scale=0.5, need_weights=False)
    assert fused.weights is None and fused.scores is None
    torch.testing.assert_close(fused.output, explicit.output, atol=1e-5, rtol=1e-5)


def test_unscaled_scores_are_plain_dot_products(qkv):
    q, k, v = qkv
    _, _, scores = scaled_dot_product_attention(q, k, v, scale=1.0)
    torch.testing.assert_close(scores, q @ k.transpose(-2, -1))
