"""The overview mosaic: cells where the layout says, colours through the table, masked cells grey."""

from __future__ import annotations

import numpy as np

from explorer.core.mosaic import (
    GAP_INDEX,
    MASKED_RGBA,
    MosaicColumn,
    MosaicLayout,
    colour_indices,
    colour_table,
    grid_layout,
    mosaic_rgba,
)


def _table() -> np.ndarray:
    ramp = np.arange(256, dtype=np.uint8)
    return colour_table(np.stack([ramp, 255 - ramp, np.zeros(256, dtype=np.uint8)], axis=1))


def test_values_map_through_the_levels_and_nan_gets_the_masked_colour() -> None:
    indices = colour_indices(np.array([[0.0, 0.5, 1.0, np.nan, 2.0, -1.0]]), (0.0, 1.0))
    assert indices.tolist() == [[0, 127, 255, 256, 255, 0]]
    table = _table()
    assert tuple(table[256]) == MASKED_RGBA and table[GAP_INDEX, 3] == 0  # gaps are transparent


def test_each_cell_lands_in_its_place_and_groups_leave_a_wider_gap() -> None:
    layout = grid_layout(2, 3, mean_column=True)
    assert [c.title for c in layout.columns] == ["H0", "H1", "H2", "mean"]
    xs = layout.column_x()
    assert xs[:3] == [0.0, 1.0, 2.0] and xs[3] > 3.0  # the mean column is its own group
    cells = {(row, column): np.full((4, 4), (row * 4 + column) / 8) for row in range(2) for column in range(4)}
    rgba, unit = mosaic_rgba(layout, cells, (0.0, 1.0), _table())
    assert rgba.dtype == np.uint8 and rgba.shape[2] == 4
    for (row, column), values in cells.items():
        y, x = int((row + 0.5) * unit), int((xs[column] + 0.5) * unit)
        assert rgba[y, x, 0] == colour_indices(values, (0.0, 1.0))[0, 0]
    assert rgba[0, 0, 3] == 0  # a gap
    assert layout.hit(xs[3] + 0.5, 1.5) == (1, 3) and layout.hit(3.1, 0.5) is None


def test_a_layout_takes_any_column_groups_and_row_labels() -> None:
    # What grouping query heads by their shared key/value head will need.
    groups = tuple(tuple(MosaicColumn(h, f"H{h}") for h in range(g * 2, g * 2 + 2)) for g in range(3))
    layout = MosaicLayout(("L0 · window 4", "L1"), groups)
    assert len(layout.columns) == 6 and layout.height == 2.0
    assert layout.column_x()[2] - layout.column_x()[1] > 1.0


def test_heads_sharing_a_key_value_head_form_one_titled_group_and_windows_label_the_layers() -> None:
    from explorer.core.mosaic import GROUP_GAP, grid_layout

    layout = grid_layout(3, 6, True, kv_heads=np.array([0, 0, 0, 1, 1, 1]), windows=(4, None, 4))
    assert [[column.head for column in group] for group in layout.column_groups] == [[0, 1, 2], [3, 4, 5], [-1]]
    assert layout.group_titles == ("KV 0", "KV 1", "")
    assert layout.row_labels == ("L0 local 4", "L1 global", "L2 local 4")
    xs = layout.column_x()
    assert xs[3] - xs[2] == 1.0 + GROUP_GAP and xs[1] - xs[0] == 1.0  # a gap between groups only
    assert layout.group_centres() == [((xs[0] + xs[2] + 1) / 2, "KV 0"), ((xs[3] + xs[5] + 1) / 2, "KV 1")]
    plain = grid_layout(3, 6, True)
    assert len(plain.column_groups) == 2 and plain.group_centres() == [] and plain.row_labels[1] == "L1"
