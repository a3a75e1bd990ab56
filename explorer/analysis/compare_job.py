"""What the compare mode runs on the worker thread: trace B, and its comparison with trace A.

Trace A is the one the window shows. B is either a second input on the same model or
the same input on a second checkpoint of the same architecture (or both). The job
traces B with the worker's model (or with checkpoint B, loaded once and kept by a
``SecondCheckpoint`` that only the worker thread touches) and compares every
attention kind with ``compare_every_kind``.

Plain Python, no Qt and no torch import: the model is duck-typed (``AttentionModel``)
and checkpoints are opened through ``model.load_checkpoint``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from model.trace import KIND_AXES, KIND_TITLES, TokenAxis, Trace

from ..core.head_matrix import HeadMatrix
from ..core.special import filtered_axis, hidden_keys, kept_keys
from .compare import (
    RANKINGS,
    Comparison,
    ComparisonError,
    RankedHead,
    compare_every_kind,
    difference_levels,
    shared_levels,
)

LABEL_CHARACTERS = 48  # a label longer than this is shortened with an ellipsis
UNFORCEABLE = (
    "A's generated decoder tokens cannot be written as a target for checkpoint B, so B generated "
    "its own, which differ; type a target to compare the decoder side"
)


@dataclass(frozen=True)
class CompareInputs:
    """What A was and what B is.

    Attributes:
        text, target, pair: trace A's input, as the window requested it.
        text_b: the second input; empty means B reads A's text.
        checkpoint_b: a second checkpoint (folder or cached repo id); None means B runs
            on the window's model.
    """

    text: str
    target: str | None = None
    pair: str | None = None
    text_b: str = ""
    checkpoint_b: str | None = None

    @property
    def same_input(self) -> bool:
        return not self.text_b or self.text_b == self.text

    @property
    def text_of_b(self) -> str:
        return self.text if self.same_input else self.text_b


@dataclass(frozen=True)
class CompareResult:
    """Trace B and the comparison ``B − A`` of every attention kind of trace A."""

    trace_a: Trace
    trace_b: Trace
    label_a: str
    label_b: str
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)  # kind -> why it cannot be compared


def _shape(config: Any) -> tuple[str, int, int, int]:
    """(architecture, encoder layers, decoder layers, heads) of a ``ModelConfig``."""
    return (
        config.architecture,
        config.n_encoder_layers if config.has_encoder else 0,
        config.n_decoder_layers if config.has_decoder else 0,
        config.n_heads,
    )


def describe_shape(config: Any) -> str:
    architecture, encoder_layers, decoder_layers, heads = _shape(config)
    layers = " + ".join(
        f"{count} {side}" for side, count in (("encoder", encoder_layers), ("decoder", decoder_layers)) if count
    )
    return f"{architecture}, {layers} layers × {heads} heads"


def architecture_mismatch(config_a: Any, config_b: Any) -> str:
    """One sentence on why two models cannot be compared ('' when their shapes match)."""
    if _shape(config_a) == _shape(config_b):
        return ""
    return (
        f"checkpoint B is {describe_shape(config_b)} but the open model is {describe_shape(config_a)}; "
        "only checkpoints of the same architecture can be compared"
    )


def _default_loader(location: str, device: Any) -> Any:
    from model import load_checkpoint

    return load_checkpoint(location, device=device)


class SecondCheckpoint:
    """Checkpoint B, loaded on first use and kept until another one is asked for.

    Only the worker thread may call ``model_for``: the network lives there, like the
    window's model.
    """

    def __init__(self, loader: Callable[[str, Any], Any] = _default_loader) -> None:
        self._loader = loader
        self.location: str | None = None
        self.model: Any = None  # AttentionModel
        self.loads = 0  # how many times a checkpoint was read; a test reads it

    def model_for(self, location: str, like: Any) -> Any:
        """The model of ``location``, on ``like``'s device; refuses another architecture."""
        if location != self.location or self.model is None:
            # Drop the previous checkpoint before reading the next: two at once may not fit.
            self.location, self.model = None, None
            self.loads += 1
            self.model = self._loader(location, like.device)
            self.location = location
        reason = architecture_mismatch(like.config, self.model.config)
        if reason:
            # A model that cannot be compared is of no further use: free its memory now.
            self.release()
            raise ComparisonError(reason)
        if self.model.device != like.device:
            self.model.to(like.device)
        return self.model

    def release(self) -> None:
        self.location, self.model = None, None


