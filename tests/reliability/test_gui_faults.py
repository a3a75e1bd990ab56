"""The desktop app under hostile checkpoints, hostile text, device faults and a long session.

Every case of the hostile corpus goes through the window's open action while a valid
model is loaded: the refusal arrives as one line, in seconds, the payloads never run,
and the previous model still answers the next edit. Beside that: hostile text typed
into the window, a GPU that cannot be used when loading, closing the window in the
middle of a forward (in the window, and through the real ``run_app`` in a separate
process), and a soak of random edits (``soak_main_window.py``, in a separate process so
that its exit code counts). ``tests/gui/test_worker_faults.py`` already covers a CUDA
out-of-memory during a trace, an exception in the worker and closing during a load.
Two app bugs found here are kept as strict expected failures until they are fixed.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings, QSignalBlocker

from hostile_checkpoints import PAYLOAD_MARKER, HostileCase

TIMEOUT_MS = 30_000
REFUSAL_SECONDS = 5.0


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> None:
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


@pytest.fixture
def valid_native(corpus, corpus_root: Path) -> Path:
    """The valid original the hostile cases were made from (built with the corpus)."""
    return corpus_root / "valid" / "native"


@pytest.fixture
def window(qtbot):
    """A shown main window with in-memory settings; its worker is stopped in teardown."""
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    main_window = MainWindow(Settings(None), restore_layout=False)
    qtbot.addWidget(main_window)
    main_window.resize(1200, 800)
    main_window.show()
    yield main_window
    main_window.close()
    assert main_window.controller.stop()
    assert not main_window.controller.thread.isRunning()


def set_input(window, text: str, target: str = "") -> None:
    """Put ``text`` (and ``target``) in the editors as one edit: one trace request."""
    panel = window.input_panel
    with QSignalBlocker(panel.target):
        panel.target.setText(target)
    panel.source.setPlainText(text)


def wait_painted(qtbot, window, text: str) -> None:
    qtbot.waitUntil(lambda: window.painted is not None and window.painted.request.text == text, timeout=TIMEOUT_MS)


def open_valid(qtbot, window, folder: Path) -> None:
    with qtbot.waitSignal(window.model_changed, timeout=TIMEOUT_MS):
        window.open_checkpoint(str(folder))
    set_input(window, "sort: owl cat", "cat owl")
    wait_painted(qtbot, window, "sort: owl cat")


def test_every_hostile_checkpoint_is_refused_and_the_previous_model_keeps_working(
    qtbot, window, corpus: dict[str, HostileCase], corpus_root: Path, valid_native: Path
) -> None:
    open_valid(qtbot, window, valid_native)
    before = window.model
    for index, case in enumerate(corpus.values()):
        start = time.perf_counter()
        with qtbot.waitSignal(window.controller.load_failed, timeout=TIMEOUT_MS) as failed:
            window.open_checkpoint(str(case.location))
        elapsed = time.perf_counter() - start
        location, reason = failed.args
        assert case.phrase in reason, f"{case.name}: {reason}"
        assert reason.isprintable() and "Traceback" not in reason, case.name
        assert elapsed < REFUSAL_SECONDS, f"{case.name} took {elapsed:.1f} s"
        # The user is told in a message box holding exactly that line.
        assert window.last_error_dialog is not None and window.last_error_dialog.text() == reason
        window.last_error_dialog.done(0)
        assert window.model == before, f"{case.name} replaced the loaded model"
        # The previous model answers the next edit.
        text = f"sort: owl cat fig {index}"
        set_input(window, text, "fig cat owl")
        wait_painted(qtbot, window, text)
        assert window.painted.trace.model_name == before.name
    assert not (corpus_root / PAYLOAD_MARKER).exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where CUDA cannot be used")
def test_a_gpu_that_cannot_be_used_at_load_falls_back_to_the_cpu_with_a_notice(qtbot, window, valid_native):
    with qtbot.waitSignal(window.controller.device_changed, timeout=TIMEOUT_MS) as moved:
        window.controller.load(str(valid_native), "cuda:0")
    info, notice = moved.args
    assert info.device == "cpu"
    assert notice.startswith("Could not use cuda:0") and notice.endswith("the model runs on the CPU.")
    assert "\n" not in notice
    assert window.statusBar().currentMessage() == notice
    set_input(window, "sort: owl cat", "cat owl")
    wait_painted(qtbot, window, "sort: owl cat")


class SlowForward:
    """Wraps a model's ``trace`` so that each forward takes ``seconds`` (a large model on a CPU)."""

    def __init__(self, trace, seconds: float) -> None:
        self.trace, self.seconds, self.started = trace, seconds, 0

    def __call__(self, *args, **kwargs):
        self.started += 1
        deadline = time.perf_counter() + self.seconds
        result = self.trace(*args, **kwargs)
        while time.perf_counter() < deadline:  # busy, as a forward is: holds the worker thread
            pass
        return result


def test_closing_during_an_inference_exits_within_two_seconds(qtbot, valid_native):
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    window = MainWindow(Settings(None), restore_layout=False)
    qtbot.addWidget(window)
    window.show()
    open_valid(qtbot, window, valid_native)
    worker_model = window.controller._worker._model  # the worker is idle: nothing runs on it now
    slow = SlowForward(worker_model.trace, seconds=1.0)
    worker_model.trace = slow
    with qtbot.waitSignal(window.controller.busy_changed, timeout=TIMEOUT_MS, check_params_cb=lambda busy: busy):
        set_input(window, "sort: fig owl", "owl fig")
    qtbot.waitUntil(lambda: slow.started == 1, timeout=TIMEOUT_MS)
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 2.0
    assert not window.controller.thread.isRunning()



CLOSE_SCRIPT = Path(__file__).resolve().parent / "close_during_forward.py"


