"""Head statistics over a corpus: the mean and spread of each head's per-input statistics.

``attention-explorer stats --corpus lines.txt`` and the head statistics mode's "Statistics
over a text file…" read one input per line (empty lines are skipped), trace them in
batches (``model.batch``) and add each input's ``trace_head_statistics`` here. A head's
corpus value of a statistic is the plain mean over the inputs of that input's value
(each input counts once, however long it is), and its spread the standard deviation over
the same inputs (population, ddof 0). An input where a statistic does not apply (NaN:
no repeated token for the duplicate and induction shares) leaves it out of that mean; the
count of inputs that gave one is kept per head. Numpy only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

from model.trace import Trace

from ..text_files import TextFileError, read_text_file

from .head_stats import CSV_COLUMNS, STATISTICS, HeadStats, trace_head_statistics

CORPUS_COLUMNS = ("kind", "layer", "head", "kv_head", "inputs",
                  *(column for name in STATISTICS for column in (name, f"{name}_sd")))
PER_INPUT_COLUMNS = ("input", *CSV_COLUMNS)
# Files larger than this are refused before they are read (a corpus, not a data dump).
MAX_CORPUS_BYTES = 256 * 2**20


def corpus_lines(text: str) -> list[str]:
    """The inputs of a corpus file's text: one per line, surrounding spaces kept, empty lines skipped."""
    return [line for line in text.splitlines() if line.strip()]


def read_corpus(location: str) -> list[str]:
    """The non-empty lines of a UTF-8 file (``-``: standard input), one input each.

    Raises ``TextFileError`` (a ``ValueError``) with one sentence: missing, unreadable,
    too large, not UTF-8, or without a non-empty line.
    """
    lines = corpus_lines(read_text_file(location, max_bytes=MAX_CORPUS_BYTES))
    if not lines:
        raise TextFileError(f"{location} has no non-empty line: one input per line")
    return lines


@dataclass
class CorpusAccumulator:
    """Running sums of every kind's statistics over inputs; ``add`` one trace at a time.

    ``keep_inputs`` also keeps each input's table for the per-input CSV.
    """

    kinds: tuple[str, ...] | None = None  # None: every kind of the first trace
    keep_inputs: bool = False
    inputs: int = 0
    tokens: int = 0
    sums: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    squares: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    counts: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    kv_heads: dict[str, np.ndarray | None] = field(default_factory=dict)
    per_input: list[dict[str, HeadStats]] = field(default_factory=list)

    def add(self, trace: Trace) -> dict[str, HeadStats]:
        """Add one input's statistics; returns them."""
        table = input_table(trace, self.kinds)
        self.add_table(table, trace_tokens(trace))
        return table

    def add_table(self, table: dict[str, HeadStats], tokens: int) -> None:
        """Add one input's statistics made elsewhere (``input_table``, on the worker) and its token count."""
        if self.kinds is None:
            self.kinds = tuple(table)
        for kind, stats in table.items():
            self.kv_heads.setdefault(kind, stats.kv_heads)
            for name in STATISTICS:
                values = stats.values[name]
                given = ~np.isnan(values)
                if name not in self.sums.setdefault(kind, {}):
                    self.sums[kind][name] = np.zeros(values.shape)
                    self.squares.setdefault(kind, {})[name] = np.zeros(values.shape)
                    self.counts.setdefault(kind, {})[name] = np.zeros(values.shape, dtype=np.int64)
                if values.shape != self.sums[kind][name].shape:
                    raise ValueError(f"input {self.inputs + 1} has {values.shape} heads of {kind}, the corpus "
                                     f"{self.sums[kind][name].shape}: one model per corpus")
                self.sums[kind][name] += np.where(given, values, 0.0)
                self.squares[kind][name] += np.where(given, values, 0.0) ** 2
                self.counts[kind][name] += given
        self.inputs += 1
        self.tokens += tokens
        if self.keep_inputs:
            self.per_input.append(table)

    def result(self) -> dict[str, HeadStats]:
        """Every kind's ``HeadStats`` of the means, with ``spread`` the standard deviations."""
        table = {}
        for kind in self.kinds or ():
            means, spreads = {}, {}
            for name in STATISTICS:
                count = self.counts[kind][name]
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = np.where(count > 0, self.sums[kind][name] / np.maximum(count, 1), np.nan)
                    variance = self.squares[kind][name] / np.maximum(count, 1) - np.where(count > 0, mean, 0.0) ** 2
                means[name] = mean
                spreads[name] = np.where(count > 0, np.sqrt(np.maximum(variance, 0.0)), np.nan)
            table[kind] = HeadStats(kind, means, self.inputs, self.kv_heads.get(kind), spread=spreads,
                                    inputs=self.counts[kind][STATISTICS[0]])
        return table


def input_table(trace: Trace, kinds: tuple[str, ...] | None = None) -> dict[str, HeadStats]:
    """One input's ``trace_head_statistics`` of ``kinds`` (default: every kind of the trace)."""
    return {kind: trace_head_statistics(trace, kind) for kind in (kinds or trace.kinds)}


def trace_tokens(trace: Trace) -> int:
    """The input's length in tokens (the encoder side where there is one)."""
    axis = trace.encoder if trace.encoder is not None else trace.decoder
    return len(axis) if axis is not None else 0


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6f}"


def corpus_csv(table: dict[str, HeadStats]) -> str:
    """The corpus table as CSV: each statistic's mean and its ``_sd``, per head."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CORPUS_COLUMNS)
    for stats in table.values():
        for row in stats.rows():
            inputs = int(stats.inputs[row.layer, row.head]) if stats.inputs is not None else stats.counted_queries
            cells = [cell for name in STATISTICS for cell in (_cell(row.values[name]), _cell(row.spread[name]))]
            writer.writerow([row.kind, row.layer, row.head, row.kv_head, inputs, *cells])
    return buffer.getvalue()


def per_input_csv(per_input: list[dict[str, HeadStats]]) -> str:
    """Every input's table, one line per input and head, numbered from 1 in file order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PER_INPUT_COLUMNS)
    for number, table in enumerate(per_input, start=1):
        for stats in table.values():
            for row in stats.rows():
                writer.writerow([number, row.kind, row.layer, row.head, row.kv_head,
                                 *(_cell(row.values[name]) for name in STATISTICS)])
    return buffer.getvalue()
