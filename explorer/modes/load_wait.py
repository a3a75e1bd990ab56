"""The timeline mode's wait for one slider load, from the request until its trace is painted.

Plain Python (no Qt): the mode feeds it the window's events and asks whether the wait is over.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.training_run import same_folder


class LoadWait:
    """The checkpoint the slider asked the window to load, followed until its trace is painted.

    Each event method returns True when the wait is over: the trace of the asked
    checkpoint was painted, or its load failed, or another model replaced it.
    """

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.loaded = False  # the model is in; its trace is not painted yet

    @property
    def waiting(self) -> bool:
        return self.folder is not None

    def ask(self, folder: Path) -> None:
        self.folder, self.loaded = Path(folder), False

    def _done(self) -> bool:
        self.folder, self.loaded = None, False
        return True

    def model_changed(self, source: str | Path | None, from_run: bool) -> bool:
        if not self.waiting:
            return False
        if from_run and source is not None and same_folder(source, self.folder):
            self.loaded = True  # done once its trace is painted
            return False
        # Another model was opened over the run's step: that load will not come.
        return self._done() if not from_run else False

    def trace_painted(self) -> bool:
        return self._done() if self.waiting and self.loaded else False

    def load_failed(self, location: str | Path) -> bool:
        return self._done() if self.waiting and same_folder(location, self.folder) else False

    def trace_failed(self) -> bool:
        return self._done() if self.waiting and self.loaded else False