def close_during_forward(checkpoint: Path, seconds: float, home: Path) -> tuple[int, float, str]:
    """Run the real app and close it during a forward of ``seconds``.

    Returns the exit code, the seconds from the close until the app was done (``run_app``
    returned, or the process ended when the app leaves through ``os._exit``), and stderr.
    The interpreter's own teardown after ``run_app`` returns (about 1.5 s here, torch and
    Qt unloading) is not the app's closing and is not counted.
    """
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen(
        [sys.executable, str(CLOSE_SCRIPT), str(checkpoint), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()  # never leave the app running behind a failed test
        process.communicate()
        raise
    ended = time.time()
    events: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith("{"):
            events.update(json.loads(line))
    assert "close_started" in events, f"the window was never closed: {err[-2000:]}"
    done = events.get("run_app_returned", ended)
    return process.returncode, done - events["close_started"], err


def test_the_app_closed_during_a_short_forward_exits_cleanly(valid_native, tmp_path):
    code, _seconds, err = close_during_forward(valid_native, 0.5, tmp_path)
    assert code == 0, err[-2000:]


def test_the_app_closed_during_a_forward_longer_than_the_stop_timeout_exits_cleanly_without_waiting_for_it(
    valid_native, tmp_path
):
    # The stop timeout is 1.5 s (closing took 1.7-1.9 s here); a close that waited for the
    # 8 s forward would take over 6 s. How long closing takes is a measurement, not a pass
    # mark: on a loaded machine it can pass 2 s without anything being wrong.
    code, seconds, err = close_during_forward(valid_native, 8.0, tmp_path)
    assert code == 0, err[-2000:]
    assert seconds < 6.0


SOAK_SCRIPT = Path(__file__).resolve().parent / "soak_main_window.py"
# CI size; a long run for manual checks: ATTENTION_EXPLORER_SOAK_EDITS=10000 (about 5 minutes here).
SOAK_EDITS = int(os.environ.get("ATTENTION_EXPLORER_SOAK_EDITS", "700"))


@pytest.fixture
def two_checkpoints(tmp_path: Path, valid_native: Path) -> tuple[Path, Path]:
    """The corpus's encoder–decoder and a tiny encoder-only model with sentence pairs."""
    from model import save_checkpoint
    from tiny_models import task_tokenizer, tiny_config, tiny_network

    config = tiny_config("encoder", type_vocab_size=2)
    tokenizer = task_tokenizer(config.max_positions)
    return valid_native, save_checkpoint(tmp_path / "encoder", tiny_network(config, 3), tokenizer, "tiny encoder")


def test_a_long_session_of_random_edits_in_the_main_window(two_checkpoints, tmp_path):
    """Random typing, deleting, pasting, selection changes and model switches (see soak_main_window.py)."""
    first, second = two_checkpoints
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, str(SOAK_SCRIPT), str(first), str(second), str(SOAK_EDITS), "7"],
        capture_output=True,
        text=True,
        timeout=max(300, SOAK_EDITS // 10),
        env=env,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stderr[-3000:]
    outcome = json.loads(lines[-1])
    assert outcome["failures"] == [], outcome
    assert result.returncode == 0, result.stderr[-3000:]
    assert outcome["edits"] == SOAK_EDITS and outcome["painted"] > 0
    assert outcome["painted_models"] == ["tiny", "tiny encoder"], "both models must have served traces"
    assert outcome["memory_growth"] <= 0.05


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 in the hub layout with a byte-level tokenizer: no BOS is added to the text."""
    from text_models import hf_gpt2_model

    folder = tmp_path_factory.mktemp("gpt2") / "gpt2"
    hf_gpt2_model(folder)
    return folder


HOSTILE_PIECES = [
    " ",
    "\t\n",
    "\x00",
    "a\ud800b",  # Qt drops the lone surrogate (alone it would leave an empty input, tested below)
    "e\u0301\u0301",
    "\u202eevil\u202c",
    "مرحبا שלום",
    "👩\u200d👩\u200d👧\u200d👦",
    "東京都",
    "x" * 20_000,
]


def test_hostile_text_typed_into_the_window_is_painted(qtbot, window, gpt2_folder):
    with qtbot.waitSignal(window.model_changed, timeout=TIMEOUT_MS):
        window.open_checkpoint(str(gpt2_folder))
    failures: list[str] = []
    window.controller.trace_failed.connect(lambda _id, reason: failures.append(reason))
    for text in HOSTILE_PIECES:
        set_input(window, text)
        shown = window.input_panel.source.toPlainText()  # Qt's own string (a lone surrogate becomes U+FFFD)
        wait_painted(qtbot, window, shown)
        assert len(window.painted.trace.decoder) >= 1
    assert failures == []
    assert "cut to the model's maximum" in window.input_panel.notice.text()


def test_an_empty_input_to_a_model_without_bos_is_not_a_model_failure(qtbot, window, gpt2_folder):
    """Whatever the app shows for an input without tokens, it is not an internal error."""
    with qtbot.waitSignal(window.model_changed, timeout=TIMEOUT_MS):
        window.open_checkpoint(str(gpt2_folder))
    set_input(window, "hello")
    wait_painted(qtbot, window, "hello")
    reasons: list[str] = []
    window.controller.trace_failed.connect(lambda _id, reason: reasons.append(reason))
    set_input(window, "")
    queue = window.controller.queue
    qtbot.waitUntil(lambda: not queue.busy and queue.pending_trace is None, timeout=TIMEOUT_MS)
    assert not any("division" in reason for reason in reasons), reasons
    assert window.statusBar().currentMessage() == "The input has no tokens to show; type some text."
    set_input(window, "hi")  # and the window goes on working
    wait_painted(qtbot, window, "hi")
