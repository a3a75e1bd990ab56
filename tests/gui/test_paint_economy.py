"""Repaints do only the work that changed: no tick rebuilds for the same tokens, no bars
recreated, no chips re-laid out for the same tokens, no drawing of hidden panels."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget
from gui.call_counts import calls, calls_by_first_argument

from explorer.colormaps import lookup_table
from explorer.core.mosaic import colour_table, grid_mosaic
from explorer.core.views import distribution_view


@pytest.fixture
def paints(window) -> Counter:
    """How often each panel or mode of ``window`` was painted, from its creation on."""
    return calls_by_first_argument(window, "_paint_panel")


def _count_tick_updates(window):
    """Start counting the ``setTicks`` calls that change an axis' ticks; returns a reader."""
    axes = {
        "head.bottom": window.head_detail.heatmap.plot.getAxis("bottom"),
        "head.left": window.head_detail.heatmap.plot.getAxis("left"),
        "cross.bottom": window.cross.heatmap.plot.getAxis("bottom"),
        "cross.left": window.cross.heatmap.plot.getAxis("left"),
        "distribution.bottom": window.distribution.score_plot.getAxis("bottom"),
        "grid.top": window.grid.plot.getAxis("top"),
    }
    counted = {
        name: calls(axis, "setTicks", when=lambda ticks, axis=axis: ticks != axis._tickLevels)
        for name, axis in axes.items()
    }
    return lambda: {name: len(seen) for name, seen in counted.items()}


