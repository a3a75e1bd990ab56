"""The training timeline: scrub a slider across a run's checkpoints and watch attention form.

Opening a run folder (``attention-explorer train`` writes one) lists its checkpoints; the
slider loads the chosen one on the worker through its run cache
(``controller.load(..., from_run=True)``), and the window keeps the user's view and
re-traces the current input, so every panel follows. Loads are coalesced by the job
queue (the newest wins), so dragging the slider never waits for the model.

Beneath the slider, a curve of one head statistic over the training steps for the
window's selected kind, layer and head (head None: the mean over heads), with a marker
at the current step, and the log's loss and exact match. The curve needs one trace of
the input per checkpoint: each is one worker job (``curve`` topic), chained one after
the other in the order ``analysis.timeline.CurveSchedule`` keeps, so a scrub's load
never waits behind a whole run and the curve fills in from the left. On an
encoder–decoder without a target every checkpoint is teacher-forced with the decoder
tokens of the trace painted when the curve began, so the decoder-side statistics of
every step are over one sequence. The widgets are ``panels.timeline_view``; this
module is the glue between them, the window and the worker.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from ..analysis.head_stats import POSITIONAL, STATISTIC_TITLES
from ..analysis.timeline import CurveKey, CurveSchedule, TracedStep, checkpoint_statistics, left_out_note
from ..analysis.training_run import TrainingRun, open_run
from ..jobs import ModelInfo, TraceResult
from ..panels.timeline_view import TimelineView
from ..core.selection import kind_title
from .base import AnalysisMode
from .host import ModeHost
from .load_wait import LoadWait

NO_RUN = "Open a training run folder (Analysis ▸ Open training run…), as attention-explorer train writes it."


def _steps_text(steps: list[int]) -> str:
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(map(str, sorted(steps)))


class TimelineMode(AnalysisMode):
    name = "timeline"
    title = "Training timeline"
    tab_with = "distribution"

    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(host, parent)
        self.run: TrainingRun | None = None
        self.index = 0  # the checkpoint the slider is on
        self.schedule = CurveSchedule()
        self.load_wait = LoadWait()
        self.left_out = ""  # why some steps are not on the curve drawn ('' when none)
        self._pick_view = False  # a newly opened run starts at its sharpest head
        self._other_model: str | None = None  # name of a model opened over the run, if any
        host.model_changed.connect(self._on_model_changed)
        host.trace_painted.connect(self._on_trace_painted)
        host.controller.load_failed.connect(self._on_load_failed)
        host.controller.trace_failed.connect(self._on_trace_failed)

    def build(self) -> QWidget:
        self.view = TimelineView(NO_RUN)
        self.view.open_clicked.connect(self.open_run_dialog)
        self.view.reload_clicked.connect(self.refresh)
        self.view.step_moved.connect(self._on_slider_moved)
        self.view.statistic_changed.connect(lambda _statistic: self._draw_curve())
        self._show_progress()  # what happened before the dock was first shown
        return self.view

    def add_actions(self, menu: QMenu) -> None:
        menu.addAction("Open training run…", self.open_run_dialog)

    # -- opening a run --------------------------------------------------------------------------
    def open_run_dialog(self) -> None:
        start = str(self.run.folder.parent) if self.run is not None else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self.host.dialog_parent(), "Open training run", start)
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path, step: int | None = None) -> bool:
        """Open a run folder and load its checkpoint nearest ``step`` (None: the last).

        A folder that is not a run gives one sentence in a message box; returns whether
        the run opened.
        """
        try:
            run = open_run(folder)
        except ValueError as error:
            self.host.show_error("Could not open training run", str(error))
            return False
        self.show_run(run, step)
        self.raise_dock()
        return True

    def show_run(self, run: TrainingRun, step: int | None = None) -> None:
        """Show ``run`` and load the checkpoint nearest ``step`` (None: the last)."""
        self.run = run
        self.schedule.reset()
        self._pick_view = True
        index = len(run.checkpoints) - 1 if step is None else run.nearest(step)
        if step is not None and run.checkpoints[index].step != step:
            self.host.show_status(
                f"The run has no checkpoint at step {step}; showing {run.checkpoints[index].label}.", 10000
            )
        self._show_checkpoints(index)
        self._draw_log()
        self._draw_curve()
        self._load(index)

    def refresh(self) -> None:
        """List the run's checkpoints again and trace the new ones for the curve."""
        if self.run is None:
            return
        try:
            run = open_run(self.run.folder)
        except ValueError as error:
            self.host.show_error("Could not reload training run", str(error))
            return
        current = self.run.checkpoints[self.index].folder
        self.run = run
        folders = [checkpoint.folder for checkpoint in run.checkpoints]
        index = folders.index(current) if current in folders else len(folders) - 1
        self._show_checkpoints(index)
        self._draw_log()
        if current not in folders:
            self._load(index)  # the checkpoint shown is gone
        if self.schedule.key is not None:
            # Checkpoints that failed (half-written by a running training) are tried again.
            self.schedule.retry(run.checkpoints)
            if "curve" not in self.waiting:
                self._trace_next_checkpoint()
        self._show_progress()

    def _show_checkpoints(self, index: int) -> None:
        checkpoints = self.run.checkpoints
        self.view.show_checkpoints(
            str(self.run.folder), len(checkpoints), index, checkpoints[0].label, checkpoints[-1].label
        )
        self._show_index(index)

    def apply_args(self, args: argparse.Namespace) -> bool:
        folder = getattr(args, "run", None)
        if not folder:
            return False
        try:
            run = open_run(folder)
        except ValueError as error:
            if getattr(args, "screenshot", None):
                raise  # the screenshot fails with this one sentence
            self.host.show_error("Could not open training run", str(error))
            return False
        self.show_run(run, getattr(args, "step", None))
        if not getattr(args, "show", None):
            self.raise_dock()
        return True

    # -- scrubbing ------------------------------------------------------------------------------
    def _on_slider_moved(self, index: int) -> None:
        if self.run is None:
            return
        self._show_index(index)
        self._load(index)

    def step_to(self, index: int) -> None:
        """Move the slider to checkpoint ``index`` (loads it)."""
        self.view.slider.setValue(index)

    def _show_index(self, index: int) -> None:
        self.index = index
        checkpoint = self.run.checkpoints[index]
        record = self.run.record(index)
        loss = record.get("loss") if record else None
        self.view.show_step(
            f"{checkpoint.label}  ({index + 1} of {len(self.run.checkpoints)})",
            checkpoint.label + (f" · loss {loss:.4f}" if isinstance(loss, (int, float)) else ""),
            checkpoint.step,
        )

    def _device(self) -> str:
        return self.host.model_device()

    def _load(self, index: int) -> None:
        folder = self.run.checkpoints[index].folder
        self.load_wait.ask(folder)
        self.waiting.add("load")
        self.host.controller.load(str(folder), self._device(), from_run=True)

    def _on_model_changed(self, info: ModelInfo) -> None:
        # A model opened from File ▸ … is not this run's: say so until the slider moves again.
        self._other_model = None if info.from_run else info.name
        if self.built:  # an unbuilt view catches up in build
            self._show_progress()
        if self.load_wait.model_changed(info.source, info.from_run):
            self.settle("load")

    def _on_trace_painted(self, result: TraceResult) -> None:
        if not self.load_wait.trace_painted():
            if self.showing():
                self._ensure_curve(result)
            return
        if self._pick_view:
            # A newly opened run starts on its most telling view, as a new model does;
            # scrubbing keeps whatever the user picks from then on.
            self._pick_view = False
            state = self.host.state
            kind = "cross" if "cross" in state.kinds else state.kinds[0]
            layer, head = state.sharpest_head(kind)
            self.host.select(kind=kind, layer=layer, head=head, query=0)
        if self.showing():
            # Before the load settles: a screenshot waits for the curve this starts.
            self._ensure_curve(result)
        self.settle("load")

    def _on_load_failed(self, location: str, _reason: str) -> None:
        # The window shows the reason in a message box.
        if self.load_wait.load_failed(location):
            self.settle("load")

    def _on_trace_failed(self, _request_id: int, _reason: str) -> None:
        if self.load_wait.trace_failed():
            self.settle("load")

    # -- the statistic curve --------------------------------------------------------------------
    def show_state(self) -> None:
        if not self.load_wait.waiting:
            # While a load is pending the painted trace is of the previous model.
            self._ensure_curve(self.host.painted)
        self._draw_curve()

    @property
    def statistic(self) -> str:
        return self.view.statistic

    def set_statistic(self, statistic: str) -> None:
        self.view.set_statistic(statistic)

    def _ensure_curve(self, painted: TraceResult | None) -> None:
        """Start tracing the run's checkpoints when the painted input or the run changed."""
        if self.run is None or painted is None or not painted.request.text:
            return
        request, trace = painted.request, painted.trace
        key = CurveKey(self.run.folder, request.text, request.target or None, request.pair or None)
        forced_ids = None
        if key.target is None and trace.generated and trace.decoder is not None:
            forced_ids = tuple(int(token) for token in trace.decoder.ids)
        source = self.run.checkpoints[self.index].label if self._other_model is None else self._other_model
        if self.schedule.start(key, self.run.checkpoints, forced_ids, source):
            if "curve" not in self.waiting:
                self._trace_next_checkpoint()
            self._draw_curve()

    def _trace_next_checkpoint(self) -> None:
        job = self.schedule.next()
        if job is None:
            self._show_progress()
            return
        key, checkpoint = job
        folder, step, forced_ids = checkpoint.folder, checkpoint.step, self.schedule.forced_ids

        def compute(_model: Any) -> tuple[CurveKey, int, TracedStep]:
            # On the worker thread; the window's own model is left alone.
            from model import load_checkpoint

            traced = checkpoint_statistics(
                lambda path: load_checkpoint(path, device="cpu"), folder, key.text, key.target, key.pair, forced_ids
            )
            return key, step, traced

        self.request("curve", compute)
        self._show_progress()

    def on_result(self, topic: str, value: Any) -> None:
        if topic != "curve":
            return
        key, step, traced = value
        if self.schedule.finished(key, step, traced):
            self._draw_curve()
        self._trace_next_checkpoint()

    def on_failure(self, topic: str, reason: str) -> None:
        if topic != "curve":
            super().on_failure(topic, reason)
            return
        # A checkpoint still being written by a running training, for example.
        self.schedule.failed(reason)
        self._trace_next_checkpoint()

    @property
    def curve_failures(self) -> dict[int, str]:
        """step → why it could not be traced for the curve."""
        return self.schedule.failures

    def _show_progress(self) -> None:
        if self.run is None:
            self.view.set_note(NO_RUN)
            return
        schedule = self.schedule
        total = sum(1 for checkpoint in self.run.checkpoints if checkpoint.step is not None)
        parts = []
        if self._other_model is not None:
            parts.append(f"the window shows {self._other_model}, not this run; move the slider to go back to the run")
        if schedule.tracing:
            parts.append(f"tracing the input on every checkpoint for the curve: {len(schedule.statistics)} of {total} done…")
        if schedule.failures:
            step, reason = next(iter(schedule.failures.items()))
            more = f" (and {len(schedule.failures) - 1} more)" if len(schedule.failures) > 1 else ""
            parts.append(f"step {step} could not be traced: {reason}{more}")
        if self.left_out:
            parts.append(self.left_out)
        if schedule.forced_ids is not None and self.host.state.selection.kind != "encoder_self":
            parts.append(
                f"decoder side teacher-forced: every checkpoint reads the {len(schedule.forced_ids)} tokens {schedule.forced_from} generated"
            )
            if schedule.unforced:
                parts.append(
                    f"{_steps_text(sorted(schedule.unforced))} could not be teacher-forced with those tokens "
                    "and generated their own"
                )
        if self.run.log_problems:
            parts.append(self.run.log_problems[0])
        self.view.set_note("   ·   ".join(parts))

    def _draw_curve(self) -> None:
        """Redraw the curve of the chosen statistic for the window's selected head.

        Only the steps whose model has the loaded model's layers × heads are drawn: a run
        that changed shape has no single curve, and the note names the steps left out.
        """
        state = self.host.state
        statistic = self.statistic
        self.left_out = ""
        if self.run is None or state.trace is None or state.selection.kind not in state.trace.attention:
            self.view.show_curve(None, None, "")
        else:
            selection = state.selection
            kind, layer, head = selection.kind, selection.layer, selection.head
            head_text = "mean over heads" if head is None else f"head {head}"
            title = f"{kind_title(kind)} · layer {layer} · {head_text}"
            if kind == "cross" and statistic in POSITIONAL:
                message = f"{STATISTIC_TITLES[statistic]} compares query and key positions: not defined for {kind_title(kind)}"
                self.view.show_curve(None, None, title, message)
            else:
                shape = tuple(state.trace.attention[kind].weights.shape[:2])  # (L, H) of the loaded model
                statistics = self.schedule.statistics
                left_out = {step: other for step, other in statistics.shapes(kind).items() if tuple(other) != shape}
                self.left_out = left_out_note(left_out, shape)
                curve = statistics.curve(kind, statistic, shape)
                if curve is None:
                    self.view.show_curve(None, None, title)
                else:
                    self.view.show_curve(curve.steps, curve.series(layer, head), title)
        self._set_x_range()
        self._show_progress()

    def shown_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) the curve plot shows now."""
        return self.view.shown_curve()

    def _draw_log(self) -> None:
        self.view.show_log(self.run.log_series("loss"), self.run.mean_exact_match())
        self._set_x_range()

    def _set_x_range(self) -> None:
        if self.run is not None:
            self.view.set_step_range([checkpoint.step for checkpoint in self.run.checkpoints if checkpoint.step is not None])
