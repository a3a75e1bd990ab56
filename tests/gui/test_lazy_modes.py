"""The analysis modes are built when first needed, not with the window.

The window makes every mode's dock, title and menu entry at once, but a mode's widgets
only when its dock first shows (a tab, the Analysis menu, a saved layout) or something
asks the mode for one. These tests look at the objects, not at the clock.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction

from explorer.analysis.aggregation import rollout
from explorer.modes import MODES


def built_modes(window) -> set[str]:
    return {name for name, mode in window.modes.items() if mode.built}


def show_action(window, name: str) -> QAction:
    title = f"Show {window.modes[name].title.lower()}"
    (action,) = [action for action in window.analysis_menu.actions() if action.text() == title]
    return action


def settle(qtbot, mode) -> None:
    if mode.busy:
        with qtbot.waitSignal(mode.settled, timeout=30_000):
            pass


def test_the_window_builds_no_mode_until_its_dock_shows(drive, window, checkpoints):
    assert set(window.modes) == {mode.name for mode in MODES}
    assert built_modes(window) == set()
    for name, mode in window.modes.items():
        dock = window.docks[name]
        assert dock.objectName() == f"dock-{name}" and dock.windowTitle() == mode.title
        assert show_action(window, name) is not None
    # The first trace paints the panels in front; the modes tabbed behind them wait, unbuilt.
    drive.load(window, checkpoints["encoder-decoder"])
    assert built_modes(window) == set()
    assert set(window.modes) <= window.stale_panels


def test_showing_a_mode_from_the_analysis_menu_builds_it_and_paints_the_trace(qtbot, drive, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    window.select(kind="encoder_self", layer=1, head=0, query=2)
    mode = window.modes["aggregation"]
    show_action(window, "aggregation").trigger()
    assert built_modes(window) == {"aggregation"}
    assert window.docks["aggregation"].widget() is mode.widget and mode.widget.isVisible()
    mode.set_method("rollout")
    settle(qtbot, mode)
    weights = window.state.trace.attention["encoder_self"].weights
    np.testing.assert_allclose(mode.heatmap.image.image, rollout(weights)[1], atol=1e-6)
    assert "aggregation" not in window.stale_panels


def test_a_mode_asked_for_a_widget_before_its_dock_shows_is_built_then(window):
    stats = window.modes["stats"]
    assert stats.kinds.count() == 2  # a widget of build(): built on the spot
    assert built_modes(window) == {"stats"}
    assert window.docks["stats"].widget() is stats.widget
    assert not hasattr(stats, "no_such_attribute")


def test_a_saved_layout_with_a_mode_in_front_restores_it_built(qtbot, drive, checkpoints):
    from explorer.main_window import MainWindow
    from explorer.settings import Settings, user_store

    def new_window() -> MainWindow:
        window = MainWindow(Settings(user_store()))
        qtbot.addWidget(window)
        window.resize(1200, 800)
        return window

    first = new_window()
    first.show()
    first.modes["lens"].raise_dock()
    assert built_modes(first) == {"lens"}
    first.close()  # saves the layout
    first.controller.stop()

    second = new_window()
    try:
        assert built_modes(second) == set()  # restored, not shown yet
        second.show()
        assert built_modes(second) == {"lens"}
        lens = second.modes["lens"]
        assert second.docks["lens"].widget() is lens.widget and lens.widget.isVisible()
        drive.load(second, checkpoints["decoder"], text="sort: owl cat fig yak", target=None)
        qtbot.waitUntil(lambda: lens.lens_trace is second.state.trace, timeout=30_000)
        assert lens.image.image.shape[1] == len(lens.lens.positions)
        assert built_modes(second) == {"lens"}
    finally:
        second.close()
        second.controller.stop()


def test_a_mode_is_never_built_off_the_gui_thread(window):
    import threading

    stats, seen = window.modes["stats"], {}
    worker = threading.Thread(target=lambda: seen.update(has_table=hasattr(stats, "table")))
    worker.start()
    worker.join()
    assert seen == {"has_table": False} and not stats.built
    assert hasattr(stats, "table") and stats.built  # on the GUI thread it is built
