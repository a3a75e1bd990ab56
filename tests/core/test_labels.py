"""The alignment drawing's labels: every one when they fit, the most important ones first when not."""

from __future__ import annotations

import numpy as np

from explorer.core.labels import alignment_priorities, labels_by_priority


def test_every_label_is_kept_when_a_row_is_a_line_high() -> None:
    assert labels_by_priority(np.zeros(30), row_pixels=12.0, line_pixels=12.0) == list(range(30))


def test_crowded_labels_keep_the_highest_priorities_and_never_overlap() -> None:
    priority = np.zeros(60)
    priority[[7, 8, 41]] = [0.5, 0.9, 0.7]
    kept = labels_by_priority(priority, row_pixels=3.0, line_pixels=12.0)
    assert {8, 41} <= set(kept) and 7 not in kept  # 7 sits too close to the stronger 8
    assert all(b - a >= 4 for a, b in zip(kept, kept[1:]))  # 4 rows = one line
    assert len(kept) >= 60 * 3.0 / 12.0 - 8  # the remaining room is filled too


def test_the_selected_target_and_its_strongest_sources_outrank_every_other_link() -> None:
    weights = np.full((40, 40), 0.01)
    weights[5, 30] = 0.95  # a strong link of another target
    weights[2, 17] = 0.6  # the selected target's strongest source
    source, target = alignment_priorities(weights, query=2)
    assert np.argmax(source) == 17 and np.argmax(target) == 2
    assert source[30] > source[0]  # then by each token's strongest link
    assert 17 in labels_by_priority(source, 2.0, 12.0) and 2 in labels_by_priority(target, 2.0, 12.0)
