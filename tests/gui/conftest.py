"""Qt fixtures for the desktop app tests: offscreen, isolated settings, windows.

Qt runs offscreen (set before anything imports Qt), QSettings write to a temporary INI
file, windows are closed and their worker stopped in teardown, and a test that leaves a
QThread running fails. The tiny checkpoints (``checkpoints``) come from tests/conftest.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QSignalBlocker, QThread


TRACE_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path):
    """Point the user's QSettings at a fresh INI folder for every test."""
    folder = tmp_path / "settings"
    folder.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def no_dangling_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (windows must stop their workers)."""
    started: list[weakref.ref] = []
    original_start = QThread.start

    def tracking_start(self, *args, **kwargs):
        started.append(weakref.ref(self))
        return original_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", tracking_start)
    yield
    running = [thread for ref in started if (thread := ref()) is not None and thread.isRunning()]
    for thread in running:
        thread.quit()
        thread.wait(5000)
    assert not running, f"{len(running)} QThread(s) still running after the test"


@pytest.fixture
def window(qtbot):
    """A shown main window with user settings (isolated); closed and stopped in teardown."""
    from explorer.main_window import MainWindow
    from explorer.settings import Settings, user_store

    main_window = MainWindow(Settings(user_store()))
    qtbot.addWidget(main_window)
    main_window.resize(1200, 800)
    main_window.show()
    yield main_window
    main_window.close()
    main_window.controller.stop()


class Driver:
    """Drives a window as a user would and waits for what the panels show."""

    timeout = TRACE_TIMEOUT_MS

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot

    def wait_for_text(self, window, text: str) -> None:
        """Wait until every panel shows the trace of ``text``."""
        self.qtbot.waitUntil(
            lambda: window.painted is not None and window.painted.request.text == text, timeout=self.timeout
        )

    def load(self, window, folder: Path | None, text: str = "date: 5 may 2020", target: str | None = "2020-05-05") -> None:
        """Open ``folder`` with ``text`` (and ``target``) in the editors; wait until painted."""
        panel = window.input_panel
        with QSignalBlocker(panel.source), QSignalBlocker(panel.target):
            panel.source.setPlainText(text)
            panel.target.setText(target or "")
        with self.qtbot.waitSignal(window.model_changed, timeout=self.timeout):
            window.open_checkpoint(str(folder) if folder is not None else None)
        # Loading requests a trace of the editors' text with the new model: wait for that one.
        newest = window.controller.queue.latest_trace_id
        self.qtbot.waitUntil(
            lambda: window.painted is not None and window.painted.request_id == newest, timeout=self.timeout
        )
        assert window.painted.request.text == text


@pytest.fixture
def drive(qtbot) -> Driver:
    return Driver(qtbot)