def test_a_new_trace_with_the_same_tokens_sets_no_ticks_and_new_tokens_do(drive, qtbot, window, paints, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    _tick_updates = _count_tick_updates(window)

    def same_text_again() -> None:
        # A new trace, new arrays, the same token axes.
        painted = window.painted
        window.request_trace()
        qtbot.waitUntil(lambda: window.painted is not painted, timeout=drive.timeout)

    same_text_again()  # the first paint resizes the plots (their labels arrive); let that settle
    before = _tick_updates()
    painted_before = Counter(paints)
    same_text_again()
    window.select(head=(window.state.selection.head or 0) + 1, layer=0)
    assert all(paints[name] >= painted_before[name] + 2 for name in ("head", "distribution", "cross", "grid"))
    assert _tick_updates() == before
    # A text with other tokens changes the key axes' ticks.
    text = "date: 17 june 1999"
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    after = _tick_updates()
    assert after["head.bottom"] > before["head.bottom"] and after["cross.bottom"] > before["cross.bottom"]
    assert after["grid.top"] == before["grid.top"]  # the same layers and heads: the same grid labels


def test_bars_are_updated_in_place_and_only_when_their_values_change(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    panel = window.distribution
    probability_bars, score_bars = panel.probability_bars, panel.score_bars
    bar_updates = calls(probability_bars, "setOpts")  # the bars given new values
    updates = len(bar_updates)
    window.select(colormap="magma" if window.state.selection.colormap != "magma" else "viridis")
    assert len(bar_updates) == updates  # a new colour map leaves the bars alone
    query = 1 if window.state.selection.query != 1 else 0
    window.select(query=query)
    assert len(bar_updates) == updates + 1
    expected = distribution_view(window.state)
    assert panel.probability_bars is probability_bars and panel.score_bars is score_bars
    np.testing.assert_allclose(probability_bars.opts["height"], expected.probabilities)
    np.testing.assert_allclose(score_bars.opts["height"], np.nan_to_num(expected.scores, nan=0.0))
    brushes = probability_bars.opts["brushes"]
    assert len(brushes) == len(expected.keys)
    assert len({brushes[i].color().name() for i in range(len(brushes)) if expected.special[i]} & {"#3b6fb6"}) == 0


def test_token_chips_are_laid_out_only_when_the_tokens_change(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    panel = window.input_panel
    canvas = panel.tokens.canvas
    relayouts = canvas.relayouts  # the chips laid out again
    shown = panel.tokens.toPlainText()
    window.select(layer=0, head=0)
    window.select(values="scores")
    window.select(query=window.state.selection.query + 1)  # a new selected chip: a repaint only
    assert canvas.relayouts == relayouts and canvas.selected[1] == window.state.selection.query
    assert panel.tokens.toPlainText() == shown
    text = "date: 17 june 1999"
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    assert canvas.relayouts == relayouts + 1  # new tokens: one layout
    # Text layouts are made once per distinct label and kept.
    assert len(canvas._texts) <= len(set(panel.tokens.toPlainText().split())) + 40


def test_a_closed_panel_is_not_repainted_and_catches_up_when_shown_again(drive, qtbot, window, paints, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    dock, panel = window.docks["distribution"], window.distribution
    dock.close()
    qtbot.waitUntil(lambda: not dock.isVisible())
    painted_before = paints["distribution"]
    shown = panel.shown
    window.select(query=window.state.selection.query + 1)
    assert paints["distribution"] == painted_before and panel.shown is shown
    assert "distribution" in window.stale_panels
    assert paints["head"] > 0 and window.head_detail.heatmap.row_outline.rect().top() == window.state.selection.query
    dock.show()
    qtbot.waitUntil(lambda: paints["distribution"] == painted_before + 1)
    np.testing.assert_allclose(panel.shown.probabilities, distribution_view(window.state).probabilities)
    assert "distribution" not in window.stale_panels


def test_a_panel_tabbed_away_is_not_repainted_and_catches_up_when_its_tab_is_raised(drive, qtbot, window, paints, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    head_dock, cross_dock = window.docks["head"], window.docks["cross"]
    window.tabifyDockWidget(head_dock, cross_dock)
    cross_dock.raise_()
    # A tab behind another stays isVisible(); it is its empty visible region that hides it.
    qtbot.waitUntil(lambda: head_dock.visibleRegion().isEmpty() and not cross_dock.visibleRegion().isEmpty())
    painted_before = Counter(paints)
    window.select(layer=0, head=1)
    assert paints["head"] == painted_before["head"] and paints["cross"] == painted_before["cross"] + 1
    head_dock.raise_()
    qtbot.waitUntil(lambda: paints["head"] == painted_before["head"] + 1)
    np.testing.assert_allclose(window.head_detail.heatmap.matrix, window.state.head_matrix())


def test_grid_lines_drawn_as_fills_match_pyqtgraphs_own_lines_pixel_for_pixel(qtbot):
    import pyqtgraph as pg

    from explorer.panels.heatmap import stable_axes

    def render(axis_items: dict | None, y_range: tuple[float, float]) -> np.ndarray:
        widget = pg.PlotWidget(axisItems=axis_items)
        qtbot.addWidget(widget)
        widget.setBackground("#ffffff")
        widget.resize(503, 211)
        widget.showGrid(x=False, y=True, alpha=0.25)
        widget.setYRange(*y_range, padding=0.0)
        widget.setXRange(0, 7, padding=0.0)
        image = widget.grab().toImage()
        pixels = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
        return pixels.reshape(image.height(), image.bytesPerLine()).copy()

    for y_range in ((0.0, 0.4437), (-5.31, 2.07), (0.0, 1.0)):
        ours = render(stable_axes("left"), y_range)
        reference = render(None, y_range)
        # The grid really is there: many rows hold the translucent grey of its lines.
        assert np.count_nonzero((ours != 255).sum(axis=1) > 300) >= 3
        np.testing.assert_array_equal(ours, reference)


def test_the_alignment_is_redrawn_only_when_what_it_draws_changes(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    alignment = window.cross.alignment
    updates = alignment.updates
    window.select(values="scores")  # the heatmaps change; the lines follow the weights, not the scores
    window.select(temperature=2.0)
    assert alignment.updates == updates
    window.select(query=window.state.selection.query + 1)
    assert alignment.updates == updates + 1 and alignment.query == window.state.selection.query
    window.select(head=1 if window.state.selection.head != 1 else 0)
    assert alignment.updates == updates + 2
    np.testing.assert_allclose(alignment.weights, window.state.head_matrix(kind="cross", values="weights"))


def test_the_grid_shows_the_thumbnails_the_forward_pooled_without_pooling_again(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    trace = window.painted.trace
    for kind in trace.kinds:
        maps = trace.attention[kind]
        assert maps.overview is not None and maps.overview.dtype == np.float32
        # The very arrays the forward made: the worker did not pool the stored copy again.
        assert window.state.grid(kind, "weights") is maps.overview
        assert window.state.grid_means(kind, "weights") is maps.overview_means


def test_a_new_trace_is_painted_one_panel_per_turn_of_the_event_loop(drive, qtbot, window, paints, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    showing = [name for name in window.docks if window.panel_showing(name)]
    assert len(showing) >= 4
    before = Counter(paints)
    seen_at_arrival: dict[str, int] = {}

    def on_arrival(_result) -> None:
        # Connected after the window's own slot: what it painted before returning.
        seen_at_arrival.update({name: paints[name] - before[name] for name in showing})

    window.controller.trace_ready.connect(on_arrival)
    painted = window.painted
    window.request_trace()
    qtbot.waitUntil(lambda: window.painted is not painted, timeout=drive.timeout)
    assert sum(seen_at_arrival.values()) == 1  # one panel before the event loop ran again
    assert all(paints[name] - before[name] == 1 for name in showing)  # then every other one, once


def test_only_a_newly_opened_models_first_trace_looks_for_the_sharpest_head(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    first = window.painted
    assert all(("sharpest", kind) in first.prepared for kind in first.trace.kinds)
    window.request_trace()
    qtbot.waitUntil(lambda: window.painted is not first, timeout=drive.timeout)
    # Typing keeps the view: nothing reads every head's rows to choose one.
    assert not any(key[0] == "sharpest" for key in window.painted.prepared)


def test_the_overview_is_one_image_recoloured_only_when_its_values_change(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    grid = window.grid
    images = [item for item in grid.plot.items if isinstance(item, pg.ImageItem)]
    assert images == [grid.image]  # one mosaic, not an image per head
    assert grid.image.image.dtype == np.uint8 and grid.image.image.shape[2] == 4  # coloured already: a blit
    builds = grid.mosaic_builds
    window.select(query=1 if window.state.selection.query != 1 else 0)
    window.select(head=0, layer=1)
    assert grid.mosaic_builds == builds  # a selection is an outline, not a new mosaic
    window.select(colormap="magma" if window.state.selection.colormap != "magma" else "viridis")
    assert grid.mosaic_builds == builds + 1


def test_the_worker_colours_the_overview_so_the_gui_thread_only_blits_it(drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    grid = window.grid
    text = "date: 18 june 1999"
    colourings = grid.gui_thread_colourings
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    assert grid.gui_thread_colourings == colourings  # the trace arrived with its mosaic
    np.testing.assert_array_equal(grid.cells[(0, 0)], window.state.grid()[0, 0])
    state = window.state
    expected, _unit = grid_mosaic(
        state.grid(), state.grid_means(), (0.0, 1.0), colour_table(lookup_table(state.selection.colormap))
    )
    np.testing.assert_array_equal(grid.image.image, expected)  # the picture the GUI thread would make
    # A colour map the worker did not use is coloured here, once.
    window.select(colormap="magma" if window.state.selection.colormap != "magma" else "viridis")
    assert grid.gui_thread_colourings == colourings + 1


class _PaintEvents(QObject):
    """Counts the paint events each watched widget receives."""

    def __init__(self, widgets: dict[str, QWidget]) -> None:
        super().__init__()
        self.names = {id(widget): name for name, widget in widgets.items()}
        self.counts: Counter = Counter()
        for widget in widgets.values():
            widget.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.counts[self.names[id(watched)]] += 1
        return False


def test_each_plot_is_drawn_once_for_a_new_trace(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    plots = {
        "grid": window.grid.view.viewport(),
        "head": window.head_detail.heatmap.view.viewport(),
        "distribution": window.distribution.view.viewport(),
        "cross": window.cross.heatmap.view.viewport(),
    }
    assert all(widget.isVisible() for widget in plots.values())
    def drawn() -> None:
        # The next-token line, asked of the worker once the panels are painted, is in too.
        qtbot.waitUntil(lambda: not window.modes_busy(), timeout=drive.timeout)
        for _ in range(5):  # whatever the paints asked for is drawn by now
            QApplication.processEvents()

    for text in ("date: 6 may 2020", "date: 16 june 1999"):  # new tokens, scores and ranges
        drawn()
        watched = _PaintEvents(plots)
        window.input_panel.source.setPlainText(text)
        drive.wait_for_text(window, text)
        drawn()
        assert watched.counts == Counter(plots.keys()), (text, watched.counts)


def test_the_gui_thread_reads_traces_on_one_intra_op_thread(drive, window, checkpoints):
    import torch

    # torch keeps the count per thread: two here, as torch starts on a machine of two or more cores.
    torch.set_num_threads(2)
    drive.load(window, checkpoints["encoder-decoder"])
    # The worker's forward holds the other cores; a GUI-thread read must not wait for them.
    assert torch.get_num_threads() == 1


def test_a_long_heads_tile_goes_to_the_worker_once_every_panel_is_painted(drive, window, checkpoints, monkeypatch):
    from explorer.panels import head_detail as head_detail_module
    from explorer.window_paint import HEAD_TILE_TOPIC

    monkeypatch.setattr(head_detail_module, "SYNC_TILE_CELLS", -1)  # every tile counts as costly
    drive.load(window, checkpoints["decoder"], text="the quick brown fox", target=None)
    asked: list[tuple[str, bool]] = []  # (topic, whether a trace was still being painted)
    request_analysis = window.controller.request_analysis

    def spy(topic, compute):
        asked.append((topic, window._staged is not None))
        return request_analysis(topic, compute)

    window.controller.request_analysis = spy
    text = "the quick brown fox jumps"
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    assert (HEAD_TILE_TOPIC, False) in asked  # the head view asked for its tile…
    assert (HEAD_TILE_TOPIC, True) not in asked  # …only after the last panel was painted


def test_a_newly_opened_models_objects_are_left_out_of_later_full_collections(drive, window, checkpoints):
    import gc

    gc.unfreeze()
    drive.load(window, checkpoints["encoder-decoder"])
    frozen = gc.get_freeze_count()
    # The window's and the model's objects: a full collection while typing walks none of them.
    assert frozen > 10 * len(gc.get_objects(generation=2))
    assert not any(obj is window for obj in gc.get_objects(generation=2))
    text = "date: 8 may 2020"
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    assert gc.get_freeze_count() <= frozen  # typing freezes nothing more (frozen objects freed still go)


def test_typing_never_lays_the_main_window_out_again(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    qtbot.waitUntil(lambda: not window.modes_busy(), timeout=drive.timeout)
    for _ in range(5):
        QApplication.processEvents()
    layouts = _LayoutRequests(window)
    for text in ("date: 9 may 2020", "date: 19 june 1999"):  # new titles, summaries, timings
        window.input_panel.source.setPlainText(text)
        drive.wait_for_text(window, text)
        qtbot.waitUntil(lambda: not window.modes_busy(), timeout=drive.timeout)
        for _ in range(5):
            QApplication.processEvents()
    assert window.distribution.summary.text() and window.timings_label.text()
    # A new text in a title or read-out repaints it; it never re-lays out (and animates) every dock.
    assert layouts.count == 0


class _LayoutRequests(QObject):
    def __init__(self, widget: QWidget) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False
