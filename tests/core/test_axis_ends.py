"""Round axis ends for the distribution: they contain the values and move only in steps."""

from __future__ import annotations

import numpy as np

from explorer.core.numeric import PROBABILITY_AXIS_ENDS, probability_axis_end, score_axis_range


def test_the_probability_axis_ends_at_the_first_round_end_holding_the_largest_bar():
    assert probability_axis_end(0.3) == 0.5
    assert probability_axis_end(0.25) == 0.25
    assert probability_axis_end(0.03) == 0.05
    assert probability_axis_end(1.0) == 1.0
    assert probability_axis_end(0.0) == PROBABILITY_AXIS_ENDS[0]


def test_score_ends_hold_the_scores_and_zero_on_round_steps():
    rng = np.random.default_rng(5)
    for _ in range(500):
        low, high = sorted(rng.normal(0, 10, size=2) * 10.0 ** rng.integers(-3, 3))
        start, end = score_axis_range(low, high)
        assert start <= min(low, 0.0) and end >= max(high, 0.0)
        extent = max(high, 0.0) - min(low, 0.0)
        assert end - start <= 3.2 * extent  # round, not loose
        # Both ends are multiples of one round step of at least a fifth of the extent.
        steps = [m * 10.0**k for m in (1, 2, 2.5, 5) for k in range(-6, 6) if m * 10.0**k >= extent / 5 * (1 - 1e-9)]
        assert any(all(abs(v / step - round(v / step)) < 1e-6 for v in (start, end)) for step in steps)
    assert score_axis_range(-3.2, 7.9) == (-5.0, 10.0)
    assert score_axis_range(-0.02, 0.5) == (-0.2, 0.6)
    assert score_axis_range(0.0, 0.0) == (-1.0, 1.0)
    assert score_axis_range(float("nan"), 1.0) == (-1.0, 1.0)


def test_scores_that_move_within_a_step_keep_the_axis():
    # Typing moves a row's scores by a little; the axis (and its drawing) stays.
    assert score_axis_range(-3.2, 7.9) == score_axis_range(-3.4, 7.6) == score_axis_range(-2.6, 8.1)
