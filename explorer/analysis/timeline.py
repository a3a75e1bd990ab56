"""A head statistic over the steps of a training run, and the plan for tracing it.

For the statistic curve, ``checkpoint_statistics`` traces the input on one checkpoint;
the app does that one checkpoint per worker job (scrubbing must not wait behind a whole
run), in the order a ``CurveSchedule`` says, and collects every statistic of every kind
in a ``StepStatistics``, so switching the statistic, kind or head redraws without
tracing again. The run folder itself is read by ``training_run``; the worker's cache of
loaded checkpoints is ``explorer.checkpoint_cache``. Plain Python: the Qt side is
``explorer.modes.timeline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from model.trace import Trace

from .compare_job import teacher_forcing_target
from .head_stats import STATISTICS, trace_head_statistics
from .training_run import RunCheckpoint


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
