"""Aggregation and rollout: one heatmap that summarises heads (one layer) or layers (rollout, flow).

The method chooser offers the mean and the maximum over the heads of the selected layer,
attention rollout through layers 0…L and the widest-path approximation of attention
flow through layers 0…L; the panel says in words which one it shows. Mean and maximum
are cheap and computed here from the window's state. Rollout and flow of a whole trace
(flow costs L·T³) are computed on the worker once per trace, kind and method — every
layer at once, so moving across layers only picks another slice. Both need
self-attention; for cross-attention the panel shows the encoder's and says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from model.trace import KIND_TITLES

from ..analysis.aggregation import (
    ACROSS_LAYERS,
    METHOD_DETAILS,
    METHODS,
    aggregate,
    aggregated_kind,
    across_layers,
    cross_rollout_note,
    hide_in_aggregate,
    method_title,
)
from ..panels.head_detail import TokenHeatmap
from ..panels.heatmap import MUTED, plain_label, token_label
from .base import AnalysisMode

METHOD_LABELS = {
    "mean": "Mean over heads (layer L)",
    "max": "Max over heads (layer L)",
    "rollout": "Attention rollout (layers 0–L)",
    "flow": "Attention flow, widest-path approximation (layers 0–L)",
}
LEVELS = (0.0, 1.0)  # every method's values lie in [0, 1]
HIDDEN_NOTE = {
    "mean": "special-token key columns hidden; each head's rows renormalised before the mean",
    "max": "special-token key columns hidden; each head's rows renormalised before the maximum",
    "rollout": "special-token key columns hidden; rows renormalised over the remaining tokens",
    "flow": "special-token key columns hidden; not renormalised (flow values are path capacities, not shares)",
}


class AggregationMode(AnalysisMode):
    """The aggregation dock: a method chooser, what is shown in words, one heatmap."""

    name = "aggregation"
    title = "Aggregation and rollout"
    tab_with = "head"

    def build(self) -> QWidget:
        widget = QWidget()
        self.method = QComboBox()
        for method in METHODS:
            self.method.addItem(METHOD_LABELS[method], method)
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
        self.readout.setStyleSheet("color:#444; font-family: monospace;")
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
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        widget.customContextMenuRequested.connect(self._on_context_menu)
        # Rollout and flow of every layer, per (kind, method), for the trace in ``_stacks_trace``.
        self._stacks: dict[tuple[str, str], np.ndarray] = {}
        self._stacks_trace: object | None = None
        self._pending: tuple[object, str, str] | None = None  # (trace, kind, method) asked of the worker
        # What the heatmap shows now: kind, layer, the matrix and its token axes.
        self.shown_kind: str | None = None
        self.shown_layer = 0
        self.matrix: np.ndarray | None = None
        self._query_tokens: list[str] = []
        self._key_tokens: list[str] = []
        return widget

    # -- what is shown --------------------------------------------------------------------------
    @property
    def selected_method(self) -> str:
        return self.method.currentData()

    def set_method(self, method: str) -> None:
        """Pick ``method`` (one of ``METHODS``) as the user would."""
        self.method.setCurrentIndex(METHODS.index(method))

    def paint(self) -> None:
        state = self.window.state
        trace = state.trace
        if trace is None:
            return
        if trace is not self._stacks_trace:
            self._stacks, self._stacks_trace = {}, trace
        method = self.selected_method
        kind = aggregated_kind(state.selection.kind, method)
        n_layers = trace.attention[kind].n_layers
        layer = min(state.selection.layer, n_layers - 1)
        keep = state.kept_keys(kind)
        notes = [METHOD_DETAILS[method]]
        if kind != state.selection.kind:
            notes.insert(0, cross_rollout_note(method))
        if keep is not None:
            notes.append(HIDDEN_NOTE[method])
        if method in ACROSS_LAYERS:
            stack = self._stacks.get((kind, method))
            if stack is None:
                self._request_stack(trace, kind, method)
                self.shown.setText(f"{_kind_title(kind)} · {method_title(method, layer)} · computing…")
                self.detail.setText("\n".join(notes))
                return
            matrix = hide_in_aggregate(stack[layer], method, keep)
        else:
            matrix = aggregate(trace.attention[kind].weights, method, layer, keep)
        self.shown.setText(f"{_kind_title(kind)} · {method_title(method, layer)}")
        self.detail.setText("\n".join(notes))
        query_axis, key_axis = state.axes(kind)
        self.shown_kind, self.shown_layer, self.matrix = kind, layer, matrix
        self._query_tokens, self._key_tokens = list(query_axis.tokens), list(key_axis.tokens)
        selection = state.selection
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

    def _request_stack(self, trace: Any, kind: str, method: str) -> None:
        if self._pending is not None and self._pending[0] is trace and self._pending[1:] == (kind, method):
            return  # already asked; a selection change must not queue the same work again
        self._pending = (trace, kind, method)
        weights = trace.attention[kind].weights

        def compute(_model: Any) -> tuple[Any, str, str, np.ndarray]:
            # Only the trace's arrays are read here: the model itself is not needed.
            return trace, kind, method, across_layers(weights, method)

        self.request("stack", compute)

    def on_result(self, topic: str, value: Any) -> None:
        trace, kind, method, stack = value
        self._pending = None
        if trace is not self.window.state.trace:
            return  # a newer trace has arrived; its own request follows
        if trace is not self._stacks_trace:
            self._stacks, self._stacks_trace = {}, trace
        self._stacks[(kind, method)] = stack
        if self.showing():
            self.paint()

    def on_failure(self, topic: str, reason: str) -> None:
        super().on_failure(topic, reason)
        self._pending = None
        self.shown.setText(f"Could not compute {self.method.currentText().lower()}: {reason}")

    # -- export -------------------------------------------------------------------------------------
    def figure_request(self, export: Any) -> Any:
        """The ``FigureRequest`` of what the panel shows (``export`` is ``explorer.export``)."""
        state = self.window.state
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
        if self.window.state.trace is not None and self.showing():
            self.paint()

    def _on_row_clicked(self, row: int) -> None:
        if self.shown_kind is not None:
            self.window.select(kind=self.shown_kind, query=row)

    def _on_cell_hovered(self, row: int, column: int) -> None:
        if row < 0 or self.matrix is None:
            return
        self.readout.setText(
            f"query {row} {token_label(self._query_tokens[row])!r}  →  key {column} "
            f"{token_label(self._key_tokens[column])!r}   value = {float(self.matrix[row, column]):.4f}"
        )

    def _on_context_menu(self, point: QPoint) -> None:
        self.window.exports.panel_menu(self.name, self.widget).popup(self.widget.mapToGlobal(point))


def _kind_title(kind: str) -> str:
    title = KIND_TITLES.get(kind, kind)
    return title[0].upper() + title[1:]