def shorten(text: str, limit: int = LABEL_CHARACTERS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def labels(inputs: CompareInputs, name_a: str, name_b: str) -> tuple[str, str]:
    """How the panel and the figure name A and B: the inputs, the checkpoints, or both."""
    if inputs.checkpoint_b and name_a == name_b:
        name_b = f"{name_b} ({Path(inputs.checkpoint_b).name})"
    if inputs.checkpoint_b is None:
        return f"“{shorten(inputs.text)}”", f"“{shorten(inputs.text_of_b)}”"
    if inputs.same_input:
        return name_a, name_b
    return f"{name_a} · “{shorten(inputs.text)}”", f"{name_b} · “{shorten(inputs.text_of_b)}”"


def teacher_forcing_target(model: Any, decoder_ids: list[int]) -> str | None:
    """A target text that ``model`` turns into exactly ``decoder_ids`` (start token first), or None.

    The trace API takes a target as text, so A's generated ids are decoded and checked
    by encoding them again: without special tokens first (what a user would type), then
    with them (an untrained model may generate start tokens mid-sequence).
    """
    for skip_special in (True, False):
        text = model.tokenizer.decode(decoder_ids[1:], skip_special_tokens=skip_special)
        if text and model.decoder_ids(text)[0] == decoder_ids:
            return text
    return None


def run_comparison(model: Any, trace_a: Trace, inputs: CompareInputs, second: SecondCheckpoint) -> CompareResult:
    """Trace B and compare it with ``trace_a``; runs on the worker thread.

    One input on two checkpoints must give both the same tokens, so when A's decoder
    side was generated greedily, B is teacher-forced on A's generated tokens: B's own
    greedy output could differ and leave nothing to subtract.

    Raises:
        ComparisonError: no model is loaded, or checkpoint B has another architecture.
        CheckpointError: checkpoint B cannot be opened.
    """
    if model is None:
        raise ComparisonError("no model is loaded")
    model_b = second.model_for(inputs.checkpoint_b, model) if inputs.checkpoint_b else model
    target = inputs.target
    forcing_failed = False
    if not target and trace_a.generated and inputs.checkpoint_b and inputs.same_input and trace_a.decoder is not None:
        target = teacher_forcing_target(model_b, [int(i) for i in trace_a.decoder.ids])
        forcing_failed = target is None
    trace_b = model_b.trace(inputs.text_of_b, target=target, pair=inputs.pair)
    # Two inputs may differ token by token (a minimal pair); one input on two
    # checkpoints must not.
    comparisons, refusals = compare_every_kind(trace_a, trace_b, same_tokens=inputs.same_input)
    if forcing_failed:
        for kind in refusals.keys() & {"decoder_self", "cross"}:
            refusals[kind] = UNFORCEABLE
    label_a, label_b = labels(inputs, model.name, model_b.name)
    return CompareResult(trace_a, trace_b, label_a, label_b, comparisons, refusals)


@dataclass(frozen=True)
class CompareFrame:
    """What the compare panel (and the diff figure) draws for one kind, layer and head."""

    kind: str
    layer: int
    head: int | None  # None: the mean over heads
    label_a: str
    label_b: str
    a: np.ndarray  # (Q, K) weights of A
    b: np.ndarray  # (Q, K) weights of B
    difference: np.ndarray  # (Q, K) b − a
    levels: tuple[float, float]  # shared by a and b
    difference_levels: tuple[float, float]  # symmetric about 0
    axes_a: tuple[TokenAxis, TokenAxis]  # (query, key) of A
    axes_b: tuple[TokenAxis, TokenAxis]
    ranking: list[RankedHead]
    changed_queries: np.ndarray  # positions on the full query axis whose token differs
    changed_keys: np.ndarray  # positions on the full key axis whose token differs
    changes: str = ""  # the differing tokens in words, '' when the tokens are the same

    @property
    def title(self) -> str:
        head = "mean over heads" if self.head is None else f"head {self.head}"
        return f"{KIND_TITLES.get(self.kind, self.kind)} · layer {self.layer} · {head} · probabilities"


def shared_kept_keys(axis_a: TokenAxis, axis_b: TokenAxis) -> np.ndarray | None:
    """The key columns both filtered maps keep (``kept_keys``'s policy; None: all of them).

    A key hidden on either side is hidden on both, so the two maps keep the same
    columns and can be subtracted; when every key would be hidden, the maps are shown
    unfiltered, as every other view does.
    """
    hidden = hidden_keys(axis_a) | hidden_keys(axis_b)
    return kept_keys(replace(axis_a, special=hidden, padding=np.zeros_like(hidden)))


def head_pair(
    trace_a: Trace, trace_b: Trace, kind: str, layer: int, head: int | None, hide_special: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[TokenAxis, TokenAxis], tuple[TokenAxis, TokenAxis]]:
    """``(a, b, axes_a, axes_b)``: the ``(Q, K)`` weights of one head (None: the mean over heads)
    of two traces whose ``kind`` has the same shape, with their (query, key) axes.

    With ``hide_special`` the key columns that are special or padding on either side are
    dropped and each head's rows renormalised over the keys that remain before any mean
    over heads, as every heatmap does with the special-token filter on (see
    ``shared_kept_keys``).
    """
    axes_a, axes_b = trace_a.axes(kind), trace_b.axes(kind)
    keep = shared_kept_keys(axes_a[1], axes_b[1]) if hide_special else None
    # Read through HeadMatrix: a head too large to draw whole is refused with a sentence.
    a = HeadMatrix(trace_a.attention[kind], layer, head, keep).matrix()  # (Q, kept)
    b = HeadMatrix(trace_b.attention[kind], layer, head, keep).matrix()
    axes_a = (axes_a[0], filtered_axis(axes_a[1], keep))
    axes_b = (axes_b[0], filtered_axis(axes_b[1], keep))
    return a, b, axes_a, axes_b


def describe_changes(trace_a: Trace, trace_b: Trace, kind: str, limit: int = 4) -> str:
    """The tokens of ``kind``'s axes that differ between A and B: "encoder 2 'wednesday' → 'thursday'"."""
    parts = []
    for side in dict.fromkeys(KIND_AXES[kind]):  # the side names, once each
        axis_a, axis_b = (trace_a.encoder, trace_b.encoder) if side == "encoder" else (trace_a.decoder, trace_b.decoder)
        shared = min(len(axis_a), len(axis_b))
        differing = np.flatnonzero(np.asarray(axis_a.ids[:shared]) != np.asarray(axis_b.ids[:shared]))
        parts += [f"{side} {i} {axis_a.tokens[i]!r} → {axis_b.tokens[i]!r}" for i in differing]
    if not parts:
        return ""
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return "B differs at " + ", ".join(parts[:limit]) + more


def frame_of(
    result: CompareResult,
    kind: str,
    layer: int,
    head: int | None,
    ranking: str = RANKINGS[0],
    hide_special: bool = False,
) -> CompareFrame:
    """The frame of ``kind``, ``layer``, ``head`` (clamped to the traces).

    The ranking always covers the full rows; ``hide_special`` only changes the maps.

    Raises:
        ComparisonError: the kind cannot be compared; the message says why.
    """
    if kind not in result.trace_a.attention:
        kind = result.trace_a.kinds[0]
    if kind in result.refusals:
        raise ComparisonError(result.refusals[kind])
    comparison = result.comparisons[kind]
    n_layers, n_heads = comparison.mean_abs_difference.shape
    layer = min(max(layer, 0), n_layers - 1)
    head = None if head is None else min(max(head, 0), n_heads - 1)
    a, b, axes_a, axes_b = head_pair(result.trace_a, result.trace_b, kind, layer, head, hide_special)
    difference = b - a  # (Q, K): only the head drawn is ever subtracted
    return CompareFrame(
        kind=kind,
        layer=layer,
        head=head,
        label_a=result.label_a,
        label_b=result.label_b,
        a=a,
        b=b,
        difference=difference,
        levels=shared_levels(a, b),
        difference_levels=difference_levels(difference),
        axes_a=axes_a,
        axes_b=axes_b,
        ranking=comparison.ranked(ranking),
        changed_queries=comparison.changed_queries,
        changed_keys=comparison.changed_keys,
        changes=describe_changes(result.trace_a, result.trace_b, kind),
    )
