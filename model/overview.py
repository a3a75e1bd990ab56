"""Overviews of attention maps: block maxima at a bounded size, computed in torch.

A viewer that shows every layer and head of a 2,048-token input at once needs a few
dozen pixels a side per head, not four million cells. Pooling here, inside the forward
and on the device the weights were computed on, takes a fraction of a second at that
length; pooling the stored numpy copy afterwards took seconds.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor


def pool_steps(rows: int, columns: int, side: int) -> tuple[int, int]:
    """Rows and columns per block so that neither side of the result exceeds ``side``."""
    if side < 1:
        raise ValueError(f"an overview needs at least one cell a side, not {side}")
    return max(math.ceil(rows / side), 1), max(math.ceil(columns / side), 1)


def pool_max(weights: Tensor, side: int) -> Tensor:
    """``(B, C, Q, K)`` → ``(B, C, ceil(Q / r), ceil(K / c))``: the maximum of each r × c block.

    The maximum rather than the mean keeps one sharply attended key visible in a long
    input's overview. Blocks at the far edges are partial (``ceil_mode``); inputs that
    already fit are returned as they are.
    """
    row_step, column_step = pool_steps(weights.shape[-2], weights.shape[-1], side)
    if row_step == 1 and column_step == 1:
        return weights
    steps = (row_step, column_step)
    return F.max_pool2d(weights, kernel_size=steps, stride=steps, ceil_mode=True)
