"""The one background thread that owns the torch model, and its GUI-side controller.

``InferenceWorker`` lives in a ``QThread`` and is the only code that touches the model:
it loads checkpoints, moves the model between devices and runs traces. The
``InferenceController`` lives on the GUI thread, hands the worker one job at a time
through a ``JobQueue`` (latest input wins, no fixed debounce) and forwards only results
that answer the newest request. The previous model keeps serving until a newly loaded
one replaces it; a failed load leaves it in place.

A long forward is visible and cancellable: the model calls the worker back at every
layer boundary (``model.progress``). Once a forward has run ``PROGRESS_AFTER_S`` the
worker reports each layer (``trace_progress``, shown in the status bar); and as soon as
a newer trace or a load has been requested (``newest_request``, written by the GUI
thread), the callback asks the model to stop at that boundary. The cancelled request
is answered by ``trace_cancelled`` and nothing of it is painted; the newer one runs next.
Traces are taken with ``reuse``, so a decoder's next keystroke recomputes only the
tokens from the first changed token id on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from PySide6.QtCore import QObject, QThread, Signal, Slot

from model.progress import TraceCancelled

from .devices import is_out_of_memory, normalise_device
from .errors import first_line
from .jobs import AnalysisRequest, InputTexts, Job, JobQueue, LoadRequest, ModelInfo, MoveRequest, TraceRequest, TraceResult
from .core.numeric import THUMBNAIL_SIDE
from .colormaps import lookup_table
from .core.mosaic import colour_table, prepare_mosaics
from .core.thumbnails import prepare_thumbnails

log = logging.getLogger(__name__)
# A forward that has run this long reports its progress layer by layer.
PROGRESS_AFTER_S = 0.3
# Closing must finish within 2 s; the rest of the window's teardown needs some of it.
STOP_TIMEOUT_MS = 1500
# Checkpoints of a training run kept loaded on the worker, so scrubbing back is instant.
RUN_CHECKPOINTS_KEPT = 4


def model_info(model, from_run: bool = False) -> ModelInfo:  # model: AttentionModel (untyped: no torch import here)
    config = model.config
    layers = {}
    if config.has_encoder:
        layers["encoder_self"] = config.n_encoder_layers
    if config.has_decoder:
        layers["decoder_self"] = config.n_decoder_layers
    if config.architecture == "encoder-decoder":
        layers["cross"] = config.n_decoder_layers
    return ModelInfo(
        name=model.name,
        architecture=config.architecture,
        description=model.describe(),
        source=model.source,
        device=str(model.device),
        dtype=str(model.dtype).removeprefix("torch."),
        max_length=model.tokenizer.max_length,
        kinds=config.attention_kinds,
        layers=layers,
        heads={kind: config.heads_of(kind) for kind in config.attention_kinds},
        bundled=_is_bundled(model),
        from_run=from_run,
        chat_template=model.chat_template is not None,
        predicts=config.has_decoder and config.lm_head,
    )


def _is_bundled(model) -> bool:
    from pathlib import Path

    from model.checkpoint import bundled_checkpoint

    try:
        same_folder = Path(model.source).resolve() == bundled_checkpoint().resolve()
    except OSError:
        same_folder = False
    # Training runs of the bundled model save their checkpoints under this name.
    return same_folder or model.name.startswith("bundled tasks model")


class InferenceWorker(QObject):
    """Runs jobs on the worker thread; every slot answers with exactly one signal."""

    trace_finished = Signal(object)  # TraceResult
    trace_failed = Signal(int, str)  # request id, reason
    trace_progressed = Signal(int, str, int, int)  # request id, stack, layers done, layers
    trace_cancelled = Signal(int)  # request id: a newer request stopped it between layers
    model_loaded = Signal(int, object)  # request id, ModelInfo
    load_failed = Signal(int, str)  # request id, reason
    device_moved = Signal(int, object, str)  # request id, ModelInfo, notice ("" when none)
    analysis_finished = Signal(int, str, object)  # request id, topic, value
    analysis_failed = Signal(int, str, str)  # request id, topic, reason

    def __init__(self) -> None:
        super().__init__()
        self._model = None  # AttentionModel, touched only on the worker thread
        self._run_checkpoints = None  # CheckpointCache of a training run's models, made on first use
        # The id of the newest trace or load the window has asked for. The GUI thread
        # writes it (an int: one atomic store), the running forward reads it at layer
        # boundaries; a forward for an older request then stops.
        self.newest_request = 0

    @Slot(object)
    def run(self, job: Job) -> None:
        if isinstance(job, TraceRequest):
            self._trace(job)
        elif isinstance(job, LoadRequest):
            self._load(job)
        elif isinstance(job, MoveRequest):
            self._move(job)
        elif isinstance(job, AnalysisRequest):
            self._analyse(job)

    def _analyse(self, request: AnalysisRequest) -> None:
        try:
            value = request.compute(self._model)
        except Exception as error:  # noqa: BLE001 - any failure becomes one line for the mode to show
            log.debug("analysis %s failed", request.topic, exc_info=True)
            self.analysis_failed.emit(request.request_id, request.topic, first_line(error))
            return
        self.analysis_finished.emit(request.request_id, request.topic, value)

    def _trace(self, request: TraceRequest) -> None:
        if self._model is None:
            self.trace_failed.emit(request.request_id, "no model is loaded")
            return
        notices: list[str] = []
        try:
            result = self._timed_trace(request)
        except TraceCancelled:
            self.trace_cancelled.emit(request.request_id)
            return
        except Exception as error:  # noqa: BLE001 - any failure becomes one line for the status bar
            if is_out_of_memory(error) and self._model.device.type != "cpu":
                try:
                    self._model.to("cpu")
                    _empty_cuda_cache()
                    notice = "The GPU ran out of memory; the model now runs on the CPU."
                    notices.append(notice)
                    self.device_moved.emit(-1, model_info(self._model), notice)
                    result = self._timed_trace(request)
                except Exception as retry_error:  # noqa: BLE001
                    self.trace_failed.emit(request.request_id, first_line(retry_error))
                    return
            else:
                log.debug("trace failed", exc_info=True)
                self.trace_failed.emit(request.request_id, first_line(error))
                return
        if notices:
            result = replace(result, notices=result.notices + tuple(notices))
        self.trace_finished.emit(result)

    def progress_for(self, request: TraceRequest, start: float):
        """The model's layer-boundary callback for ``request``: reports, and asks to stop
        once a newer request is waiting (see the module docstring)."""

        def progress(stack: str, layers_done: int, n_layers: int) -> bool:
            if self.newest_request > request.request_id:
                return True  # the model raises TraceCancelled at this boundary
            if time.perf_counter() - start >= PROGRESS_AFTER_S:
                self.trace_progressed.emit(request.request_id, stack, layers_done, n_layers)
            return False

        return progress

    def _timed_trace(self, request: TraceRequest) -> TraceResult:
        model = self._model
        start = time.perf_counter()
        trace = model.trace(
            request.text,
            target=request.target,
            pair=request.pair,
            overview_side=THUMBNAIL_SIDE,
            chat=request.chat,
            progress=self.progress_for(request, start),
            reuse=True,
        )
        done = time.perf_counter()
        prepared = prepare_thumbnails(trace, request.hide_special, request.pick_view)
        if request.colormap is not None:
            table = colour_table(lookup_table(request.colormap))
            prepared.update(prepare_mosaics(trace, prepared, request.hide_special, request.colormap, request.mean_column, table))
        tokenise_ms = trace.tokenise_ms
        forward_ms = max((done - start) * 1000 - tokenise_ms, 0.0)
        return TraceResult(
            request=request,
            trace=trace,
            tokenise_ms=tokenise_ms,
            forward_ms=forward_ms,
            device=str(model.device),
            notices=tuple(trace.notices),
            prepared=prepared,
        )

    def _load(self, request: LoadRequest) -> None:
        from model import load_checkpoint
        from model.precision import requested_dtype

        try:
            device = normalise_device(request.device)
            if request.from_run:
                model = self._run_checkpoint(request.location)
            else:
                self._run_checkpoints = None  # another model: the run's kept checkpoints are done with
                # Read on the CPU in the dtype meant for the device, then moved there.
                model = load_checkpoint(request.location, device="cpu", dtype=requested_dtype(request.dtype, device))
            notice = ""
            if device != "cpu":
                try:
                    model.to(device)
                except Exception as error:  # noqa: BLE001 - fall back, tell the user why
                    model.to("cpu")
                    notice = f"Could not use {device} ({first_line(error)}); the model runs on the CPU."
        except Exception as error:  # noqa: BLE001 - CheckpointError and anything else: one line
            log.debug("load failed", exc_info=True)
            self.load_failed.emit(request.request_id, first_line(error))
            return
        previous, self._model = self._model, model
        if previous is not None and previous is not model and self._is_kept_run_checkpoint(previous):
            # A run checkpoint kept for scrubbing back waits on the CPU, not in GPU memory.
            previous.to("cpu")
        info = model_info(model, request.from_run)
        self.model_loaded.emit(request.request_id, info)
        if notice:
            self.device_moved.emit(-1, info, notice)

    def _run_checkpoint(self, location: str):
        from model import load_checkpoint

        from .checkpoint_cache import CheckpointCache

        if self._run_checkpoints is None:
            self._run_checkpoints = CheckpointCache(lambda folder: load_checkpoint(folder, device="cpu"), RUN_CHECKPOINTS_KEPT)
        return self._run_checkpoints.get(location)

    def _is_kept_run_checkpoint(self, model) -> bool:
        return self._run_checkpoints is not None and any(model is kept for kept in self._run_checkpoints.values())

    def _move(self, request: MoveRequest) -> None:
        if self._model is None:
            self.device_moved.emit(request.request_id, None, "No model is loaded yet.")
            return
        device = normalise_device(request.device)
        notice = ""
        try:
            self._model.to(device)
        except Exception as error:  # noqa: BLE001 - an unusable device leaves the model on the CPU
            self._model.to("cpu")
            notice = f"Could not use {device} ({first_line(error)}); the model runs on the CPU."
        self.device_moved.emit(request.request_id, model_info(self._model), notice)


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class InferenceController(QObject):
    """GUI-thread side: queues jobs, starts one at a time, drops stale results.

    Signals carry only results the window should show: ``trace_ready`` fires only for
    the newest trace request, so a stale trace can never be painted over a newer one.
    """

    trace_ready = Signal(object)  # TraceResult of the newest request
    trace_failed = Signal(int, str)
    trace_progressed = Signal(str, int, int)  # stack, layers done, layers: the newest forward's
    trace_cancelled = Signal(int)  # request id of a forward a newer request stopped
    load_started = Signal(str)  # what is being opened
    model_loaded = Signal(object)  # ModelInfo
    load_failed = Signal(str, str)  # location, reason
    device_changed = Signal(object, str)  # ModelInfo, notice
    busy_changed = Signal(bool)
    analysis_ready = Signal(str, object)  # topic, value of the newest request of that topic
    analysis_failed = Signal(str, str)  # topic, reason

    _start_job = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = JobQueue()
        self.model: ModelInfo | None = None
        self._stopped = False
        self._thread = QThread()
        self._thread.setObjectName("inference-worker")
        self._worker = InferenceWorker()
        self._worker.moveToThread(self._thread)
        self._start_job.connect(self._worker.run)
        self._worker.trace_finished.connect(self._on_trace_finished)
        self._worker.trace_failed.connect(self._on_trace_failed)
        self._worker.trace_progressed.connect(self._on_trace_progressed)
        self._worker.trace_cancelled.connect(self._on_trace_cancelled)
        self._worker.model_loaded.connect(self._on_model_loaded)
        self._worker.load_failed.connect(self._on_load_failed)
        self._worker.device_moved.connect(self._on_device_moved)
        self._worker.analysis_finished.connect(self._on_analysis_finished)
        self._worker.analysis_failed.connect(self._on_analysis_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()

    # -- requests from the window ----------------------------------------------------------
    def request_trace(
        self,
        texts: InputTexts,
        hide_special: bool = False,
        pick_view: bool = False,
        colormap: str | None = None,
        mean_column: bool = True,
    ) -> int:
        """Queue a trace of ``texts``; the newest request wins. Returns its id."""
        request = self.queue.trace(
            texts.source, texts.target, texts.pair, hide_special, pick_view, texts.chat, colormap, mean_column
        )
        self._worker.newest_request = request.request_id  # a running forward stops at its next layer
        self._pump()
        return request.request_id

    def load(self, location: str | None, device: str = "cpu", from_run: bool = False, dtype: str = "auto") -> int:
        request = self.queue.load(location, device, from_run, dtype)
        self._worker.newest_request = request.request_id
        self.load_started.emit(location or "the bundled model")
        self._pump()
        return request.request_id

    def request_analysis(self, topic: str, compute) -> int:
        """Run ``compute(model)`` on the worker; the newest request of ``topic`` is answered
        by ``analysis_ready`` or ``analysis_failed``."""
        request = self.queue.analysis(topic, compute)
        self._pump()
        return request.request_id

    def move_to(self, device: str) -> int:
        request = self.queue.move(device)
        self._pump()
        return request.request_id

    @property
    def loading(self) -> bool:
        return self.queue.loading

    @property
    def thread(self) -> QThread:
        return self._thread

    def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop the worker thread; a running forward finishes first. True if it stopped in time."""
        if self._stopped:
            return not self._thread.isRunning()
        self._stopped = True
        self.queue.clear_pending()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.warning("the inference thread did not stop within %d ms", timeout_ms)
        return stopped

    # -- dispatch ------------------------------------------------------------------------
    def _pump(self) -> None:
        """Start the next waiting job if the worker is free; report busy changes."""
        if self._stopped:
            return
        was_busy = self.queue.busy
        job = self.queue.take_next()
        if job is not None:
            self._start_job.emit(job)
        if self.queue.busy != was_busy:
            self.busy_changed.emit(self.queue.busy)

    def _finish(self, request_id: int) -> None:
        """The worker answered ``request_id``: free the slot and start what waits."""
        self.queue.finished(request_id)
        if not self.queue.busy and not self._stopped:
            self.busy_changed.emit(False)
        self._pump()

    # -- answers from the worker ---------------------------------------------------------
    @Slot(object)
    def _on_trace_finished(self, result: TraceResult) -> None:
        # Judged by request id, never by thread state: only the newest request is painted.
        if self.queue.is_current(result.request_id) and not self._stopped:
            self.trace_ready.emit(result)
        self._finish(result.request_id)

    @Slot(int, str, int, int)
    def _on_trace_progressed(self, request_id: int, stack: str, layers_done: int, n_layers: int) -> None:
        if self.queue.is_current(request_id) and not self._stopped:
            self.trace_progressed.emit(stack, layers_done, n_layers)

    @Slot(int)
    def _on_trace_cancelled(self, request_id: int) -> None:
        # Never painted: the newer request that stopped it is already queued.
        if not self._stopped:
            self.trace_cancelled.emit(request_id)
        self._finish(request_id)

    @Slot(int, str)
    def _on_trace_failed(self, request_id: int, reason: str) -> None:
        if self.queue.is_current(request_id) and not self._stopped:
            self.trace_failed.emit(request_id, reason)
        self._finish(request_id)

    @Slot(int, object)
    def _on_model_loaded(self, request_id: int, info: ModelInfo) -> None:
        self.queue.finished(request_id)
        self.model = info
        if not self._stopped:
            # The window requests a trace with the new model from this signal; the
            # pending trace (for the old model) is replaced by it before _pump runs.
            self.model_loaded.emit(info)
        self._finish(request_id)

    @Slot(int, str)
    def _on_load_failed(self, request_id: int, reason: str) -> None:
        job = self.queue.in_flight
        location = job.location if isinstance(job, LoadRequest) and job.request_id == request_id else None
        if not self._stopped:
            self.load_failed.emit(location or "the bundled model", reason)
        self._finish(request_id)

    @Slot(int, str, object)
    def _on_analysis_finished(self, request_id: int, topic: str, value: object) -> None:
        if self.queue.is_current_analysis(topic, request_id) and not self._stopped:
            self.analysis_ready.emit(topic, value)
        self._finish(request_id)

    @Slot(int, str, str)
    def _on_analysis_failed(self, request_id: int, topic: str, reason: str) -> None:
        if self.queue.is_current_analysis(topic, request_id) and not self._stopped:
            self.analysis_failed.emit(topic, reason)
        self._finish(request_id)

    @Slot(int, object, str)
    def _on_device_moved(self, request_id: int, info: ModelInfo | None, notice: str) -> None:
        # request_id is -1 when the worker moved the model on its own (out of memory).
        if info is not None:
            self.model = info
            if not self._stopped:
                self.device_changed.emit(info, notice)
        if request_id >= 0:
            self._finish(request_id)
