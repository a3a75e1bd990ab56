"""File ▸ Save trace… and Open saved trace…: a saved trace paints the same arrays with no model loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model import load_checkpoint


def _image(window, panel: str) -> np.ndarray:
    return np.asarray(getattr(window, panel).heatmap.image.image).copy()


def test_a_saved_trace_reopens_in_a_window_without_a_model_and_paints_the_same(qtbot, drive, window, checkpoints,
                                                                                tmp_path: Path) -> None:
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    drive.load(window, checkpoints["encoder-decoder"], text="date: 5 may 2020", target="2020-05-05")
    window.select(kind="cross", layer=1, head=0, values="value-weighted")
    window.paint()
    path = tmp_path / "saved.npz"
    assert window.trace_files.save(str(path))
    shown = {panel: _image(window, panel) for panel in ("head_detail", "cross")}
    grid = window.state.grid().copy()

    other = MainWindow(Settings(None), restore_layout=False)
    qtbot.addWidget(other)
    try:
        other.resize(1200, 800)
        other.show()
        assert other.model is None
        with qtbot.waitSignal(other.trace_painted, timeout=drive.timeout):
            assert other.trace_files.open(str(path))
        other.select(kind="cross", layer=1, head=0, values="value-weighted")
        other.paint()
        for panel, image in shown.items():
            assert np.array_equal(_image(other, panel), image, equal_nan=True), panel
        assert np.array_equal(other.state.grid(), grid, equal_nan=True)
        assert any("a saved trace, shown without its model" in notice for notice in other.state.trace.notices)
        lens = other.modes["lens"]
        lens.raise_dock()
        qtbot.waitUntil(lambda: not lens.container.available, timeout=drive.timeout)
        assert "without its model" in lens.container.reason
    finally:
        other.close()
        other.controller.stop()


def test_a_file_that_is_not_a_trace_is_refused_in_a_dialog(window, tmp_path: Path) -> None:
    path = tmp_path / "notes.npz"
    path.write_text("hello", encoding="utf-8")
    assert not window.trace_files.open(str(path))
    assert window.last_error_dialog.text() == "notes.npz is not an .npz archive (a saved trace is one)"
    assert window.state.trace is None
