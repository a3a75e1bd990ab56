"""Per-head statistics of one attention kind, the presets that find heads by pattern, and
the table as rows and CSV (what ``attention-explorer stats`` prints).

Definitions, for one head with weights ``w[i, j]`` (query ``i``, key ``j``); every
statistic is averaged over the head's *counted* queries: those that are not padding and
whose row is not fully masked (a fully masked row is all zeros).

- ``entropy_bits``: ``-Σ_j w_ij log2 w_ij`` over the unmasked keys (masked keys have
  weight 0 and add nothing). 0 for a one-hot row, ``log2 n`` for a uniform row over n keys.
- ``mean_distance``: ``Σ_j w_ij |i − j|``, in tokens. Self-attention only.
- ``special_share``: ``Σ_j w_ij`` over special and padding keys ([CLS], [SEP], BOS, EOS, pad).
- ``separator_share``: the same over special keys after the first position ([SEP], </s>,
  EOS — not the [CLS] or BOS that opens a sequence, whose pull is a different pattern).
- ``previous_share``: ``w_{i, i−1}``, averaged over the counted queries with ``i ≥ 1``
  (the first token has no previous token). Self-attention only.
- ``diagonal_share``: ``w_ii``, the weight on the query's own position. Self-attention only.
- ``max_weight``: ``max_j w_ij``, each row's largest weight, averaged over queries (the
  largest single weight of a head is 1 in almost every causal head — its first row —
  so it would say nothing).
- ``sink_share``: ``w_i0``, the weight on the first position (an "attention sink": BOS,
  [CLS] or whatever token opens the text), averaged over the counted queries with
  ``i ≥ 1`` in self-attention (a causal first query can see nothing else) and over
  every counted query in cross-attention.
- ``duplicate_share``: ``Σ_j w_ij`` over the earlier copies of the query's token
  (``j < i``, ``t_j = t_i``), averaged over the counted queries that have one.
  Self-attention only.
- ``induction_share``: ``Σ_j w_ij`` over the tokens just after an earlier copy of the
  query's token (``t_{j−1} = t_i``, ``j < i``): what an induction head looks at to
  predict that the text repeats ("… A B … A" → B). Averaged over the counted queries
  that have one. On the induction probe (a random token sequence repeated twice,
  ``induction_probe_ids``) it is the usual induction score: the weight from each token
  of the second copy on the token after its first occurrence. Self-attention only.
  Both token-match statistics are NaN when no query has an earlier copy, and when the
  text repeats so much that the matching (query, key) pairs exceed ``MAX_MATCH_PAIRS``.

Every statistic is computed from blocks of query rows (``block_statistics``), so a trace
whose weights are recomputed on demand gets the same table at any length.

Cross-attention's queries and keys run along different sequences, so a position
difference ``i − j`` means nothing there: ``mean_distance``, ``previous_share`` and
``diagonal_share`` are NaN for it (an empty cell in the CSV) and the positional presets
find no cross-attention heads.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np

from model.trace import KIND_TITLES, Trace

from ..core.special import hidden_keys
from .token_matches import match_pairs, pair_sums

STATISTICS = (
    "entropy_bits",
    "mean_distance",
    "special_share",
    "separator_share",
    "previous_share",
    "diagonal_share",
    "max_weight",
    "sink_share",
    "duplicate_share",
    "induction_share",
)
STATISTIC_TITLES = {
    "entropy_bits": "entropy (bits)",
    "mean_distance": "mean distance (tokens)",
    "special_share": "on special tokens",
    "separator_share": "on separators",
    "previous_share": "on previous token",
    "diagonal_share": "on same token",
    "max_weight": "max weight",
    "sink_share": "on the first position",
    "duplicate_share": "on earlier copies",
    "induction_share": "induction",
}
# Statistics that compare query and key positions (or tokens of one sequence): undefined
# for cross-attention.
POSITIONAL = frozenset({"mean_distance", "previous_share", "diagonal_share", "duplicate_share", "induction_share"})
CSV_COLUMNS = ("kind", "layer", "head", "kv_head", *STATISTICS)
# At most this many weights (heads × queries × keys) per step of the table on the worker:
# four heads of 1,024 × 1,024, about 30 ms on two CPU cores (a whole layer of GPT-2 small ~90 ms).
STEP_CELLS = 4 * 1024 * 1024
# Weights read at once within a step (heads × rows × keys): 16 MB of float32.
ROW_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class Preset:
    """A pattern of heads: those whose ``statistic`` is at least ``threshold``."""

    name: str
    statistic: str
    threshold: float
    description: str


PRESETS: dict[str, Preset] = {
    "previous-token": Preset(
        "previous-token heads",
        "previous_share",
        0.5,
        "at least half of each query's attention, on average, on the token just before it",
    ),
    "diagonal": Preset(
        "diagonal heads",
        "diagonal_share",
        0.5,
        "at least half of each query's attention, on average, on its own position",
    ),
    "separator": Preset(
        "separator heads",
        "separator_share",
        0.5,
        "at least half of each query's attention, on average, on [SEP], </s> or EOS tokens",
    ),
    "induction": Preset(
        "induction heads",
        "induction_share",
        0.4,
        "at least 0.4 of the attention of each query, on average, on the token that followed an earlier "
        "copy of the query's token (run the induction probe: a random sequence repeated twice)",
    ),
    "duplicate-token": Preset(
        "duplicate-token heads",
        "duplicate_share",
        0.5,
        "at least half of each query's attention, on average, on earlier copies of its own token",
    ),
    "attention-sink": Preset(
        "attention-sink heads",
        "sink_share",
        0.5,
        "at least half of each query's attention, on average, on the first position",
    ),
}


@dataclass(frozen=True)
class HeadRow:
    """One head's line of the table."""

    kind: str
    layer: int
    head: int
    values: dict[str, float]  # statistic name → value; NaN where it does not apply
    kv_head: int = 0  # the key/value head it reads (its own index unless heads share one)
    # Over a corpus: each statistic's standard deviation over the inputs; None for one input.
    spread: dict[str, float] | None = None


