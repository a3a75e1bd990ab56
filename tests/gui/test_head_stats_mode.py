"""The head statistics dock: worker-computed numbers, numeric sorting, presets, row clicks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.analysis.head_stats import PRESETS, STATISTICS, trace_head_statistics
from explorer.modes.head_stats import COLUMNS, SORT_ROLE


@pytest.fixture
def mode(qtbot, drive, window, checkpoints):
    drive.load(window, checkpoints["decoder"], text="sort: owl cat fig yak", target=None)
    stats = window.modes["stats"]
    with qtbot.waitSignal(stats.settled, timeout=drive.timeout):
        stats.raise_dock()
    assert stats.table_trace is window.state.trace
    return stats


def shown_rows(mode) -> list[tuple[str, int, int]]:
    return [mode.row_key(row) for row in range(mode.proxy.rowCount())]


def column_values(mode, name: str) -> list[float]:
    column = COLUMNS.index(name)
    return [mode.proxy.index(row, column).data(SORT_ROLE) for row in range(mode.proxy.rowCount())]


def test_the_table_holds_the_statistics_of_every_head(mode, window):
    expected = trace_head_statistics(window.state.trace, "decoder_self")
    n_layers, n_heads = expected.shape
    assert mode.proxy.rowCount() == n_layers * n_heads
    for row in range(mode.proxy.rowCount()):
        kind, layer, head = mode.row_key(row)
        assert kind == "decoder_self"
        for name in STATISTICS:
            shown = mode.proxy.index(row, COLUMNS.index(name)).data(SORT_ROLE)
            assert shown == pytest.approx(float(expected.values[name][layer, head]), abs=1e-9, nan_ok=True)
    text = mode.proxy.index(0, COLUMNS.index("entropy_bits")).data(Qt.ItemDataRole.DisplayRole)
    assert text == f"{expected.values['entropy_bits'][0, 0]:.3f}"


def test_sorting_by_a_column_orders_numerically(mode):
    mode.table.sortByColumn(COLUMNS.index("mean_distance"), Qt.SortOrder.AscendingOrder)
    values = column_values(mode, "mean_distance")
    assert values == sorted(values) and len(set(values)) > 1
    mode.table.sortByColumn(COLUMNS.index("entropy_bits"), Qt.SortOrder.DescendingOrder)
    values = column_values(mode, "entropy_bits")
    assert values == sorted(values, reverse=True)


def test_not_applicable_cells_sort_last_both_ways(qtbot, drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    stats = window.modes["stats"]
    with qtbot.waitSignal(stats.settled, timeout=drive.timeout):
        stats.raise_dock()
    stats.kinds.setCurrentIndex(stats.kinds.findData("all"))
    assert {key[0] for key in shown_rows(stats)} == {"encoder_self", "decoder_self", "cross"}
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        stats.table.sortByColumn(COLUMNS.index("previous_share"), order)
        values = column_values(stats, "previous_share")
        numbers = [value for value in values if not math.isnan(value)]
        assert values[: len(numbers)] == sorted(numbers, reverse=order == Qt.SortOrder.DescendingOrder)
        assert all(math.isnan(value) for value in values[len(numbers):]) and len(numbers) < len(values)


def test_clicking_a_row_selects_the_head_and_keeps_it_highlighted(qtbot, mode, window):
    mode.table.sortByColumn(COLUMNS.index("max_weight"), Qt.SortOrder.DescendingOrder)
    row = 3
    kind, layer, head = mode.row_key(row)
    index = mode.proxy.index(row, COLUMNS.index("entropy_bits"))
    mode.table.scrollTo(index)
    qtbot.mouseClick(mode.table.viewport(), Qt.MouseButton.LeftButton, pos=mode.table.visualRect(index).center())
    selection = window.state.selection
    assert (selection.kind, selection.layer, selection.head) == (kind, layer, head)
    np.testing.assert_allclose(
        window.head_detail.heatmap.matrix, window.state.trace.attention[kind].weights[layer, head], atol=1e-6
    )
    highlighted = [
        mode.row_key(r) for r in range(mode.proxy.rowCount()) if mode.proxy.index(r, 0).data(Qt.ItemDataRole.BackgroundRole)
    ]
    assert highlighted == [(kind, layer, head)]
    # A selection change elsewhere moves the highlight without recomputing the table.
    table_trace = mode.table_trace
    window.select(head=(head + 1) % window.state.n_heads)
    assert not mode.busy and mode.table_trace is table_trace
    assert mode.table_model.selected == (kind, layer, (head + 1) % window.state.n_heads)


def test_a_preset_filters_to_the_matching_heads(qtbot, mode, window):
    # Rewrite layer 1, head 0 of the shown trace into a previous-token head: w[i, i - 1] = 1.
    trace = window.state.trace
    weights = trace.attention["decoder_self"].weights.copy()
    n_tokens = weights.shape[-1]
    weights[1, 0] = np.eye(n_tokens, k=-1, dtype=np.float32)
    weights[1, 0, 0, 0] = 1.0  # the first token can only look at itself
    attention = dict(trace.attention)
    attention["decoder_self"] = dataclasses.replace(trace.attention["decoder_self"], weights=weights)
    with qtbot.waitSignal(mode.settled, timeout=30_000):
        window.state.set_trace(dataclasses.replace(trace, attention=attention))
        window.paint()
    preset = PRESETS["previous-token"]
    expected = trace_head_statistics(window.state.trace, "decoder_self").values[preset.statistic]
    mode.preset.setCurrentIndex(mode.preset.findData("previous-token"))
    matching = {("decoder_self", int(l), int(h)) for l, h in zip(*np.nonzero(expected >= preset.threshold))}
    assert ("decoder_self", 1, 0) in matching and len(matching) < expected.size
    assert set(shown_rows(mode)) == matching
    assert preset.description in mode.note.text()
    assert f"{len(matching)} head" in mode.note.text()
    mode.preset.setCurrentIndex(mode.preset.findData(None))
    assert mode.proxy.rowCount() == expected.size


def test_a_new_trace_recomputes_the_table(qtbot, drive, mode, window):
    first = mode.table_trace
    with qtbot.waitSignal(mode.settled, timeout=drive.timeout):
        window.input_panel.source.setPlainText("sort: owl cat")
    drive.wait_for_text(window, "sort: owl cat")
    assert mode.table_trace is window.state.trace and mode.table_trace is not first
    expected = trace_head_statistics(window.state.trace, "decoder_self")
    assert column_values(mode, "entropy_bits")[0] == pytest.approx(float(expected.values["entropy_bits"][0, 0]))


def _with_decoder_weights(trace, weights: np.ndarray):
    attention = dict(trace.attention)
    attention["decoder_self"] = dataclasses.replace(trace.attention["decoder_self"], weights=weights)
    return dataclasses.replace(trace, attention=attention)


def test_a_new_trace_shows_updating_until_its_table_arrives_and_restarts_mid_chain(qtbot, mode, window):
    shown = window.state.trace
    weights = shown.attention["decoder_self"].weights
    assert mode.updating.isHidden()
    old_entropy = column_values(mode, "entropy_bits")
    # Two more traces of the same tokens: the first with layer 1 moved to layer 0; the
    # newer with every head of layer 1 looking at the first token only.
    first = _with_decoder_weights(shown, weights[[1, 1]].copy())
    on_first_token = weights.copy()
    on_first_token[1] = 0.0
    on_first_token[1, :, :, 0] = 1.0
    newer = _with_decoder_weights(shown, on_first_token)
    answered: list[int] = []
    notes: list[str] = []

    def on_answer(topic: str, value) -> None:
        if topic != "stats/layer":
            return
        chain, index, _result = value
        answered.append(index)
        notes.append(mode.updating.text() if mode.updating.isVisible() else "")
        if chain.key is first and index == 0:
            # A keystroke's trace arrives between two layers of the first trace's table.
            window.state.set_trace(newer)
            window.paint()

    window.controller.analysis_ready.connect(on_answer)
    try:
        with qtbot.waitSignal(mode.settled, timeout=30_000):
            window.state.set_trace(first)
            window.paint()
            # Until the new numbers arrive the table keeps the old ones and says so.
            assert mode.updating.isVisible() and "Updating for the new input" in mode.updating.text()
            assert mode.table_trace is shown and column_values(mode, "entropy_bits") == old_entropy
    finally:
        window.controller.analysis_ready.disconnect(on_answer)
    # Layer 0 of the first trace, then layers 0 and 1 of the newer one: the first chain stopped.
    assert answered == [0, 0, 1]
    assert all("Updating for the new input" in note for note in notes[:-1]) and notes[-1] == ""
    assert mode.updating.isHidden() and mode.table_trace is newer
    expected = trace_head_statistics(newer, "decoder_self")
    assert expected.values["entropy_bits"][1] == pytest.approx([0.0, 0.0])
    for row in range(mode.proxy.rowCount()):
        kind, layer, head = mode.row_key(row)
        shown_value = mode.proxy.index(row, COLUMNS.index("entropy_bits")).data(SORT_ROLE)
        assert shown_value == pytest.approx(float(expected.values["entropy_bits"][layer, head]), abs=1e-9)
