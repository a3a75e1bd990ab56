"""Aggregation and rollout: one heatmap that summarises heads (one layer) or layers (rollout, flow).

The method chooser offers the mean and the maximum over the heads of the selected layer,
attention rollout through layers 0…L and the widest-path approximation of attention
flow through layers 0…L; the panel says in words which one it shows. Mean and maximum
are cheap and computed here from the window's state. Rollout and flow of a whole trace
are computed on the worker once per trace, kind and method, one layer per request (a
``LayerChain`` carrying the running product), so a keystroke's trace runs between two
layers; a layer is shown as soon as it is ready, and moving across computed layers
only picks another slice. Flow, whose cost grows with the cube of the length, is
refused above ``FLOW_TOKEN_LIMIT`` tokens with a sentence saying why. Both need
self-attention; for cross-attention the panel shows the encoder's and says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from model.trace import KIND_TITLES

from ..analysis.aggregation import (
    AGGREGATIONS,
    LAYER_STEPS,
    METHODS,
    aggregate,
    aggregated_kind,
    cross_rollout_note,
    aggregate_refusal,
    hide_in_aggregate,
)
from ..analysis.layer_chain import LayerChain
from ..panels.token_heatmap import TokenHeatmap
from ..panels.heatmap import MUTED, plain_label, token_label
from .base import AnalysisMode
from .host import ModeHost

LEVELS = (0.0, 1.0)  # every method's values lie in [0, 1]


class AggregationMode(AnalysisMode):
    """The aggregation dock: a method chooser, what is shown in words, one heatmap."""

    name = "aggregation"
    title = "Aggregation and rollout"
    tab_with = "head"

    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(host, parent)
        # Rollout and flow of every layer, per (kind, method), for the trace in ``_stacks_trace``.
        self._stacks: dict[tuple[str, str], np.ndarray] = {}
        self._stacks_trace: object | None = None
        # The rollout or flow being computed layer by layer; its key is (trace, kind, method).
        self.chain: LayerChain | None = None
        # What the heatmap shows now: kind, layer, the matrix and its token axes.
        self.shown_kind: str | None = None
        self.shown_layer = 0
        self.matrix: np.ndarray | None = None
        self._query_tokens: list[str] = []
        self._key_tokens: list[str] = []

    def build(self) -> QWidget:
        widget = QWidget()
        self.method = QComboBox()
        for method in METHODS:
            self.method.addItem(AGGREGATIONS[method].label, method)
        self.method.setCurrentIndex(METHODS.index("rollout"))
        self.method.setToolTip("How the heads (and, for rollout and flow, the layers) are combined")
        self.method.currentIndexChanged.connect(self._on_method_changed)
        self.shown = plain_label()
        self.shown.setStyleSheet("font-weight:600;")
        self.shown.setWordWrap(True)
        self.detail = plain_label()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet(f"color:{MUTED};")
        self.heatmap = TokenHeatmap()
        self.heatmap.row_clicked.connect(self._on_row_clicked)
        self.heatmap.cell_hovered.connect(self._on_cell_hovered)
        self.readout = plain_label("Hover a cell to read it.")
        self.readout.setStyleSheet("font-family: monospace;")  # the palette's text colour: light or dark
        header = QHBoxLayout()
        header.addWidget(QLabel("Method "))
        header.addWidget(self.method, 1)
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(header)
        layout.addWidget(self.shown)
        layout.addWidget(self.detail)
        layout.addWidget(self.heatmap, 1)
        layout.addWidget(self.readout)
        # Takes the heatmap's room while it is hidden, so the words stay together at the top.
        layout.addStretch(0)
        for label in (self.shown, self.detail, self.readout):
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        widget.customContextMenuRequested.connect(self._on_context_menu)
        return widget

    # -- what is shown --------------------------------------------------------------------------
    @property
    def selected_method(self) -> str:
        return self.method.currentData()

    def set_method(self, method: str) -> None:
        """Pick ``method`` (one of ``METHODS``) as the user would."""
        self.method.setCurrentIndex(METHODS.index(method))

    def show_state(self) -> None:
        state = self.host.state
        trace = state.trace
        if trace is None:
            return
        if trace is not self._stacks_trace:
            self._stacks, self._stacks_trace = {}, trace
        method = self.selected_method
        aggregation = AGGREGATIONS[method]
        kind = aggregated_kind(state.selection.kind, method)
        n_layers = trace.attention[kind].n_layers
        layer = min(state.selection.layer, n_layers - 1)
        keep = state.kept_keys(kind)
        notes = [aggregation.detail]
        if kind != state.selection.kind:
            notes.insert(0, cross_rollout_note(method))
        if keep is not None:
            notes.append(aggregation.hidden_note)
        heading = f"{_kind_title(kind)} · {aggregation.title(layer)}"
        self.detail.setText("\n".join(notes))
        refusal = aggregate_refusal(method, *trace.attention[kind].weights.shape[-2:])
        if refusal is not None:
            # A chain still running for the method before is no longer wanted.
            self.chain = None
            self.settle("layer")
            self._show_nothing(f"{heading} · not computed", [refusal, *notes])
            return
        if aggregation.across_layers:
            computed = self._layer_map(trace, kind, method, layer)
            if computed is None:
                done = len(self.chain.results) if self.chain is not None else 0
                self.shown.setText(f"{heading} · computing… (layer {done} of {n_layers} done)")
                return
            matrix = hide_in_aggregate(computed, method, keep)
        else:
            matrix = aggregate(trace.attention[kind].weights, method, layer, keep)
        self.shown.setText(heading)
        query_axis, key_axis = state.axes(kind)
        self.shown_kind, self.shown_layer, self.matrix = kind, layer, matrix
        self._query_tokens, self._key_tokens = list(query_axis.tokens), list(key_axis.tokens)
        selection = state.selection
        self.heatmap.show()
        self.readout.show()
        self.heatmap.show_matrix(
            matrix,
            query_axis.tokens,
            key_axis.tokens,
            LEVELS,
            selection.colormap,
            selection.query if kind == selection.kind else None,
            query_axis.special,
            key_axis.special,
        )

    def _show_nothing(self, heading: str, notes: list[str]) -> None:
        """Say why no map is drawn and hide the heatmap (an old map would pass for this one)."""
        self.shown.setText(heading)
        self.detail.setText("\n".join(notes))
        self.shown_kind, self.matrix = None, None
        self.heatmap.hide()
        self.readout.hide()

    def _layer_map(self, trace: Any, kind: str, method: str, layer: int) -> np.ndarray | None:
        """The rollout or flow through ``layer``, or None while it is computed (a chain is then running)."""
        stack = self._stacks.get((kind, method))
        if stack is not None:
            return stack[layer]
        key = (trace, kind, method)
        # Traces compare by identity: == on the dataclass would compare their arrays.
        if self.chain is None or self.chain.key[0] is not trace or self.chain.key[1:] != key[1:]:
            weights = trace.attention[kind].weights
            step = LAYER_STEPS[method]
            steps = [lambda previous, index=index: step(weights[index], previous) for index in range(len(weights))]
            self.chain = LayerChain(key, steps)
            self._request_next()
        return self.chain.results[layer] if layer < len(self.chain.results) else None

    def _request_next(self) -> None:
        compute = self.chain.next_compute() if self.chain is not None else None
        if compute is not None:
            self.request("layer", compute)

    def on_result(self, topic: str, value: Any) -> None:
        chain = self.chain
        if chain is None or not chain.take(value):
            return  # a chain dropped for a newer trace or another method
        trace, kind, method = chain.key
        if trace is not self.host.state.trace:
            # A newer trace has arrived: stop here; painting it starts its own chain.
            self.chain = None
            return
        if chain.done:
            if trace is not self._stacks_trace:
                self._stacks, self._stacks_trace = {}, trace
            self._stacks[(kind, method)] = np.stack(chain.results)  # (L, T, T)
            self.chain = None
        else:
            self._request_next()
        if self.showing():
            self.paint()

    def on_failure(self, topic: str, reason: str) -> None:
        super().on_failure(topic, reason)
        self.chain = None
        self.shown.setText(f"Could not compute {self.method.currentText().lower()}: {reason}")

    # -- export -------------------------------------------------------------------------------------
    def figure_request(self, export: Any) -> Any:
        """The ``FigureRequest`` of what the panel shows (``export`` is ``explorer.export``)."""
        state = self.host.state
        method = self.selected_method
        kind = aggregated_kind(state.selection.kind, method)
        return export.FigureRequest(
            trace=state.trace,
            figure="aggregate",
            kind=kind,
            layer=min(state.selection.layer, state.trace.attention[kind].n_layers - 1),
            head=None,
            colormap=state.selection.colormap,
            aggregate=method,
            hide_special=state.selection.hide_special,
        )

    # -- user actions -------------------------------------------------------------------------------
    def _on_method_changed(self, _index: int) -> None:
        if self.host.state.trace is not None and self.showing():
            self.paint()

    def _on_row_clicked(self, row: int) -> None:
        if self.shown_kind is not None:
            self.host.select(kind=self.shown_kind, query=row)

    def _on_cell_hovered(self, row: int, column: int) -> None:
        if row < 0 or self.matrix is None:
            return
        self.readout.setText(
            f"query {row} {token_label(self._query_tokens[row])!r}  →  key {column} "
            f"{token_label(self._key_tokens[column])!r}   value = {float(self.matrix[row, column]):.4f}"
        )

    def _on_context_menu(self, point: QPoint) -> None:
        self.host.panel_menu(self.name, self.widget).popup(self.widget.mapToGlobal(point))


def _kind_title(kind: str) -> str:
    title = KIND_TITLES.get(kind, kind)
    return title[0].upper() + title[1:]
