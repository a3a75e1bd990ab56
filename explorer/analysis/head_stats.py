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

Cross-attention's queries and keys run along different sequences, so a position
difference ``i − j`` means nothing there: ``mean_distance``, ``previous_share`` and
``diagonal_share`` are NaN for it (an empty cell in the CSV) and the positional presets
find no cross-attention heads.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from model.trace import KIND_TITLES, Trace

from ..core.special import hidden_keys

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
# Token-match statistics sum over (query, key) pairs of equal tokens; a text that repeats
# one token thousands of times would make millions, so beyond this many they are NaN.
MAX_MATCH_PAIRS = 2**22
CSV_COLUMNS = ("kind", "layer", "head", "kv_head", *STATISTICS)
# At most this many weights (heads × queries × keys) per step of the table on the worker:
# four heads of 1,024 × 1,024, about 30 ms on two CPU cores (a whole layer of GPT-2 small ~90 ms).
STEP_CELLS = 4 * 1024 * 1024


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


def _mean_over(values: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Mean of ``(..., Q)`` over the ``counted`` queries; NaN where none is counted."""
    total = np.where(counted, values, 0.0).sum(axis=-1, dtype=np.float64)
    count = counted.sum(axis=-1)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def match_pairs(ids: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
    """(queries, keys) of the token-match statistics of one sequence's ``ids``.

    ``"duplicate"``: every (i, j) with j < i and t_j = t_i; ``"induction"``: every (i, j)
    with j < i and t_{j−1} = t_i. None for a kind of pair that exceeds ``MAX_MATCH_PAIRS``.
    """
    ids = np.asarray(ids)
    order = np.argsort(ids, kind="stable")  # positions grouped by token, ascending within a group
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    sizes = np.diff(np.r_[starts, len(ids)])
    if int((sizes * (sizes - 1) // 2).sum()) > MAX_MATCH_PAIRS:
        return {"duplicate": None, "induction": None}
    queries, keys = [], []
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        positions = order[start : start + size]  # ascending
        later, earlier = np.triu_indices(size, 1)[::-1]  # later > earlier within the group
        queries.append(positions[later])
        keys.append(positions[earlier])
    if not queries:
        empty = np.zeros(0, dtype=np.int64)
        return {"duplicate": (empty, empty), "induction": (empty, empty)}
    query, key = np.concatenate(queries), np.concatenate(keys)  # key < query, same token
    after = key + 1
    induction = after < query
    return {"duplicate": (query, key), "induction": (query[induction], after[induction])}


def _pair_share(layer_weights: np.ndarray, pairs: tuple[np.ndarray, np.ndarray] | None,
                counted: np.ndarray) -> np.ndarray:
    """(H,) mean over the counted queries having a pair of Σ w over their pairs' keys."""
    n_heads, n_queries, _ = layer_weights.shape
    if pairs is None:
        return np.full(n_heads, np.nan)
    queries, keys = pairs
    has_pair = np.zeros(n_queries, dtype=bool)
    has_pair[queries] = True
    sums = np.zeros((n_heads, n_queries), dtype=np.float64)
    if len(queries):
        picked = layer_weights[:, queries, keys]  # (H, pairs)
        for head in range(n_heads):
            sums[head] = np.bincount(queries, weights=picked[head], minlength=n_queries)
    return _mean_over(sums, counted & has_pair[None, :])


def layer_statistics(
    layer_weights: np.ndarray,
    query_padding: np.ndarray,
    key_hidden: np.ndarray,
    key_separator: np.ndarray,
    self_attention: bool,
    token_ids: np.ndarray | None = None,
    pairs: dict | None = None,
) -> dict[str, np.ndarray]:
    """Every statistic of the heads of one layer's ``(H, Q, K)`` weights: name → ``(H,)`` float64.

    The arguments are those of ``head_statistics``; every head and query is vectorised,
    and the temporaries stay at H × Q × K. ``token_ids`` (self-attention: the sequence's
    ids) gives the token-match statistics, ``pairs`` the ``match_pairs`` of them when
    already made; without either they are NaN.
    """
    layer_weights = np.asarray(layer_weights, dtype=np.float32)  # (H, Q, K)
    n_heads, n_queries, n_keys = layer_weights.shape
    # (K,) float32 masks turn the key sums into matrix–vector products.
    hidden = np.asarray(key_hidden, dtype=np.float32)
    separator = np.asarray(key_separator, dtype=np.float32)
    real_query = ~np.asarray(query_padding, dtype=bool)
    results = {name: np.full(n_heads, np.nan) for name in STATISTICS}
    counted = (layer_weights.sum(axis=-1) > 0) & real_query  # (H, Q)
    # w · log2 w is 0 at w = 0; the clamp avoids log2(0) without a mask.
    logs = np.maximum(layer_weights, np.finfo(np.float32).tiny)
    np.log2(logs, out=logs)  # in place: one H × Q × K temporary instead of three
    # einsum sums the products without holding them (about 3× faster at 1,024 tokens).
    entropy = -np.einsum("hqk,hqk->hq", layer_weights, logs)  # (H, Q)
    del logs
    results["entropy_bits"] = np.maximum(_mean_over(entropy, counted), 0.0)
    results["special_share"] = _mean_over(layer_weights @ hidden, counted)
    results["separator_share"] = _mean_over(layer_weights @ separator, counted)
    results["max_weight"] = _mean_over(layer_weights.max(axis=-1), counted)
    sink_counted = counted.copy()
    if self_attention:
        sink_counted[:, :1] = False  # a causal first query sees only itself
    results["sink_share"] = _mean_over(layer_weights[:, :, 0], sink_counted) if n_keys else np.full(n_heads, np.nan)
    if self_attention and (pairs is not None or token_ids is not None):
        pairs = pairs if pairs is not None else match_pairs(token_ids)
        results["duplicate_share"] = _pair_share(layer_weights, pairs["duplicate"], counted)
        results["induction_share"] = _pair_share(layer_weights, pairs["induction"], counted)
    if self_attention:
        positions = np.arange(n_queries, dtype=np.float32)
        distance = np.abs(positions[:, None] - np.arange(n_keys, dtype=np.float32)[None, :])  # (Q, K)
        results["mean_distance"] = _mean_over(np.einsum("hqk,qk->hq", layer_weights, distance), counted)
        results["diagonal_share"] = _mean_over(np.diagonal(layer_weights, 0, -2, -1), counted)
        previous = np.diagonal(layer_weights, -1, -2, -1)  # (H, Q - 1): w[i, i - 1] for i ≥ 1
        results["previous_share"] = _mean_over(previous, counted[:, 1:])
    return results


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
    weights = np.asarray(weights)
    if self_attention and pairs is None and token_ids is not None:
        pairs = match_pairs(token_ids)
    # One layer at a time keeps the temporaries at H × Q × K instead of L × H × Q × K
    # (150 MB per temporary for 12 × 12 × 512 × 512).
    layers = [
        layer_statistics(weights[layer], query_padding, key_hidden, key_separator, self_attention, pairs=pairs)
        for layer in range(weights.shape[0])
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
    return layer_statistics(trace.attention[kind].weights[layer, heads], **_masks(trace, kind))


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
