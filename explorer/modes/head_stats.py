"""Head statistics: a sortable table of every head, presets that find heads by pattern.

The numbers (``analysis.head_stats``) are computed on the worker, once per trace, for
every attention kind, one layer of one kind (or a few of its heads, on long inputs) per
request (a ``LayerChain``), so a keystroke's trace runs between two steps; the table
keeps the previous trace's numbers, with a muted note saying it is updating, until the
new ones are complete. Choosing a kind, a preset or a head only filters and highlights
rows. Columns sort by their numbers (cells that do not apply, such as cross-attention's
positional statistics, sort last). Clicking a row selects that head in the window, and
the selected head's row stays highlighted.

Two other sources fill the same table, each on the worker: **Induction probe** (a random
token sequence of the model's vocabulary repeated twice, ``model.induction``, where the
induction column is the usual induction score) and Analysis ▸ **Statistics over a text
file…** (one input per line, traced in padded batches, one batch per worker request so
the progress shows and Cancel stops between batches; the cells then read mean ± standard
deviation over the inputs). The next input typed brings the table back to it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..analysis.head_stats import (
    PRESETS,
    HeadStats,
    preset_note,
    step_statistics,
    table_from_steps,
    table_steps,
)
from ..analysis.corpus_stats import CorpusAccumulator, input_table, read_corpus, trace_tokens
from ..analysis.layer_chain import LayerChain
from ..panels.heatmap import MUTED, plain_label
from .base import AnalysisMode
from .host import ModeHost
from .head_table import (  # noqa: F401 - COLUMNS, SORT_ROLE and the models are this dock's API too
    ALL_HEADS,
    ALL_KINDS,
    COLUMN_TIPS,
    COLUMN_TITLES,
    COLUMNS,
    SELECTED_KIND,
    SORT_ROLE,
    HeadFilterProxy,
    HeadKey,
    HeadTableModel,
)

CORPUS_BATCH = 8  # inputs per worker request: the progress moves, and Cancel waits at most one batch


def probe_table(model) -> tuple[dict[str, HeadStats], str]:
    """Worker side: the induction probe's statistics of every kind, and its notice."""
    from model.induction import trace_probe

    trace = trace_probe(model)
    return input_table(trace), trace.notices[0]


def corpus_batch(model, lines: list[str]) -> list[tuple[dict[str, HeadStats], int]]:
    """Worker side: each line's statistics and token count, from one padded forward."""
    from model.batch import trace_batch

    return [(input_table(trace), trace_tokens(trace)) for trace in trace_batch(model, lines)]


