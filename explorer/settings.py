"""What the app remembers between runs, behind one accessor with one dict of defaults.

Window geometry, dock layout, colour map, device and the recent checkpoints live in a
``QSettings`` INI file. A ``Settings`` without a store (headless screenshots) answers
with the defaults and remembers changes only in memory, so a screenshot never depends
on, or changes, the user's saved layout.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from .colormaps import DEFAULT as DEFAULT_COLORMAP
from .colormaps import SEQUENTIAL

ORGANISATION = "attention-explorer"
APPLICATION = "attention-explorer"
MAX_RECENT = 8

DEFAULTS: dict[str, Any] = {
    "window/geometry": QByteArray(),
    "window/state": QByteArray(),
    "view/colormap": DEFAULT_COLORMAP,
    "view/show_mean_column": True,
    "view/hide_special": False,
    "model/device": "cpu",
    "model/recent": [],
}


def user_store() -> QSettings:
    """The user's INI file (tests redirect it with ``QSettings.setPath``)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


class Settings:
    """Typed access to the remembered values; unknown keys are a programming error."""

    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store
        self._memory: dict[str, Any] = {}

    def value(self, key: str) -> Any:
        default = DEFAULTS[key]
        if self._store is None:
            return self._memory.get(key, default)
        kind = type(default)
        if kind is list:
            stored = self._store.value(key, [], type=list)
            return [str(item) for item in stored] if stored else []
        if kind is QByteArray:
            return self._store.value(key, default, type=QByteArray)
        return self._store.value(key, default, type=kind)

    def set_value(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        if self._store is None:
            self._memory[key] = value
        else:
            self._store.setValue(key, value)

    def sync(self) -> None:
        if self._store is not None:
            self._store.sync()

    # -- values with rules -------------------------------------------------------------
    @property
    def colormap(self) -> str:
        name = self.value("view/colormap")
        return name if name in SEQUENTIAL else DEFAULT_COLORMAP

    def recent(self) -> list[str]:
        return list(self.value("model/recent"))[:MAX_RECENT]

    def add_recent(self, location: str) -> list[str]:
        """Put ``location`` first in the recent list (no duplicates, at most MAX_RECENT)."""
        recent = [location, *(item for item in self.recent() if item != location)][:MAX_RECENT]
        self.set_value("model/recent", recent)
        return recent
