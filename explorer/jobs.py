"""Request bookkeeping for the inference worker: ids, latest-wins coalescing, staleness.

A torch forward cannot be interrupted, so instead of cancelling we coalesce: while one
job runs on the worker, only the newest pending job of each sort is kept, and a result
is painted only if it answers the newest trace request. Staleness is judged by request
id, never by whether the thread is still running. Pure Python, tested without Qt.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Union

from model.trace import Trace


class InputTexts(NamedTuple):
    """What the input panel holds: the source, and a target or pair segment where they apply."""

    source: str
    target: str | None = None
    pair: str | None = None
    # Wrap the source as one user turn of the model's chat template.
    chat: bool = False


@dataclass(frozen=True)
class TraceRequest:
    """Text to run through the loaded model."""

    request_id: int
    text: str
    target: str | None = None
    pair: str | None = None
    chat: bool = False
    # The view hides special-token keys: the worker prepares those thumbnails too.
    hide_special: bool = False
    # A newly opened model: the worker also finds the sharpest head to start the view on.
    pick_view: bool = False
    # The overview's colour map and mean column: the worker colours its mosaic too, so
    # the GUI thread only blits it (None: no mosaic prepared).
    colormap: str | None = None
    mean_column: bool = True


@dataclass(frozen=True)
class LoadRequest:
    """A checkpoint to open (None: the bundled model) and the device to put it on.

    ``from_run`` marks a checkpoint of a training run opened by the timeline: the
    worker keeps the last few of those loaded, so scrubbing back is instant, and the
    window keeps the user's view instead of starting over.
    """

    request_id: int
    location: str | None
    device: str = "cpu"
    from_run: bool = False
    # The network's compute dtype, a ``--dtype`` choice (model.precision).
    dtype: str = "auto"


@dataclass(frozen=True)
class MoveRequest:
    """Move the loaded model to another device."""

    request_id: int
    device: str


@dataclass(frozen=True)
class AnalysisRequest:
    """Work an analysis mode runs on the worker thread, where the model lives.

    ``compute`` receives the loaded ``AttentionModel`` (None before one is loaded) and
    returns any value; it runs on the worker thread, so it must not touch widgets.
    Requests of the same ``topic`` coalesce: only the newest one runs and is answered.
    """

    request_id: int
    topic: str
    compute: Callable[[Any], Any] = field(compare=False)


Job = Union[TraceRequest, LoadRequest, MoveRequest, AnalysisRequest]


@dataclass(frozen=True)
class ModelInfo:
    """What the window needs to know about the loaded model; holds no torch objects."""

    name: str
    architecture: str
    description: str
    source: str
    device: str
    max_length: int
    kinds: tuple[str, ...]
    layers: dict[str, int]  # kind -> number of layers
    heads: dict[str, int]  # kind -> number of query heads (a decoder may have its own count)
    # The bundled task model (or a training run of it): the example text fits its tasks.
    bundled: bool = False
    # A checkpoint the training-run timeline opened: the window keeps the user's view.
    from_run: bool = False
    # The checkpoint carries a chat template ("format as chat" applies).
    chat_template: bool = False
    # A decoder with a language-model head: the next-token line applies.
    predicts: bool = False
    # The network's compute dtype ("float32", "bfloat16", "float16").
    dtype: str = "float32"


@dataclass(frozen=True)
class TraceResult:
    """A finished trace and what it took; ``request`` says which input it belongs to."""

    request: TraceRequest
    trace: Trace
    tokenise_ms: float
    forward_ms: float
    device: str
    notices: tuple[str, ...] = ()
    # Derived arrays computed on the worker (ExplorerState.set_trace's ``prepared``).
    prepared: dict = field(default_factory=dict, repr=False)

    @property
    def request_id(self) -> int:
        return self.request.request_id


@dataclass
class JobQueue:
    """At most one job in flight and one pending job per sort; newer replaces older.

    Loads go first (the user asked for another model), then device moves, then traces.
    """

    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    in_flight: Job | None = None
    pending_load: LoadRequest | None = None
    pending_move: MoveRequest | None = None
    pending_trace: TraceRequest | None = None
    latest_trace_id: int = 0
    pending_analyses: dict[str, AnalysisRequest] = field(default_factory=dict)
    latest_analysis_ids: dict[str, int] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self._ids)

    def trace(
        self,
        text: str,
        target: str | None = None,
        pair: str | None = None,
        hide_special: bool = False,
        pick_view: bool = False,
        chat: bool = False,
        colormap: str | None = None,
        mean_column: bool = True,
    ) -> TraceRequest:
        request = TraceRequest(
            self.next_id(),
            text,
            target or None,
            pair or None,
            chat=chat,
            hide_special=hide_special,
            pick_view=pick_view,
            colormap=colormap,
            mean_column=mean_column,
        )
        self.latest_trace_id = request.request_id
        self.pending_trace = request
        return request

    def load(self, location: str | None, device: str, from_run: bool = False, dtype: str = "auto") -> LoadRequest:
        self.pending_load = LoadRequest(self.next_id(), location, device, from_run, dtype)
        return self.pending_load

    def analysis(self, topic: str, compute: Callable[[Any], Any]) -> AnalysisRequest:
        request = AnalysisRequest(self.next_id(), topic, compute)
        self.latest_analysis_ids[topic] = request.request_id
        self.pending_analyses[topic] = request
        return request

    def move(self, device: str) -> MoveRequest:
        self.pending_move = MoveRequest(self.next_id(), device)
        return self.pending_move

    def take_next(self) -> Job | None:
        """The job to start now, or None when one is running or nothing waits.

        Analyses wait behind traces: typing must stay live while a mode computes.
        """
        if self.in_flight is not None:
            return None
        for name in ("pending_load", "pending_move", "pending_trace"):
            job = getattr(self, name)
            if job is not None:
                setattr(self, name, None)
                self.in_flight = job
                return job
        if self.pending_analyses:
            oldest_topic = min(self.pending_analyses, key=lambda topic: self.pending_analyses[topic].request_id)
            self.in_flight = self.pending_analyses.pop(oldest_topic)
            return self.in_flight
        return None

    def clear_pending(self) -> None:
        self.pending_load = self.pending_move = self.pending_trace = None
        self.pending_analyses.clear()

    def finished(self, request_id: int) -> None:
        """The worker answered ``request_id``; the slot is free again."""
        if self.in_flight is not None and self.in_flight.request_id == request_id:
            self.in_flight = None

    def is_current(self, request_id: int) -> bool:
        """Whether a trace result answers the newest trace request (else it is stale)."""
        return request_id == self.latest_trace_id

    def is_current_analysis(self, topic: str, request_id: int) -> bool:
        """Whether an analysis result answers the newest request of its topic."""
        return self.latest_analysis_ids.get(topic) == request_id

    @property
    def busy(self) -> bool:
        return self.in_flight is not None

    @property
    def loading(self) -> bool:
        return isinstance(self.in_flight, LoadRequest) or self.pending_load is not None

