"""Decoder inputs in the window: format as chat (offered only where the model has a template, its tokens greyed) and the next-token line."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
from chat_models import write_chat_gpt2  # noqa: E402


@pytest.fixture(scope="module")
def chat_folder(tmp_path_factory) -> Path:
    return write_chat_gpt2(tmp_path_factory.mktemp("chat-gpt2"))


def test_format_as_chat_wraps_the_source_and_greys_the_template(drive, qtbot, window, checkpoints, chat_folder) -> None:
    drive.load(window, chat_folder, text="the quick brown fox", target=None)
    panel = window.input_panel
    assert panel.chat.isVisibleTo(panel) and not panel.chat.isChecked()
    assert window.painted.trace.decoder.template is None
    panel.chat.setChecked(True)
    qtbot.waitUntil(lambda: window.painted.request.chat, timeout=drive.timeout)
    axis = window.painted.trace.decoder
    assert axis.tokens[0] == "<|im_start|>" and axis.template[0] and not axis.template.all()
    (row,) = panel.tokens.canvas.rows
    # The chips grey exactly the template's tokens (none of these is a special token of the text).
    assert list(row.greyed) == [bool(flag) or bool(special) for flag, special in zip(axis.template, axis.special)]
    assert sum(row.greyed) > 3 and not all(row.greyed)
    # The bundled model has no template: the option goes, and traces are plain again.
    drive.load(window, None, text="reverse: owl cat fig", target=None)
    assert not panel.chat.isVisibleTo(panel) and not window.painted.request.chat


def test_the_next_token_line_shows_what_the_model_predicts_after_the_query(drive, qtbot, window, checkpoints, chat_folder) -> None:
    from explorer.core.views import next_token_text
    from explorer.next_token import next_token_top
    from explorer.token_labels import display_token
    from model import load_checkpoint

    drive.load(window, chat_folder, text="the quick brown fox", target=None)
    window.select(kind="decoder_self", query=2)
    line = window.distribution.next_token
    expected = next_token_top(load_checkpoint(chat_folder), window.painted.trace, 2)
    token = window.painted.trace.decoder.tokens[2]
    # The line shows tokens as every panel does (a leading "Ġ" as a visible space).
    qtbot.waitUntil(lambda: line.text() == next_token_text(token, expected), timeout=drive.timeout)
    assert line.isVisibleTo(window.distribution)
    assert line.text().startswith(f"next after {display_token(token)!r}: {display_token(expected[0][0])!r} {expected[0][1]:.1%}")
    assert len(line.text().split(" · ")) == 5
    # An encoder–decoder's encoder queries have no next token.
    drive.load(window, checkpoints["encoder-decoder"])
    window.select(kind="encoder_self", query=1)
    assert not line.isVisibleTo(window.distribution)
