"""The training timeline: opening a run, scrubbing loads that step and keeps the view,
the statistic curve equals one computed directly, and bad folders give one sentence."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QImage

from explorer.analysis.compare_job import teacher_forcing_target
from explorer.analysis.timeline import StepStatistics, trace_statistics
from gui.run_folders import RUN_STEPS, write_checkpoint, write_run
from model import load_checkpoint

TEXT = "sort: owl cat fig"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs") / "run")


def _set_text(window, text: str = TEXT) -> None:
    panel = window.input_panel
    with QSignalBlocker(panel.source), QSignalBlocker(panel.target):
        panel.source.setPlainText(text)
        panel.target.setText("")


def _settle(qtbot, mode, timeout: int = 30_000) -> None:
    qtbot.waitUntil(lambda: not mode.busy, timeout=timeout)


def _assert_trace_equal(painted, expected) -> None:
    assert painted.kinds == expected.kinds
    assert painted.decoder.tokens == expected.decoder.tokens
    for kind in expected.kinds:
        np.testing.assert_allclose(painted.attention[kind].weights, expected.attention[kind].weights, atol=1e-6)


def _curve(traces, kind: str, statistic: str):
    """The curve of ``statistic`` over ``(step, trace)`` pairs, computed directly."""
    collected = StepStatistics()
    for step, trace in traces:
        collected.add(step, trace_statistics(trace))
    return collected.curve(kind, statistic)


def _forced_traces(folder: Path, painted, text: str = TEXT, steps=RUN_STEPS) -> list:
    """Each step's trace teacher-forced with the painted trace's generated decoder tokens."""
    traces = []
    for step in steps:
        model = load_checkpoint(folder / f"step-{step:06d}")
        target = teacher_forcing_target(model, [int(i) for i in painted.decoder.ids])
        assert target is not None
        traces.append((step, model.trace(text, target=target)))
    return traces


def _open(qtbot, window, folder: Path, step: int | None = None):
    _set_text(window)
    mode = window.modes["timeline"]
    assert mode.open_folder(folder, step)
    _settle(qtbot, mode)
    return mode


def test_opening_a_run_lists_its_steps_and_shows_the_last(qtbot, window, run_folder):
    mode = _open(qtbot, window, run_folder)
    assert mode.run.steps == list(RUN_STEPS)  # final/ repeats step 30: one stop, not two
    assert (mode.view.slider.minimum(), mode.view.slider.maximum(), mode.view.slider.value()) == (0, 2, 2)
    assert mode.view.step_label.text().startswith("step 30")
    assert Path(window.model.source) == run_folder / "step-000030"
    expected = load_checkpoint(run_folder / "step-000030").trace(TEXT)
    _assert_trace_equal(window.state.trace, expected)
    # The log's loss and mean exact match are drawn over the steps.
    steps, losses = mode.view.loss_item.getData()
    assert steps.tolist() == list(RUN_STEPS) and losses.tolist() == pytest.approx([3.0, 1.5, 1.0])
    assert mode.view.match_item.getData()[1].tolist() == pytest.approx([0.0, 0.2, 0.4])


def test_moving_the_slider_loads_that_step_and_keeps_the_selection(qtbot, window, run_folder):
    mode = _open(qtbot, window, run_folder)
    window.select(kind="decoder_self", layer=1, head=1, query=2)
    mode.view.slider.setValue(0)
    assert mode.busy  # until step 10's trace is painted
    _settle(qtbot, mode)
    assert Path(window.model.source) == run_folder / "step-000010"
    selection = window.state.selection
    assert (selection.kind, selection.layer, selection.head, selection.query) == ("decoder_self", 1, 1, 2)
    _assert_trace_equal(window.state.trace, load_checkpoint(run_folder / "step-000010").trace(TEXT))
    assert mode.view.markers[0].value() == 10


def test_scrubbing_fast_ends_on_the_last_step_asked_for(qtbot, window, run_folder):
    mode = _open(qtbot, window, run_folder)
    for index in (0, 1, 0, 1):
        mode.view.slider.setValue(index)
    _settle(qtbot, mode)
    assert Path(window.model.source) == run_folder / "step-000020"
    _assert_trace_equal(window.state.trace, load_checkpoint(run_folder / "step-000020").trace(TEXT))


def test_the_curve_equals_the_statistics_of_each_step_computed_directly(qtbot, window, run_folder):
    mode = _open(qtbot, window, run_folder)
    painted = window.state.trace  # step 30's own greedy output
    assert painted.generated
    traces = _forced_traces(run_folder, painted)
    # The step whose tokens are forced gives the trace the window shows.
    np.testing.assert_allclose(traces[-1][1].attention["cross"].weights, painted.attention["cross"].weights, atol=1e-6)
    window.select(kind="cross", layer=1, head=0)
    for statistic in ("entropy_bits", "max_weight"):
        mode.set_statistic(statistic)
        assert not mode.busy  # every statistic was kept: choosing one only redraws
        expected = _curve(traces, "cross", statistic)
        steps, values = mode.shown_curve()
        assert steps.tolist() == list(RUN_STEPS)
        np.testing.assert_allclose(values, expected.head(1, 0), atol=1e-6)
    window.select(kind="encoder_self", layer=0, head=None)
    mode.set_statistic("previous_share")
    expected = _curve(traces, "encoder_self", "previous_share").values[:, 0, :].mean(axis=-1)
    np.testing.assert_allclose(mode.shown_curve()[1], expected, atol=1e-6)
    # A positional statistic is not defined for cross-attention: no curve, and a reason.
    window.select(kind="cross")
    assert mode.shown_curve()[0].size == 0
    assert "not defined" in mode.view.curve_plot.titleLabel.text


def test_decoder_curves_teacher_force_every_step_with_the_painted_tokens(qtbot, window, tmp_path):
    # Seed 3 generates other tokens than seeds 0 and 1 (which repeat the start token).
    run_folder = write_run(tmp_path / "run", seeds=(0, 1, 3))
    mode = _open(qtbot, window, run_folder)
    painted = window.state.trace
    generated = [load_checkpoint(run_folder / f"step-{step:06d}").trace(TEXT) for step in RUN_STEPS]
    # Left alone, the checkpoints generate different sequences: that is what forcing fixes.
    assert len({tuple(trace.decoder.ids) for trace in generated}) > 1
    traces = _forced_traces(run_folder, painted)
    assert all(trace.decoder.ids.tolist() == painted.decoder.ids.tolist() for _, trace in traces)
    own = _curve(list(zip(RUN_STEPS, generated)), "cross", "entropy_bits").head(1, 1)
    assert not np.allclose(own, _curve(traces, "cross", "entropy_bits").head(1, 1), atol=1e-4)
    for kind in ("decoder_self", "cross"):
        window.select(kind=kind, layer=1, head=1)
        for statistic in ("entropy_bits", "max_weight"):
            mode.set_statistic(statistic)
            np.testing.assert_allclose(mode.shown_curve()[1], _curve(traces, kind, statistic).head(1, 1), atol=1e-6)
    assert f"reads the {len(painted.decoder)} tokens step 30 generated" in mode.view.note.text()
    # Scrubbing keeps the tokens the curve began with: nothing is traced again.
    mode.view.slider.setValue(0)
    _settle(qtbot, mode)
    assert window.state.trace.decoder.ids.tolist() == generated[0].decoder.ids.tolist()
    np.testing.assert_allclose(mode.shown_curve()[1], _curve(traces, "cross", "max_weight").head(1, 1), atol=1e-6)


def test_a_new_input_traces_the_run_again(qtbot, window, run_folder):
    mode = _open(qtbot, window, run_folder)
    window.input_panel.source.setPlainText("reverse: owl cat")
    qtbot.waitUntil(lambda: window.painted.request.text == "reverse: owl cat" and not mode.busy, timeout=30_000)
    traces = [(step, load_checkpoint(run_folder / f"step-{step:06d}").trace("reverse: owl cat")) for step in RUN_STEPS]
    window.select(kind="encoder_self", layer=1, head=1)
    expected = _curve(traces, "encoder_self", mode.statistic).head(1, 1)
    np.testing.assert_allclose(mode.shown_curve()[1], expected, atol=1e-6)


def test_command_line_run_and_step(qtbot, window, run_folder):
    _set_text(window)
    mode = window.modes["timeline"]
    args = argparse.Namespace(run=str(run_folder), step=20, show="timeline", screenshot=None)
    assert window.apply_mode_args(args)  # the mode opened the model itself
    _settle(qtbot, mode)
    assert mode.view.slider.value() == 1
    assert Path(window.model.source) == run_folder / "step-000020"
    # A step between checkpoints snaps to the nearest one.
    assert window.apply_mode_args(argparse.Namespace(run=str(run_folder), step=14, show=None, screenshot=None))
    _settle(qtbot, mode)
    assert Path(window.model.source) == run_folder / "step-000010"


def test_a_folder_that_is_not_a_run_gives_one_sentence(qtbot, window, tmp_path):
    mode = window.modes["timeline"]
    assert not mode.open_folder(tmp_path / "missing")
    assert "is not a folder" in window.last_error_dialog.text()
    (tmp_path / "empty").mkdir()
    assert not mode.open_folder(tmp_path / "empty")
    text = window.last_error_dialog.text()
    assert "holds no checkpoints" in text and "\n" not in text
    assert mode.run is None and not mode.busy
    # From the command line: the app shows the sentence and opens its usual model instead;
    # a screenshot run fails with it (the app prints it and exits 1).
    assert not window.apply_mode_args(argparse.Namespace(run=str(tmp_path / "missing"), step=None, show=None, screenshot=None))
    assert "is not a folder" in window.last_error_dialog.text()
    with pytest.raises(ValueError, match="holds no checkpoints"):
        window.apply_mode_args(argparse.Namespace(run=str(tmp_path / "empty"), step=None, show=None, screenshot="x.png"))


def _screenshot(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run(
        [sys.executable, "-m", "explorer.cli", *arguments], env=env, capture_output=True, text=True, timeout=120
    )


def test_screenshot_of_the_timeline(tmp_path, run_folder):
    out = tmp_path / "timeline.png"
    completed = _screenshot(
        tmp_path, "--screenshot", str(out), "--show", "timeline", "--run", str(run_folder), "--step", "20", "--text", TEXT
    )
    assert completed.returncode == 0, completed.stderr
    image = QImage(str(out))
    assert not image.isNull() and image.width() > 0
    bad = _screenshot(tmp_path, "--screenshot", str(tmp_path / "bad.png"), "--run", str(tmp_path / "missing"))
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a folder" in lines[0]
    assert not (tmp_path / "bad.png").exists()


def test_another_model_opened_over_the_run(qtbot, window, run_folder, checkpoints):
    mode = _open(qtbot, window, run_folder)
    mode.view.slider.setValue(0)
    window.open_checkpoint(str(checkpoints["decoder"]))
    _settle(qtbot, mode)  # the run's load was answered or replaced: nothing waits for it
    qtbot.waitUntil(lambda: window.model.name == "tiny decoder", timeout=30_000)
    assert "not this run" in mode.view.note.text()
    mode.view.slider.setValue(2)  # back to the run
    _settle(qtbot, mode)
    assert Path(window.model.source) == run_folder / "step-000030" and "not this run" not in mode.view.note.text()


def test_a_checkpoint_that_cannot_be_read_is_left_out_of_the_curve_until_reload(qtbot, window, run_folder, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    half_written = run / "step-000040"  # as a running training leaves it between two files
    half_written.mkdir()
    shutil.copy(run / "step-000030" / "config.json", half_written / "config.json")
    (half_written / "model.safetensors").write_bytes(b"\0" * 8)
    mode = _open(qtbot, window, run, step=30)
    window.select(kind="cross", layer=1, head=0)
    assert mode.run.steps == [10, 20, 30, 40]
    assert sorted(mode.curve_failures) == [40]
    assert "step 40 could not be traced" in mode.view.note.text()
    assert mode.shown_curve()[0].tolist() == [10, 20, 30]
    mode.view.slider.setValue(3)  # loading it fails with a message box; nothing keeps waiting
    _settle(qtbot, mode)
    assert Path(window.model.source) == run / "step-000030"
    assert window.last_error_dialog is not None and "step-000040" in window.last_error_dialog.text()
    # The training finishes writing it (step 30's weights again); Reload traces it this time.
    for name in ("model.safetensors", "tokenizer.json"):
        shutil.copy(run / "step-000030" / name, half_written / name)
    mode.refresh()
    _settle(qtbot, mode)
    assert mode.curve_failures == {} and "could not be traced" not in mode.view.note.text()
    steps, values = mode.shown_curve()
    assert steps.tolist() == [10, 20, 30, 40]
    assert values[3] == pytest.approx(values[2], abs=1e-6)


def test_a_step_of_another_shape_is_left_out_with_a_note(qtbot, window, run_folder, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    write_checkpoint(run, 40, seed=5, n_heads=4, n_decoder_layers=3)  # the training changed the model
    mode = _open(qtbot, window, run, step=30)
    window.select(kind="cross", layer=1, head=1)
    assert mode.schedule.statistics.shapes("cross") == {10: (2, 2), 20: (2, 2), 30: (2, 2), 40: (3, 4)}
    steps, values = mode.shown_curve()
    assert steps.tolist() == [10, 20, 30]
    expected = _curve(_forced_traces(run, window.state.trace, steps=(10, 20, 30)), "cross", mode.statistic).head(1, 1)
    np.testing.assert_allclose(values, expected, atol=1e-6)
    note = mode.view.note.text()
    assert "left out of the curve: step 40 (3 layers × 4 heads)" in note and "(2 layers × 2 heads)" in note
    # On step 40 the loaded model is the other shape: its own step is the curve, the rest left out.
    mode.view.slider.setValue(3)
    _settle(qtbot, mode)
    assert window.state.trace.attention["cross"].weights.shape[:2] == (3, 4)
    assert mode.shown_curve()[0].tolist() == [40]
    assert "left out of the curve: steps 10, 20, 30 (2 layers × 2 heads)" in mode.view.note.text()


def test_reload_lists_new_checkpoints_and_traces_only_those(qtbot, window, run_folder, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    mode = _open(qtbot, window, run, step=20)
    window.select(kind="cross", layer=0, head=1)
    before = mode.shown_curve()[1].copy()
    shutil.copytree(run / "step-000010", run / "step-000040")  # the training wrote one more
    mode.refresh()
    assert mode.run.steps == [10, 20, 30, 40] and mode.view.slider.value() == 1  # still on step 20
    _settle(qtbot, mode)
    steps, values = mode.shown_curve()
    assert steps.tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(values[:3], before)
    assert values[3] == pytest.approx(values[0], abs=1e-6)  # the same weights as step 10
