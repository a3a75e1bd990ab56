"""Evenly spaced sample rows: what ``np.unique`` of a linspace gave, without importing numpy.ma."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from explorer.core.numeric import spaced_rows


@pytest.mark.parametrize("n_rows", [1, 2, 3, 7, 63, 64, 65, 1000, 4097])
@pytest.mark.parametrize("count", [1, 2, 3, 16, 64, 256])
def test_spaced_rows_are_the_distinct_rows_of_an_even_spread(n_rows: int, count: int) -> None:
    expected = np.unique(np.linspace(0, n_rows - 1, min(n_rows, count)).astype(np.int64))
    rows = spaced_rows(n_rows, count)
    assert rows.dtype == expected.dtype and rows.tolist() == expected.tolist()


def test_choosing_the_sharpest_head_leaves_numpy_ma_unimported() -> None:
    code = (
        "import sys, numpy as np\n"
        "from explorer.core.numeric import sharpest_head\n"
        "weights = np.random.default_rng(0).dirichlet(np.ones(9), size=(2, 3, 9))\n"
        "print(sharpest_head(weights), 'numpy.ma' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().endswith("False")
