"""Overviews pooled inside the forward: the grid's thumbnails of a long input cost
nothing after it. Not timed; these tests check the values and that they come from the
float32 weights, whatever dtype the trace is stored in."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model import AttentionModel
from model.overview import pool_max
from tiny_models import task_tokenizer, tiny_config, tiny_network

TEXT = "sort: 9 3 7 1 8 2 6 4 5 0 9 3 7 1"


def block_maxima(matrix: np.ndarray, side: int) -> np.ndarray:
    """The reference: a Python loop over blocks of ceil(Q/side) × ceil(K/side) cells."""
    rows, columns = matrix.shape
    row_step, column_step = math.ceil(rows / side), math.ceil(columns / side)
    out = np.empty((math.ceil(rows / row_step), math.ceil(columns / column_step)), dtype=np.float32)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = matrix[i * row_step : (i + 1) * row_step, j * column_step : (j + 1) * column_step].max()
    return out


@pytest.mark.parametrize("rows, columns, side", [(7, 7, 3), (10, 4, 3), (5, 13, 4), (6, 6, 6), (9, 2, 96)])
def test_pool_max_takes_the_maximum_of_every_block_including_partial_edges(rows, columns, side):
    generator = torch.Generator().manual_seed(rows * 100 + columns)
    weights = torch.rand((1, 2, rows, columns), generator=generator)
    pooled = pool_max(weights, side).numpy()
    for head in range(2):
        expected = block_maxima(weights[0, head].numpy(), side)
        np.testing.assert_array_equal(pooled[0, head], expected)
        assert max(expected.shape) <= side


@pytest.mark.parametrize("architecture", ["encoder", "decoder", "encoder-decoder"])
def test_trace_overviews_are_the_block_maxima_of_the_float32_weights(architecture):
    config = tiny_config(architecture, lm_head=architecture != "encoder")
    model = AttentionModel(tiny_network(config), task_tokenizer(config.max_positions), "tiny")
    target = "0 1 2 3 4 5 6 7 8" if architecture == "encoder-decoder" else None
    exact = model.trace(TEXT, target=target, precision="float32")
    half = model.trace(TEXT, target=target, precision="float16", overview_side=4)
    assert exact.attention[exact.kinds[0]].overview is None  # only when asked for
    for kind in half.kinds:
        maps, weights = half.attention[kind], exact.attention[kind].weights
        assert maps.weights.dtype == np.float16
        assert maps.overview.dtype == np.float32 and maps.overview_means.dtype == np.float32
        L, H = weights.shape[:2]
        for layer in range(L):
            for head in range(H):
                np.testing.assert_allclose(maps.overview[layer, head], block_maxima(weights[layer, head], 4), atol=1e-6)
            mean = weights[layer].mean(axis=0)
            np.testing.assert_allclose(maps.overview_means[layer], block_maxima(mean, 4), atol=1e-6)
