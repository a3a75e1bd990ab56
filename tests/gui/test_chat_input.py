"""Format as chat in the window: offered only where the model has a template; its tokens greyed."""

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
