"""Step-through generation in the window: each step's rows and next-token table agree with
the model's own greedy generation, the buttons move the step, encoder-only models get a reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from gui.run_folders import write_checkpoint
from model import AttentionRecorder, load_checkpoint

TEXT = "sort: owl cat fig"


def _reference(folder, text: str):
    """The model's own greedy ids, and the attention and next-token probabilities of that sequence."""
    model = load_checkpoint(folder)
    ids = model.generate(text)
    with torch.no_grad():
        if model.config.architecture == "encoder-decoder":
            source = torch.tensor([model.tokenizer.encode(text).ids])
            _, decoded = model.network(source, torch.tensor([ids]), recorder=AttentionRecorder())
        else:
            decoded = model.network.decode(torch.tensor([ids]), recorder=AttentionRecorder())
        probabilities = torch.softmax(model.network.logits(decoded.hidden)[0].double(), dim=-1).numpy()  # (T, V)
    return model, ids, decoded, probabilities


def _show_steps(qtbot, window, drive, folder, text: str = TEXT):
    drive.load(window, folder, text=text, target=None)
    mode = window.modes["stepping"]
    mode.raise_dock()
    qtbot.waitUntil(lambda: mode.steps is not None and not mode.busy, timeout=drive.timeout)
    return mode


def test_each_step_shows_the_rows_of_greedy_generation(qtbot, window, drive, checkpoints):
    mode = _show_steps(qtbot, window, drive, checkpoints["encoder-decoder"])
    model, ids, decoded, probabilities = _reference(checkpoints["encoder-decoder"], TEXT)
    cross = decoded.cross_attention.weights[0].numpy()  # (L, H, T, S)
    decoder_self = decoded.self_attention.weights[0].numpy()  # (L, H, T, T)
    assert mode.steps.n_steps == len(ids) - 1  # every token after the start token
    window.select(kind="cross", layer=1, head=1)
    for index in (0, len(ids) // 2, len(ids) - 2):
        mode.set_step(index)
        step = mode.current_step()
        assert step.token_id == ids[index + 1]
        np.testing.assert_allclose(mode.cross_bars.values, cross[1, 1, index], atol=1e-6)
        np.testing.assert_allclose(mode.self_bars.values, decoder_self[1, 1, index, : index + 1], atol=1e-6)
        # Top-k: sorted, at most 1 in all, the model's own probabilities; greedy took the first.
        top = np.array([probability for _, _, probability in step.top])
        assert np.all(np.diff(top) <= 0) and top.sum() <= 1 + 1e-9
        np.testing.assert_allclose(top, np.sort(probabilities[index])[::-1][: len(top)], atol=1e-6)
        assert step.top[0][1] == ids[index + 1]
        assert mode.marked_rows() == [0]
        assert mode.table.rowCount() == len(step.top)
    # The mean over heads when no head is selected.
    window.select(head=None)
    np.testing.assert_allclose(mode.cross_bars.values, cross[1, :, len(ids) - 2].mean(axis=0), atol=1e-6)


def test_hide_special_tokens_drops_their_bars_and_renormalises(qtbot, window, drive, tmp_path):
    # Seed 3 generates start tokens, then words: its decoder rows have keys of both kinds.
    folder = write_checkpoint(tmp_path, 0, seed=3)
    mode = _show_steps(qtbot, window, drive, folder)
    _, ids, decoded, _ = _reference(folder, TEXT)
    cross = decoded.cross_attention.weights[0].numpy()  # (L, H, T, S)
    decoder_self = decoded.self_attention.weights[0].numpy()  # (L, H, T, T)
    encoder = mode.steps.trace.encoder
    kept_source = ~(encoder.special | encoder.padding)
    assert 0 < kept_source.sum() < len(encoder)  # the source ends in </s>
    index = len(ids) - 2
    kept_decoder = ~mode.steps.trace.decoder.special[: index + 1]
    assert 0 < kept_decoder.sum() < index + 1
    window.select(kind="cross", layer=1, head=0, hide_special=True)
    mode.set_step(index)

    def renormalised(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
        kept = rows[..., keep]
        return kept / kept.sum(axis=-1, keepdims=True)

    np.testing.assert_allclose(mode.cross_bars.values, renormalised(cross[1, 0, index], kept_source), atol=1e-6)
    np.testing.assert_allclose(
        mode.self_bars.values, renormalised(decoder_self[1, 0, index, : index + 1], kept_decoder), atol=1e-6
    )
    assert mode.cross_bars._labels == [t for t, keep in zip(encoder.tokens, kept_source) if keep]
    assert "Special tokens hidden" in mode.summary.text()
    # The mean over heads: each head renormalised over the kept keys, then averaged.
    window.select(head=None)
    np.testing.assert_allclose(
        mode.cross_bars.values, renormalised(cross[1, :, index], kept_source).mean(axis=0), atol=1e-6
    )
    # The first step's query sees the start token only: shown unfiltered rather than empty.
    mode.set_step(0)
    np.testing.assert_allclose(mode.self_bars.values, decoder_self[1, :, 0, :1].mean(axis=0), atol=1e-6)
    window.select(hide_special=False)
    mode.set_step(index)
    np.testing.assert_allclose(mode.cross_bars.values, cross[1, :, index].mean(axis=0), atol=1e-6)
    assert "Special tokens hidden" not in mode.summary.text()


def test_buttons_slider_and_keys_move_the_step(qtbot, window, drive, checkpoints):
    mode = _show_steps(qtbot, window, drive, checkpoints["encoder-decoder"])
    assert mode.steps.n_steps >= 4
    mode.set_step(0)
    assert not mode.back_button.isEnabled()
    qtbot.mouseClick(mode.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(mode.next_button, Qt.MouseButton.LeftButton)
    assert mode.index == 2 and mode.slider.value() == 2
    assert mode.step_label.text() == f"token 3 of {mode.steps.n_steps}"
    qtbot.mouseClick(mode.back_button, Qt.MouseButton.LeftButton)
    assert mode.index == 1 and mode.current_step().position == 2
    mode.slider.setValue(mode.steps.n_steps - 1)
    assert mode.index == mode.steps.n_steps - 1 and not mode.next_button.isEnabled()
    mode.step_by(1)  # past the end stays at the end
    assert mode.index == mode.steps.n_steps - 1
    # Ctrl+← / Ctrl+→ while the dock has focus (here its plots, which have no keys of their own).
    window.activateWindow()
    mode.view.setFocus()
    qtbot.waitUntil(lambda: mode.view.hasFocus(), timeout=5000)
    qtbot.keyClick(mode.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(mode.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert mode.index == mode.steps.n_steps - 3
    qtbot.keyClick(mode.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert mode.index == mode.steps.n_steps - 2


def test_a_new_source_text_generates_again(qtbot, window, drive, checkpoints):
    mode = _show_steps(qtbot, window, drive, checkpoints["encoder-decoder"])
    window.input_panel.source.setPlainText("reverse: owl cat")
    qtbot.waitUntil(lambda: mode.steps is not None and mode.steps.trace.encoder.tokens[0] == "reverse" and not mode.busy,
                    timeout=drive.timeout)
    _, ids, _, _ = _reference(checkpoints["encoder-decoder"], "reverse: owl cat")
    assert mode.steps.trace.decoder.ids.tolist() == ids


def test_decoder_only_steps_start_after_the_prompt(qtbot, window, drive, checkpoints):
    mode = _show_steps(qtbot, window, drive, checkpoints["decoder"], text="sort: owl cat")
    model, ids, decoded, _ = _reference(checkpoints["decoder"], "sort: owl cat")
    prompt_length = len(model.tokenizer.encode("sort: owl cat").ids)
    assert mode.steps.first_produced == prompt_length
    window.select(kind="decoder_self", layer=0, head=0)
    mode.set_step(0)
    query = prompt_length - 1
    np.testing.assert_allclose(
        mode.self_bars.values, decoded.self_attention.weights[0, 0, 0, query, :prompt_length].numpy(), atol=1e-6
    )
    assert mode.cross_bars.values.size == 0  # no cross-attention in a decoder-only model
    assert not mode.cross_bars.plot.isVisible()


@pytest.mark.parametrize("architecture", ["encoder"])
def test_encoder_only_models_get_a_reason(qtbot, window, drive, checkpoints, architecture):
    drive.load(window, checkpoints[architecture], text="1 2 3", target=None)
    mode = window.modes["stepping"]
    mode.raise_dock()
    qtbot.waitUntil(lambda: mode.container.reason != "", timeout=drive.timeout)
    assert "encoder-only" in mode.container.reason and "no tokens" in mode.container.reason
    assert not mode.busy and mode.steps is None