@dataclass(frozen=True)
class HeadStats:
    """Every statistic of every head of one attention kind."""

    kind: str
    values: dict[str, np.ndarray]  # statistic name → (L, H) float64
    counted_queries: int  # non-padding query rows; a head's fully masked rows also drop out of its means
    kv_heads: np.ndarray | None = None  # (H,) the key/value head of each query head; None: its own
    # Over a corpus (``analysis.corpus_stats``): ``values`` are means over the inputs,
    # ``spread`` their standard deviations (L, H) per statistic, ``inputs`` (L, H) how many
    # inputs gave a value; None for one input.
    spread: dict[str, np.ndarray] | None = None
    inputs: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.values[STATISTICS[0]].shape

    def rows(self) -> list[HeadRow]:
        """One row per head, layer by layer, head by head."""
        n_layers, n_heads = self.shape
        return [
            HeadRow(
                self.kind,
                layer,
                head,
                {name: float(self.values[name][layer, head]) for name in STATISTICS},
                int(self.kv_heads[head]) if self.kv_heads is not None else head,
                None if self.spread is None else {name: float(self.spread[name][layer, head]) for name in STATISTICS},
            )
            for layer in range(n_layers)
            for head in range(n_heads)
        ]

    def find(self, preset: Preset | str) -> list[tuple[int, int, float]]:
        """``(layer, head, value)`` of the heads matching ``preset``, strongest first."""
        preset = PRESETS[preset] if isinstance(preset, str) else preset
        values = self.values[preset.statistic]
        # NaN (cross-attention's positional statistics) compares False: no match.
        with np.errstate(invalid="ignore"):
            layers, heads = np.nonzero(values >= preset.threshold)
        found = [(int(layer), int(head), float(values[layer, head])) for layer, head in zip(layers, heads)]
        return sorted(found, key=lambda entry: (-entry[2], entry[0], entry[1]))


