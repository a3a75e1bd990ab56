"""A training run folder as a timeline: its checkpoints by step, its log, and a head
statistic over the steps.

``attention-explorer train`` writes ``step-000500/``, ``step-001000/``, … (native
checkpoints), ``final/``, ``settings.json`` and ``log.jsonl`` (one JSON object per
checkpoint: step, loss, exact match per task, seconds). Opening a run only lists folder
names; the log is read on first use, and no weights are read here at all — the app's
worker loads the checkpoint a step needs (``model.load_checkpoint``) through a
``CheckpointCache``. For the statistic curve, ``checkpoint_statistics`` traces the
input on one checkpoint; the app does that one checkpoint per worker job (scrubbing
must not wait behind a whole run), in the order a ``CurveSchedule`` says, and collects
every statistic of every kind in a ``StepStatistics``, so switching the statistic, kind
or head redraws without tracing again. ``LoadWait`` follows one slider load until its
trace is painted. Plain Python: the Qt side is ``explorer.modes.timeline``.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

import numpy as np

from model.trace import Trace

from .compare_job import teacher_forcing_target
from .head_stats import STATISTICS, trace_head_statistics

STEP_FOLDER = re.compile(r"step-(\d{1,12})")
# The log and settings are small: a few hundred bytes per checkpoint. A bigger file is
# not one ``train`` wrote, and is not read into memory.
MAX_LOG_BYTES = 16 * 1024 * 1024
MAX_SETTINGS_BYTES = 64 * 1024

Loaded = TypeVar("Loaded")


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


@dataclass(frozen=True)
class StatisticCurve:
    """One head statistic of every head of a kind, at each step."""

    kind: str
    statistic: str
    steps: np.ndarray  # (S,) int64
    values: np.ndarray  # (S, L, H) float64

    def head(self, layer: int, head: int) -> np.ndarray:
        """``(S,)`` the curve of one head."""
        return self.values[:, layer, head]

    def series(self, layer: int, head: int | None) -> np.ndarray:
        """``(S,)`` the curve of one head, or with ``head`` None the mean over the layer's heads.

        NaN (a statistic a head does not define) is left out of the mean; a step where
        no head defines it stays NaN.
        """
        if head is not None:
            return self.head(layer, head)
        layer_values = self.values[:, layer, :]  # (S, H)
        defined = np.isfinite(layer_values)
        total = np.where(defined, layer_values, 0.0).sum(axis=-1)
        count = defined.sum(axis=-1)
        return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _curve(kind: str, statistic: str, tables: list[tuple[int, np.ndarray]]) -> StatisticCurve:
    """Stack ``(step, (L, H) table)`` pairs of one shape into a curve in step order."""
    if not tables:
        raise ValueError("a curve needs at least one step")
    tables = sorted(tables, key=lambda pair: pair[0])
    shapes = {table.shape for _, table in tables}
    if len(shapes) > 1:
        raise ValueError(f"the checkpoints have different layers × heads ({', '.join(map(str, sorted(shapes)))})")
    return StatisticCurve(
        kind, statistic, np.array([step for step, _ in tables], dtype=np.int64), np.stack([table for _, table in tables])
    )


# kind → statistic → (L, H): every statistic of every head of one trace.
TraceStatistics = dict[str, dict[str, np.ndarray]]


def trace_statistics(trace: Trace) -> TraceStatistics:
    """Every head statistic of every attention kind of ``trace``."""
    return {kind: trace_head_statistics(trace, kind).values for kind in trace.kinds}


@dataclass(frozen=True)
class TracedStep:
    """What tracing the input on one checkpoint gave the curve."""

    statistics: TraceStatistics
    # The decoder tokens to force could not be written as a target for this checkpoint:
    # it generated its own, so its decoder-side statistics are over another sequence.
    unforced: bool = False


def forced_target(model: Any, target: str | None, forced_ids: tuple[int, ...] | None) -> tuple[str | None, bool]:
    """``(target, unforced)``: the target to trace ``model`` with so its decoder reads ``forced_ids``.

    A typed target, no ids to force, or a model without an encoder–decoder leaves the
    target as it is. When the ids cannot be written as a target ``model`` encodes back
    to them, the target stays empty (the model generates) and ``unforced`` is True.
    """
    if target or forced_ids is None or model.config.architecture != "encoder-decoder":
        return target, False
    text = teacher_forcing_target(model, list(forced_ids))
    return text, text is None


def checkpoint_statistics(
    load: Callable[[Path], Any],
    folder: Path,
    text: str,
    target: str | None = None,
    pair: str | None = None,
    forced_ids: tuple[int, ...] | None = None,
) -> TracedStep:
    """Load the checkpoint in ``folder`` with ``load`` (``model.load_checkpoint`` in the app),
    trace the input on it and return its statistics; the model is dropped afterwards.

    With ``forced_ids`` (decoder ids, start token first) and no ``target``, an
    encoder–decoder is teacher-forced with those tokens, so every checkpoint's decoder
    statistics are over one sequence (see ``forced_target``).
    """
    model = load(folder)
    target, unforced = forced_target(model, target, forced_ids)
    return TracedStep(trace_statistics(model.trace(text, target=target, pair=pair)), unforced)


class StepStatistics:
    """The statistics of one input at the steps of a run traced so far, filled step by step."""

    def __init__(self) -> None:
        self._by_step: dict[int, TraceStatistics] = {}

    def add(self, step: int, statistics: TraceStatistics) -> None:
        self._by_step[step] = statistics

    def __contains__(self, step: int) -> bool:
        return step in self._by_step

    def __len__(self) -> int:
        return len(self._by_step)

    def shapes(self, kind: str) -> dict[int, tuple[int, ...]]:
        """step → (layers, heads) of ``kind`` at the steps that have it."""
        return {
            step: next(iter(statistics[kind].values())).shape
            for step, statistics in sorted(self._by_step.items())
            if statistics.get(kind)
        }

    def curve(self, kind: str, statistic: str, shape: tuple[int, ...] | None = None) -> StatisticCurve | None:
        """The curve of ``statistic`` for ``kind`` over the steps that have it (None when none has).

        With ``shape`` (layers, heads) only the steps whose model has that shape are in
        it: a run whose checkpoints changed shape has no single curve (see ``shapes``).

        Raises:
            ValueError: an unknown statistic, or steps of different shapes and no ``shape``.
        """
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r}; choose one of {', '.join(STATISTICS)}")
        tables = [
            (step, statistics[kind][statistic])
            for step, statistics in self._by_step.items()
            if kind in statistics and (shape is None or statistics[kind][statistic].shape == tuple(shape))
        ]
        return _curve(kind, statistic, tables) if tables else None


def _steps_text(steps: list[int], limit: int = 5) -> str:
    shown = ", ".join(map(str, steps[:limit]))
    return ("step " if len(steps) == 1 else "steps ") + shown + (" …" if len(steps) > limit else "")


def left_out_note(left_out: dict[int, tuple[int, ...]], shape: tuple[int, ...]) -> str:
    """Why the steps in ``left_out`` (step → their (layers, heads)) are not on the curve ('' if none)."""
    if not left_out:
        return ""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for step, other in sorted(left_out.items()):
        by_shape.setdefault(tuple(other), []).append(step)
    parts = [f"{_steps_text(steps)} ({other[0]} layers × {other[1]} heads)" for other, steps in by_shape.items()]
    return (
        f"left out of the curve: {'; '.join(parts)}, whose model differs from the loaded one "
        f"({shape[0]} layers × {shape[1]} heads)"
    )


@dataclass(frozen=True)
class CurveKey:
    """The run and the input a curve belongs to."""

    folder: Path
    text: str
    target: str | None = None
    pair: str | None = None


class CurveSchedule:
    """Which checkpoints of a run still need tracing for the curve, one at a time.

    ``start`` begins a curve for a run and an input (forgetting the last one's); ``next``
    hands out the next checkpoint to trace and ``finished`` / ``failed`` take its
    answer. Answers for an older curve are dropped. Checkpoints of unknown step
    (``final/`` without settings) have no place on a step axis and are never traced.
    """

    def __init__(self) -> None:
        self.key: CurveKey | None = None
        self.forced_ids: tuple[int, ...] | None = None  # decoder ids every checkpoint is forced with
        self.forced_from = ""  # which checkpoint generated them, in words
        self.statistics = StepStatistics()
        self.failures: dict[int, str] = {}  # step → why it could not be traced
        self.unforced: set[int] = set()  # steps that generated their own decoder tokens
        self._todo: list[RunCheckpoint] = []
        self._asked: tuple[CurveKey, int] | None = None  # (key, step) being traced now

    def reset(self) -> None:
        """Forget the curve (a new run was opened)."""
        self.key, self.forced_ids, self.forced_from = None, None, ""
        self.statistics = StepStatistics()
        self.failures, self.unforced, self._todo = {}, set(), []

    def start(
        self,
        key: CurveKey,
        checkpoints: list[RunCheckpoint],
        forced_ids: tuple[int, ...] | None = None,
        forced_from: str = "",
    ) -> bool:
        """Begin the curve of ``key`` unless it is the one being built; True when it began."""
        if key == self.key:
            return False
        self.reset()
        self.key, self.forced_ids, self.forced_from = key, forced_ids, forced_from
        self.queue(checkpoints)
        return True

    def queue(self, checkpoints: list[RunCheckpoint]) -> None:
        """Queue every listed checkpoint not yet traced, failed or being traced."""
        being_traced = self._asked[1] if self._asked is not None and self._asked[0] == self.key else None
        self._todo = [
            checkpoint
            for checkpoint in checkpoints
            if checkpoint.step is not None
            and checkpoint.step not in self.statistics
            and checkpoint.step not in self.failures
            and checkpoint.step != being_traced
        ]

    def retry(self, checkpoints: list[RunCheckpoint]) -> None:
        """The run was listed again: try the checkpoints that failed once more (a training
        run may have finished writing them), and queue the new ones."""
        self.failures = {}
        self.queue(checkpoints)

    def next(self) -> tuple[CurveKey, RunCheckpoint] | None:
        """The next checkpoint to trace, with the key its answer must carry (None: done)."""
        if not self._todo or self.key is None:
            self._asked = None
            self._todo = []
            return None
        checkpoint = self._todo.pop(0)
        self._asked = (self.key, checkpoint.step)
        return self.key, checkpoint

    def finished(self, key: CurveKey, step: int, traced: TracedStep) -> bool:
        """Take a traced checkpoint; False when it belongs to an older curve."""
        if key != self.key:
            return False
        self.statistics.add(step, traced.statistics)
        if traced.unforced:
            self.unforced.add(step)
        return True

    def failed(self, reason: str) -> None:
        """The checkpoint being traced could not be (one still being written, for example)."""
        if self._asked is not None and self._asked[0] == self.key:
            self.failures[self._asked[1]] = reason

    @property
    def tracing(self) -> bool:
        return bool(self._todo) or self._asked is not None


def same_folder(first: str | Path, second: str | Path) -> bool:
    """Whether two paths name one folder."""
    try:
        return Path(first).resolve() == Path(second).resolve()
    except OSError:
        return False


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
