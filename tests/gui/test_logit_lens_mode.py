"""The logit lens dock: the model's own lens of the trace on show, a cell's top 10, encoder-only refusal."""

from __future__ import annotations

import numpy as np

from model import load_checkpoint
from model.logit_lens import logit_lens


def _show_lens(qtbot, window, drive, folder, text: str):
    drive.load(window, folder, text=text, target=None)
    mode = window.modes["lens"]
    mode.raise_dock()
    qtbot.waitUntil(lambda: mode.lens is not None and not mode.busy, timeout=drive.timeout)
    return mode


def test_the_dock_draws_the_lens_of_the_trace_on_show_and_a_click_lists_its_top_ten(qtbot, window, drive, checkpoints):
    mode = _show_lens(qtbot, window, drive, checkpoints["decoder"], "sort: owl cat fig")
    trace = window.state.trace
    assert mode.lens_trace is trace
    expected = logit_lens(load_checkpoint(checkpoints["decoder"]), trace)
    assert np.array_equal(mode.lens.top_ids, expected.top_ids)
    assert np.allclose(mode.image.image, expected.top_probabilities[:, :, 0])
    rows, columns = expected.top_ids.shape[:2]
    mode.select_cell(0, columns - 1)
    text = mode.details.text()
    assert "embeddings, position" in text and "10." in text and "ranks <b>" in text
    rank = int(expected.final_ranks[0, columns - 1]) + 1
    assert f"ranks <b>{rank:,}</b>" in text


def test_an_encoder_only_model_gets_a_reason(qtbot, window, drive, checkpoints):
    drive.load(window, checkpoints["encoder"], text="sort: owl cat", target=None)
    mode = window.modes["lens"]
    mode.raise_dock()
    qtbot.waitUntil(lambda: not mode.container.available, timeout=drive.timeout)
    assert "encoder-only" in mode.container.reason
