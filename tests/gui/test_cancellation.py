"""A long forward shows its progress and a newer keystroke cancels it between layers.

The worker is held at a layer boundary with an event (no sleeps, no timing): the newer
request is made while the older forward is known to be running, and request ids say
what was cancelled and what was painted.
"""

from __future__ import annotations

import threading

from explorer import worker as worker_module
from explorer.jobs import InputTexts


def _hold_at_first_boundary(monkeypatch, text: str):
    """Make the forward of ``text`` wait at its first layer boundary until released."""
    entered, release = threading.Event(), threading.Event()
    original = worker_module.InferenceWorker.progress_for

    def progress_for(self, request, start):
        inner = original(self, request, start)

        def progress(stack, layers_done, n_layers):
            if request.text == text and not entered.is_set():
                entered.set()
                release.wait(30)  # the worker thread waits at this boundary for the test
            return inner(stack, layers_done, n_layers)

        return progress

    monkeypatch.setattr(worker_module.InferenceWorker, "progress_for", progress_for)
    return entered, release


def test_a_newer_keystroke_cancels_the_running_forward_and_only_the_newest_is_painted(drive, qtbot, window, checkpoints, monkeypatch):
    drive.load(window, checkpoints["decoder"], text="sort: owl", target=None)
    entered, release = _hold_at_first_boundary(monkeypatch, "sort: owl cat")
    painted, cancelled = [], []
    window.trace_painted.connect(lambda result: painted.append((result.request_id, result.request.text)))
    window.controller.trace_cancelled.connect(cancelled.append)
    older = window.controller.request_trace(InputTexts("sort: owl cat"))
    qtbot.waitUntil(entered.is_set, timeout=30_000)
    newer = window.controller.request_trace(InputTexts("sort: owl cat fig"))
    release.set()
    drive.wait_for_text(window, "sort: owl cat fig")
    assert cancelled == [older]
    assert painted == [(newer, "sort: owl cat fig")]
    assert "fig" in window.state.trace.decoder.tokens


def test_a_long_forward_reports_each_layer_in_the_status_bar(drive, qtbot, window, checkpoints, monkeypatch):
    drive.load(window, checkpoints["decoder"], text="sort: owl", target=None)
    monkeypatch.setattr(worker_module, "PROGRESS_AFTER_S", 0.0)  # every forward counts as long
    reported, messages = [], []
    window.controller.trace_progressed.connect(lambda *step: reported.append(step))
    window.statusBar().messageChanged.connect(messages.append)
    window.controller.request_trace(InputTexts("sort: owl cat"))
    drive.wait_for_text(window, "sort: owl cat")
    assert reported == [("decoder", 1, 2), ("decoder", 2, 2)]
    assert "Running the model: decoder layer 2 of 2…" in messages
    assert not window.statusBar().currentMessage().startswith("Running the model")  # cleared once painted