class HeadStatsMode(AnalysisMode):
    """The head statistics dock: kind and preset choosers, the preset's note, the table."""

    name = "stats"
    title = "Head statistics"
    tab_with = "grid"

    def __init__(self, host: ModeHost, parent: QObject | None = None) -> None:
        super().__init__(host, parent)
        self.stats: dict[str, HeadStats] = {}
        self.table_trace: object | None = None  # the trace the table's numbers are of
        self.chain: LayerChain | None = None  # the numbers being computed; its key is their trace
        # A corpus being read: (file name, lines, accumulator, inputs requested so far).
        self.corpus: tuple[str, list[str], CorpusAccumulator, int] | None = None
        self.pending: tuple[str, str | None] | None = None  # a source named on the command line

    def build(self) -> QWidget:
        widget = QWidget()
        self.kinds = QComboBox()
        self.kinds.addItem("the selected kind", SELECTED_KIND)
        self.kinds.addItem("every kind", ALL_KINDS)
        self.kinds.setToolTip("Show the heads of the attention kind selected in the toolbar, or of every kind")
        self.preset = QComboBox()
        self.preset.addItem(ALL_HEADS, None)
        for key, preset in PRESETS.items():
            self.preset.addItem(preset.name, key)
        self.preset.setToolTip("Keep only the heads that show a pattern")
        self.probe_button = QPushButton("Induction probe")
        self.probe_button.setToolTip(
            "Score every head on a random token sequence of the model's vocabulary repeated twice: the induction "
            "column is then the weight from each token of the second copy on the token after its first occurrence"
        )
        self.probe_button.clicked.connect(self._on_probe_clicked)
        # What the table shows when it is not the typed input: the probe or a corpus.
        self.source_note = plain_label("")
        self.source_note.setWordWrap(True)
        self.source_note.setStyleSheet("font-weight:600;")
        self.source_note.hide()
        self.corpus_progress = plain_label("")
        self.corpus_progress.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the batch of inputs now on the worker")
        self.cancel_button.clicked.connect(self.cancel_corpus)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.corpus_progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_widget = QWidget()
        self.progress_widget.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_widget.hide()
        self.note = plain_label("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color:{MUTED};")
        # Says the table is of an older input while the new numbers are computed.
        self.updating = plain_label("")
        self.updating.setWordWrap(True)
        self.updating.setStyleSheet(f"color:{MUTED}; font-style:italic;")
        self.updating.hide()
        self.table_model = HeadTableModel(widget)
        self.proxy = HeadFilterProxy(widget)
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # trace order until a header is clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        header = self.table.horizontalHeader()
        # Fixed narrow columns (the numbers are at most "12.345"); the user can widen any.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(36)
        self._narrow_columns()
        header.setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        self.table.clicked.connect(self._on_row_clicked)
        self.table.activated.connect(self._on_row_clicked)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Heads of "))
        controls.addWidget(self.kinds)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Preset "))
        controls.addWidget(self.preset)
        controls.addStretch(1)
        # The other sources on a line of their own, so the dock is no wider than before.
        sources = QHBoxLayout()
        sources.addWidget(self.probe_button)
        sources.addWidget(self.progress_widget, 1)
        sources.addStretch(0)
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(controls)
        layout.addLayout(sources)
        layout.addWidget(self.source_note)
        layout.addWidget(self.updating)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        self.kinds.currentIndexChanged.connect(lambda _index: self._apply_filter())
        self.preset.currentIndexChanged.connect(lambda _index: self._apply_filter())
        return widget

    def apply_args(self, args) -> bool:
        """``--induction-probe`` or ``--corpus FILE``: fill the table from it once a model is open."""
        if getattr(args, "induction_probe", False):
            self.pending = ("probe", None)
        elif getattr(args, "corpus", None):
            self.pending = ("corpus", args.corpus)
        return False

    def _start_pending(self) -> None:
        if self.pending is None or self.host.model is None or self.host.state.trace is None:
            return
        source, path = self.pending
        self.pending = None
        if source == "probe":
            self.request("probe", probe_table)
        else:
            self.start_corpus(path)

    def _narrow_columns(self) -> None:
        header = self.table.horizontalHeader()
        metrics = header.fontMetrics()
        for column, name in enumerate(COLUMNS):
            fits = metrics.horizontalAdvance(COLUMN_TITLES[name]) + 16
            header.resizeSection(column, 92 if name == "kind" else max(fits, 42 if name in ("layer", "head", "kv_head") else 54))

    def add_actions(self, menu: QMenu) -> None:
        action = menu.addAction("Statistics over a text file…")
        action.setToolTip("Every head's statistics over a file of inputs, one per line: mean ± standard deviation")
        action.triggered.connect(self._on_corpus_action)

    # -- the induction probe and corpora ----------------------------------------------------
    def _on_probe_clicked(self) -> None:
        if self.host.model is None:
            return
        self.raise_dock()
        self.request("probe", probe_table)

    def _on_corpus_action(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self.host.dialog_parent(), "Statistics over a text file", "", "Text files (*.txt);;All files (*)"
        )
        if path:
            self.start_corpus(path)

    def start_corpus(self, path: str) -> None:
        """Read ``path`` (one input per line) and start its statistics on the worker."""
        from pathlib import Path

        try:
            lines = read_corpus(path)
        except ValueError as error:
            self.host.show_error("Statistics over a text file", str(error))
            return
        self.raise_dock()
        self.corpus = (Path(path).name, lines, CorpusAccumulator(), 0)
        self._request_corpus_batch()

    def _request_corpus_batch(self) -> None:
        name, lines, accumulator, requested = self.corpus
        batch = lines[requested : requested + CORPUS_BATCH]
        self.corpus = (name, lines, accumulator, requested + len(batch))
        self.request("corpus", lambda model, batch=batch: corpus_batch(model, batch))
        self._show_corpus_progress()

    def _show_corpus_progress(self) -> None:
        if self.corpus is None:
            self.progress_widget.hide()
            return
        name, lines, accumulator, _requested = self.corpus
        self.corpus_progress.setText(f"Statistics over {name}: {accumulator.inputs:,} of {len(lines):,} inputs…")
        self.progress_widget.show()

    def cancel_corpus(self) -> None:
        """Stop the corpus between batches; the table keeps what it showed."""
        if self.corpus is None:
            return
        name, lines, accumulator, _requested = self.corpus
        self.corpus = None
        self._show_corpus_progress()
        self.host.show_status(f"Statistics over {name} cancelled after {accumulator.inputs:,} of {len(lines):,} inputs", 8000)

    def _show_table(self, table: dict[str, HeadStats], note: str, sort_by: str | None = None) -> None:
        """Fill the table from another source than the typed input, saying which.

        The typed input's own numbers are no longer wanted: the next trace brings them back.
        """
        self.chain = None
        self.table_trace = self.host.state.trace
        self._show_progress()
        self.stats = table
        self.table_model.set_rows([row for kind_stats in table.values() for row in kind_stats.rows()])
        self.source_note.setText(note)
        self.source_note.show()
        self._apply_filter()
        if any(stats.spread is not None for stats in table.values()):
            self.table.resizeColumnsToContents()  # "0.512 ± 0.031" is wider than one number
        if sort_by is not None:  # strongest first, and the column in view
            column = COLUMNS.index(sort_by)
            self.table.sortByColumn(column, Qt.SortOrder.DescendingOrder)
            if self.proxy.rowCount():
                self.table.scrollTo(self.proxy.index(0, column))

    # -- painting -------------------------------------------------------------------------------
    def show_state(self) -> None:
        trace = self.host.state.trace
        if trace is None:
            return
        if trace is not self.table_trace and (self.chain is None or self.chain.key is not trace):
            steps = [
                lambda _previous, kind=kind, layer=layer, heads=heads: step_statistics(trace, kind, layer, heads)
                for kind, layer, heads in table_steps(trace)
            ]
            self.chain = LayerChain(trace, steps)
            self._request_next()
        self._show_progress()
        self._apply_filter()
        self._start_pending()

    def _request_next(self) -> None:
        compute = self.chain.next_compute() if self.chain is not None else None
        if compute is not None:
            self.request("layer", compute)

    def _show_progress(self) -> None:
        """The muted note while the table is of an older trace than the window's (or empty)."""
        chain = self.chain
        if chain is None or chain.key is not self.host.state.trace:
            self.updating.hide()
            return
        progress = f"({len(chain.results)} of {chain.n_steps} steps done)"
        if self.table_trace is None:
            self.updating.setText(f"Computing the statistics… {progress}")
        else:
            self.updating.setText(
                f"Updating for the new input… {progress}; the table shows the previous input's numbers."
            )
        self.updating.show()

    def on_result(self, topic: str, value: Any) -> None:
        if topic == "probe":
            table, notice = value
            self._show_table(table, f"Showing the {notice[4:]} Sorted by the induction score; type to go back to "
                             "your input.", sort_by="induction_share")
            return
        if topic == "corpus":
            if self.corpus is None:
                return  # cancelled while this batch ran
            name, lines, accumulator, requested = self.corpus
            for table, tokens in value:
                accumulator.add_table(table, tokens)
            if requested < len(lines):
                self._request_corpus_batch()
                return
            self.corpus = None
            self._show_corpus_progress()
            self._show_table(
                accumulator.result(),
                f"Showing {name}: mean ± standard deviation over {accumulator.inputs:,} inputs "
                f"({accumulator.tokens:,} tokens). Type to go back to your input.",
            )
            return
        chain = self.chain
        if chain is None or not chain.take(value):
            return  # a chain dropped for a newer trace
        trace = chain.key
        if trace is not self.host.state.trace:
            # A newer trace has arrived: stop here; painting it starts its own chain.
            self.chain = None
        elif chain.done:
            self.chain = None
            if not self.source_note.isHidden():  # back from the probe or a corpus
                self._narrow_columns()
            self.source_note.hide()
            self.table_trace, self.stats = trace, table_from_steps(trace, chain.results)
            self.table_model.set_rows([row for kind_stats in self.stats.values() for row in kind_stats.rows()])
            self._apply_filter()
        else:
            self._request_next()
        self._show_progress()

    def on_failure(self, topic: str, reason: str) -> None:
        super().on_failure(topic, reason)
        if topic in ("probe", "corpus"):
            self.corpus = None
            self._show_corpus_progress()
            self.note.setText(f"Could not compute the statistics: {reason}")
            self.note.show()
            return
        self.chain = None
        self._show_progress()
        self.note.setText(f"Could not compute the statistics: {reason}")
        self.note.show()

    def _apply_filter(self) -> None:
        """Filter by kind and preset, write the preset's note, highlight the selected head."""
        selection = self.host.state.selection
        kind = selection.kind if self.kinds.currentData() == SELECTED_KIND else None
        preset_key = self.preset.currentData()
        matching = None
        notes: list[str] = []
        if preset_key is not None and self.stats:
            preset = PRESETS[preset_key]
            kinds = [kind] if kind is not None else list(self.stats)
            matching = {(k, layer, head) for k in kinds if k in self.stats for layer, head, _ in self.stats[k].find(preset)}
            count = len(matching)
            notes.append(f"{preset.name}: {preset.description} — {count} head{'s' if count != 1 else ''} found.")
            notes.extend(note + "." for k in kinds if (note := preset_note(k, preset)))
        self.proxy.set_filter(kind, matching)
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))
        selected = None if selection.head is None else (selection.kind, selection.layer, selection.head)
        self.table_model.set_selected(selected)
        if selected is not None and selected in self._keys():
            source_row = self._keys().index(selected)
            proxy_index = self.proxy.mapFromSource(self.table_model.index(source_row, 0))
            if proxy_index.isValid():
                self.table.scrollTo(proxy_index)

    def _keys(self) -> list[HeadKey]:
        return [self.table_model.key(row) for row in range(self.table_model.rowCount())]

    # -- user actions ---------------------------------------------------------------------------
    def row_key(self, proxy_row: int) -> HeadKey:
        """(kind, layer, head) of a row as the table shows it (sorted and filtered)."""
        return self.table_model.key(self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row())

    def _on_row_clicked(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        kind, layer, head = self.row_key(index.row())
        self.host.select(kind=kind, layer=layer, head=head)
