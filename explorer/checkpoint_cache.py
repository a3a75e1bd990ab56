"""The worker's cache of loaded checkpoints of a training run: scrubbing back costs nothing.

Worker side: the worker thread is its only user. It holds no torch itself (the worker
passes ``model.load_checkpoint`` as the loader).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable, Generic, TypeVar

from .analysis.training_run import folder_stamp

Loaded = TypeVar("Loaded")


class CheckpointCache(Generic[Loaded]):
    """The last ``capacity`` loaded checkpoints, by folder: scrubbing back costs nothing.

    ``loader`` does the loading (the app passes ``model.load_checkpoint``); the cache holds
    no torch itself. A folder whose files changed since it was loaded (a training run
    that rewrote ``final/``) is loaded again. Not thread-safe: the worker thread is its
    only user.
    """

    def __init__(self, loader: Callable[[Path], Loaded], capacity: int = 4) -> None:
        if capacity < 1:
            raise ValueError("the cache must hold at least one checkpoint")
        self._loader = loader
        self._capacity = capacity
        self._entries: OrderedDict[Path, tuple[tuple, Loaded]] = OrderedDict()

    def __contains__(self, folder: Path) -> bool:
        return Path(folder) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def values(self) -> list[Loaded]:
        return [loaded for _, loaded in self._entries.values()]

    def get(self, folder: str | Path) -> Loaded:
        folder = Path(folder)
        stamp = folder_stamp(folder)
        if folder in self._entries and self._entries[folder][0] == stamp:
            self._entries.move_to_end(folder)
            return self._entries[folder][1]
        self._entries.pop(folder, None)  # changed on disk: drop the old copy before reading the new
        loaded = self._loader(folder)
        self._entries[folder] = (stamp, loaded)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)  # the least recently used
        return loaded
