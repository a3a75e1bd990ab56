"""A training run folder: its checkpoints by step and its log, read without loading weights.

``attention-explorer train`` writes ``step-000500/``, ``step-001000/``, … (native
checkpoints), ``final/``, ``settings.json`` and ``log.jsonl`` (one JSON object per
checkpoint: step, loss, exact match per task, seconds). Opening a run only lists folder
names; the log is read on first use. Plain Python.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

STEP_FOLDER = re.compile(r"step-(\d{1,12})")
# The log and settings are small: a few hundred bytes per checkpoint. A bigger file is
# not one ``train`` wrote, and is not read into memory.
MAX_LOG_BYTES = 16 * 1024 * 1024
MAX_SETTINGS_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunCheckpoint:
    """One checkpoint of a run; ``step`` is None only for a ``final/`` of unknown step."""

    step: int | None
    folder: Path

    @property
    def label(self) -> str:
        if self.folder.name == "final":
            return "final" if self.step is None else f"final (step {self.step})"
        return f"step {self.step}"


def _is_checkpoint(folder: Path) -> bool:
    return folder.is_dir() and (folder / "config.json").is_file()


def _read_small(path: Path, limit: int) -> str | None:
    """The text of ``path`` if it exists and is at most ``limit`` bytes, else None."""
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _settings_steps(folder: Path) -> int | None:
    text = _read_small(folder / "settings.json", MAX_SETTINGS_BYTES)
    if text is None:
        return None
    try:
        steps = json.loads(text).get("steps")
    except (ValueError, AttributeError):
        return None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0 else None


@dataclass
class TrainingRun:
    """A run folder: its checkpoints in step order, and its log read on first use."""

    folder: Path
    checkpoints: list[RunCheckpoint]

    @property
    def steps(self) -> list[int | None]:
        return [checkpoint.step for checkpoint in self.checkpoints]

    @property
    def log(self) -> dict[int, dict]:
        """``log.jsonl`` as step → record; unreadable lines are left out (see ``log_problems``)."""
        return self._log_contents[0]

    @property
    def log_problems(self) -> list[str]:
        """Sentences about what in ``log.jsonl`` could not be read."""
        return self._log_contents[1]

    @cached_property
    def _log_contents(self) -> tuple[dict[int, dict], list[str]]:
        # Read on first use only: opening a run stays a directory listing.
        path = self.folder / "log.jsonl"
        records: dict[int, dict] = {}
        problems: list[str] = []
        if not path.exists():
            problems.append("the run has no log.jsonl")
        else:
            text = _read_small(path, MAX_LOG_BYTES)
            if text is None:
                problems.append(f"log.jsonl is not a readable file of at most {MAX_LOG_BYTES // 2**20} MiB")
            else:
                bad_lines = []
                for number, line in enumerate(text.splitlines(), start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = None
                    step = record.get("step") if isinstance(record, dict) else None
                    if isinstance(step, int) and not isinstance(step, bool):
                        records[step] = record
                    else:
                        bad_lines.append(number)
                if bad_lines:
                    problems.append(
                        f"log.jsonl lines {', '.join(map(str, bad_lines[:5]))}{' …' if len(bad_lines) > 5 else ''} "
                        "are not JSON records with an integer step"
                    )
        return records, problems

    def record(self, index: int) -> dict | None:
        """The log record of the checkpoint at ``index``, if the log has one."""
        step = self.checkpoints[index].step
        return None if step is None else self.log.get(step)

    def nearest(self, step: int) -> int:
        """Index of the checkpoint whose step is closest to ``step`` (the slider's snap)."""
        known = [(index, checkpoint.step) for index, checkpoint in enumerate(self.checkpoints) if checkpoint.step is not None]
        if not known:
            return len(self.checkpoints) - 1
        return min(known, key=lambda entry: (abs(entry[1] - step), entry[1]))[0]

    def log_series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a numeric log field, e.g. ``"loss"``, in step order."""
        pairs = sorted(
            (step, float(record[name]))
            for step, record in self.log.items()
            if isinstance(record.get(name), (int, float)) and not isinstance(record.get(name), bool)
        )
        return np.array([s for s, _ in pairs], dtype=np.int64), np.array([v for _, v in pairs], dtype=np.float64)

    def mean_exact_match(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the log's ``exact_match`` averaged over its tasks, in step order."""
        pairs = []
        for step, record in self.log.items():
            scores = record.get("exact_match")
            if not isinstance(scores, dict):
                continue
            numbers = [float(v) for v in scores.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if numbers:
                pairs.append((step, sum(numbers) / len(numbers)))
        pairs.sort()
        return np.array([s for s, _ in pairs], dtype=np.int64), np.array([v for _, v in pairs], dtype=np.float64)


def open_run(folder: str | Path) -> TrainingRun:
    """List a run folder's checkpoints without reading any weights.

    ``step-NNNNNN/`` folders (holding a ``config.json``) come in step order. ``final/`` is
    listed last unless a step folder of the same step exists — ``train`` saves the last
    step twice, and the timeline should not show one checkpoint as two stops. Its step
    is ``settings.json``'s ``steps`` (None when that is unreadable).

    Raises:
        ValueError: the folder does not exist or holds no checkpoint.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; open a run folder written by attention-explorer train")
    checkpoints = []
    for entry in folder.iterdir():
        match = STEP_FOLDER.fullmatch(entry.name)
        if match and _is_checkpoint(entry):
            checkpoints.append(RunCheckpoint(int(match.group(1)), entry))
    checkpoints.sort(key=lambda checkpoint: checkpoint.step)
    final = folder / "final"
    if _is_checkpoint(final):
        final_step = _settings_steps(folder)
        if final_step is None or final_step not in {checkpoint.step for checkpoint in checkpoints}:
            checkpoints.append(RunCheckpoint(final_step, final))
    if not checkpoints:
        raise ValueError(
            f"{folder} holds no checkpoints: expected step-NNNNNN/ or final/ folders as attention-explorer train writes them"
        )
    return TrainingRun(folder, checkpoints)


def folder_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of each file directly in ``folder`` (empty if unreadable)."""
    try:
        files = [(entry.name, entry.stat()) for entry in os.scandir(folder) if entry.is_file()]
    except OSError:
        return ()
    return tuple(sorted((name, stat.st_size, stat.st_mtime_ns) for name, stat in files))


def same_folder(first: str | Path, second: str | Path) -> bool:
    """Whether two paths name one folder."""
    try:
        return Path(first).resolve() == Path(second).resolve()
    except OSError:
        return False