def preset_note(kind: str, preset: Preset | str) -> str:
    """Why a preset finds nothing by definition for ``kind`` ('' when it applies)."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    if kind == "cross" and preset.statistic in POSITIONAL:
        return f"{preset.name} compare query and key positions, which {KIND_TITLES['cross']} does not share"
    return ""


def layer_statistics(
    layer_weights,
    query_padding: np.ndarray,
    key_hidden: np.ndarray,
    key_separator: np.ndarray,
    self_attention: bool,
    token_ids: np.ndarray | None = None,
    pairs: dict | None = None,
) -> dict[str, np.ndarray]:
    """Every statistic of the heads of one layer's ``(H, Q, K)`` weights: name → ``(H,)`` float64.

    The arguments are those of ``head_statistics``. ``layer_weights`` is an array or
    anything indexed like one (``[:, rows]``); it is read in blocks of query rows
    (``block_statistics``), so the temporaries stay at one block. ``token_ids``
    (self-attention: the sequence's ids) gives the token-match statistics, ``pairs`` the
    ``match_pairs`` of them when already made; without either they are NaN.
    """
    n_heads, n_queries, n_keys = layer_weights.shape
    if self_attention and pairs is None and token_ids is not None:
        pairs = match_pairs(token_ids)
    return block_statistics(
        lambda rows: layer_weights[:, rows], (n_heads, n_queries, n_keys), query_padding, key_hidden, key_separator,
        self_attention, pairs,
    )


def block_statistics(
    read_rows: Callable[[slice], np.ndarray],
    shape: tuple[int, int, int],
    query_padding: np.ndarray,
    key_hidden: np.ndarray,
    key_separator: np.ndarray,
    self_attention: bool,
    pairs: dict | None = None,
) -> dict[str, np.ndarray]:
    """``layer_statistics`` from ``read_rows(rows) -> (H, r, K)``, one block of query rows at a time.

    Every statistic is a mean over counted query rows, so each block adds its rows' sums
    and counts; a recomputed trace is asked for ``ROW_BLOCK_CELLS`` weights at a time and
    the result equals the whole-matrix computation at every length.
    """
    n_heads, n_queries, n_keys = shape
    # (K,) float32 masks turn the key sums into matrix–vector products.
    hidden = np.asarray(key_hidden, dtype=np.float32)
    separator = np.asarray(key_separator, dtype=np.float32)
    real_query = ~np.asarray(query_padding, dtype=bool)
    names = [name for name in STATISTICS if self_attention or name not in POSITIONAL]
    totals = {name: np.zeros(n_heads) for name in names}
    counts = {name: np.zeros(n_heads) for name in names}
    block_rows = max(ROW_BLOCK_CELLS // max(n_heads * n_keys, 1), 1)
    for start in range(0, n_queries, block_rows):
        stop = min(start + block_rows, n_queries)
        for name, (values, counted) in _row_statistics(
            np.asarray(read_rows(slice(start, stop)), dtype=np.float32), start, real_query[start:stop], hidden, separator,
            self_attention, pairs,
        ).items():
            totals[name] += np.where(counted, values, 0.0).sum(axis=-1, dtype=np.float64)
            counts[name] += counted.sum(axis=-1)
    results = {name: np.full(n_heads, np.nan) for name in STATISTICS}
    for name in names:
        results[name] = np.divide(totals[name], counts[name], out=np.full(n_heads, np.nan), where=counts[name] > 0)
    results["entropy_bits"] = np.maximum(results["entropy_bits"], 0.0)
    return results


def _row_statistics(
    block: np.ndarray,
    start: int,
    real_query: np.ndarray,
    hidden: np.ndarray,
    separator: np.ndarray,
    self_attention: bool,
    pairs: dict | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (per-row value ``(H, r)``, counted ``(H, r)`` bool) of a block of query rows.

    A statistic left out (token matches without ``pairs``, or too many of them) stays NaN."""
    n_heads, n_rows, n_keys = block.shape
    counted = (block.sum(axis=-1) > 0) & real_query  # (H, r)
    # w · log2 w is 0 at w = 0; the clamp avoids log2(0) without a mask.
    logs = np.maximum(block, np.finfo(np.float32).tiny)
    np.log2(logs, out=logs)  # in place: one H × r × K temporary instead of three
    # einsum sums the products without holding them (about 3× faster at 1,024 tokens).
    entropy = -np.einsum("hqk,hqk->hq", block, logs)  # (H, r)
    del logs
    found = {
        "entropy_bits": (entropy, counted),
        "special_share": (block @ hidden, counted),
        "separator_share": (block @ separator, counted),
        "max_weight": (block.max(axis=-1), counted),
    }
    if n_keys:
        # A causal first query sees only the first key: it says nothing about sinks.
        sink_counted = counted & (np.arange(start, start + n_rows) >= 1) if self_attention else counted
        found["sink_share"] = (block[:, :, 0], sink_counted)
    if self_attention and pairs is not None:
        for name, kind in (("duplicate_share", "duplicate"), ("induction_share", "induction")):
            if pairs[kind] is not None:
                sums, has_pair = pair_sums(block, start, pairs[kind])
                found[name] = (sums, counted & has_pair[None, :])
    if self_attention:
        queries = np.arange(start, start + n_rows)
        distance = np.abs(queries[:, None].astype(np.float32) - np.arange(n_keys, dtype=np.float32)[None, :])  # (r, K)
        found["mean_distance"] = (np.einsum("hqk,qk->hq", block, distance), counted)
        inside = queries < n_keys
        diagonal = np.zeros((n_heads, n_rows), dtype=np.float32)
        diagonal[:, inside] = block[:, np.flatnonzero(inside), queries[inside]]
        found["diagonal_share"] = (diagonal, counted & inside)
        has_previous = (queries >= 1) & (queries - 1 < n_keys)
        previous = np.zeros((n_heads, n_rows), dtype=np.float32)
        previous[:, has_previous] = block[:, np.flatnonzero(has_previous), queries[has_previous] - 1]
        found["previous_share"] = (previous, counted & has_previous)
    return found


def stack_layers(
    kind: str, layers: list[dict[str, np.ndarray]], counted_queries: int, kv_heads: np.ndarray | None = None
) -> HeadStats:
    """The ``HeadStats`` of a kind from ``layer_statistics`` of each of its layers, in order."""
    values = {name: np.stack([layer[name] for layer in layers]) for name in STATISTICS}  # (L, H) each
    return HeadStats(kind, values, counted_queries, kv_heads)


def head_statistics(
    weights: np.ndarray,
    query_padding: np.ndarray,
    key_hidden: np.ndarray,
    key_separator: np.ndarray,
    self_attention: bool,
    kind: str = "",
    token_ids: np.ndarray | None = None,
    pairs: dict | None = None,
) -> HeadStats:
    """Statistics of ``(L, H, Q, K)`` weights; see the module docstring for the definitions.

    Args:
        query_padding: ``(Q,)`` bool, padding query rows (not counted).
        key_hidden: ``(K,)`` bool, special and padding keys (``special_share``).
        key_separator: ``(K,)`` bool, separator keys (``separator_share``).
        self_attention: whether queries and keys share one axis (positional statistics).
        token_ids: ``(T,)`` the sequence's token ids (self-attention's token-match statistics).
    """
    if self_attention and pairs is None and token_ids is not None:
        pairs = match_pairs(token_ids)
    # One block of query rows of one layer at a time: the temporaries stay at a block,
    # and recomputed weights are asked only for those rows.
    n_layers, n_heads, n_queries, n_keys = weights.shape
    layers = [
        block_statistics(
            lambda rows, layer=layer: weights[layer, :, rows], (n_heads, n_queries, n_keys), query_padding, key_hidden,
            key_separator, self_attention, pairs,
        )
        for layer in range(n_layers)
    ]
    return stack_layers(kind, layers, int((~np.asarray(query_padding, dtype=bool)).sum()))


def separator_keys(special: np.ndarray) -> np.ndarray:
    """``(T,)`` bool: special tokens after the first position ([SEP], </s>, EOS)."""
    separator = np.asarray(special, dtype=bool).copy()
    separator[:1] = False
    return separator


def _masks(trace: Trace, kind: str) -> dict[str, object]:
    """The keyword arguments of ``head_statistics`` for one kind of a trace, from its token axes."""
    query_axis, key_axis = trace.axes(kind)
    return dict(
        query_padding=np.asarray(query_axis.padding, dtype=bool),
        key_hidden=hidden_keys(key_axis),
        key_separator=separator_keys(key_axis.special) & ~np.asarray(key_axis.padding, dtype=bool),
        self_attention=kind != "cross",
        pairs=match_pairs(query_axis.ids) if kind != "cross" else None,
    )


def trace_head_statistics(trace: Trace, kind: str) -> HeadStats:
    """``head_statistics`` of one kind of a trace, with the masks from its token axes."""
    maps = trace.attention[kind]
    stats = head_statistics(maps.weights, kind=kind, **_masks(trace, kind))
    return HeadStats(stats.kind, stats.values, stats.counted_queries, maps.kv_heads)


def table_steps(trace: Trace) -> list[tuple[str, int, slice]]:
    """``(kind, layer, heads)`` of the table's steps, in table order.

    One step is one layer of one kind, or a group of its heads when a layer holds more
    than ``STEP_CELLS`` weights, so no step holds the worker long.
    """
    steps = []
    for kind in trace.kinds:
        n_layers, n_heads, n_queries, n_keys = trace.attention[kind].weights.shape
        group = max(1, min(n_heads, STEP_CELLS // max(n_queries * n_keys, 1)))
        for layer in range(n_layers):
            steps.extend((kind, layer, slice(start, min(start + group, n_heads))) for start in range(0, n_heads, group))
    return steps


def step_statistics(trace: Trace, kind: str, layer: int, heads: slice = slice(None)) -> dict[str, np.ndarray]:
    """``layer_statistics`` of some heads of one layer of one kind of a trace (one step of the table)."""
    weights = trace.attention[kind].weights  # (L, H, Q, K), numbers or recomputed on indexing
    _layers, n_heads, n_queries, n_keys = weights.shape
    picked = len(range(*heads.indices(n_heads)))
    return block_statistics(lambda rows: weights[layer, heads, rows], (picked, n_queries, n_keys), **_masks(trace, kind))


def table_from_steps(trace: Trace, results: list[dict[str, np.ndarray]]) -> dict[str, HeadStats]:
    """Every kind's ``HeadStats`` from the results of ``table_steps``, in that order."""
    layers: dict[str, dict[int, list[dict[str, np.ndarray]]]] = {}
    for (kind, layer, _heads), result in zip(table_steps(trace), results, strict=True):
        layers.setdefault(kind, {}).setdefault(layer, []).append(result)
    table = {}
    for kind, groups in layers.items():
        whole_layers = [
            {name: np.concatenate([group[name] for group in groups[layer]]) for name in STATISTICS}  # (H,) each
            for layer in sorted(groups)
        ]
        counted = int((~np.asarray(trace.axes(kind)[0].padding, dtype=bool)).sum())
        table[kind] = stack_layers(kind, whole_layers, counted, trace.attention[kind].kv_heads)
    return table


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6f}"


def table_rows(stats: list[HeadStats]) -> list[HeadRow]:
    """The rows of several kinds, kind by kind."""
    return [row for kind_stats in stats for row in kind_stats.rows()]


def table_csv(stats: list[HeadStats]) -> str:
    """The head table as CSV text: a header line, then one line per head."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table_rows(stats):
        writer.writerow([row.kind, row.layer, row.head, row.kv_head, *(_cell(row.values[name]) for name in STATISTICS)])
    return buffer.getvalue()
