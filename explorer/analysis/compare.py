"""Two traces side by side: the difference maps, one colour range for both, and the heads
ranked by how much they changed.

Two comparisons make sense: two inputs on one model, or one input on two checkpoints of
one architecture. Either way the two traces must have the same layers and heads, and
the same number of tokens on each axis; the difference of two attention rows is a
position-by-position difference, so there is nothing to subtract from when one side has
a token the other lacks. Traces whose token counts differ are refused with a sentence
naming the first differing position, rather than aligned: padding the shorter side
would invent zero attention, and cutting the longer one would compare rows that no
longer sum to 1. (For two checkpoints on one input, teacher-force the same target on
both, so greedy generation cannot make the decoder sides differ.)

Tokens that differ at the same position are allowed only when asked
(``same_tokens=False``, for minimal pairs such as "the cat sat" / "the dog sat"); the
positions are reported so a panel can mark them.

Definitions, per head, over the counted query rows (not padding, not fully masked on
either side):

- ``mean_abs_difference``: the mean of ``|b_ij − a_ij|`` over every key of every counted row.
- ``js_divergence_bits``: the Jensen–Shannon divergence of each pair of rows, in bits
  (0 for identical rows, 1 for rows on disjoint keys), averaged over the counted rows.
  It is symmetric, unlike the Kullback–Leibler divergence, and finite when one row puts
  zero weight where the other does not.

A ``Comparison`` keeps only these ``(L, H)`` statistics: the full ``(L, H, Q, K)``
difference would cost as much memory as a trace (gigabytes on long inputs) and nothing
reads more than the one head a view draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.trace import KIND_AXES, KIND_TITLES, TokenAxis, Trace

RANKINGS = ("js_divergence_bits", "mean_abs_difference")


class ComparisonError(ValueError):
    """The two traces cannot be compared; the message says why in one sentence."""


@dataclass(frozen=True)
class RankedHead:
    layer: int
    head: int
    mean_abs_difference: float
    js_divergence_bits: float


@dataclass(frozen=True)
class Comparison:
    """How much each head changed between two traces of one attention kind (``b − a``).

    Only per-head statistics are kept, never the full ``(L, H, Q, K)`` difference: a
    panel or figure subtracts the one head it draws (see ``compare_job.head_pair``).
    """

    kind: str
    mean_abs_difference: np.ndarray  # (L, H)
    js_divergence_bits: np.ndarray  # (L, H)
    changed_queries: np.ndarray  # (n,) int: query positions whose token differs
    changed_keys: np.ndarray  # (n,) int: key positions whose token differs

    def ranked(self, by: str = "js_divergence_bits") -> list[RankedHead]:
        """Every head, the most changed first (ties: lower layer, then lower head)."""
        if by not in RANKINGS:
            raise ValueError(f"rank by one of {', '.join(RANKINGS)}, not {by!r}")
        key = self.js_divergence_bits if by == "js_divergence_bits" else self.mean_abs_difference
        n_layers, n_heads = key.shape
        # lexsort sorts by its last key first: the measure (descending), then layer, head.
        layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
        order = np.lexsort((heads.ravel(), layers.ravel(), -np.nan_to_num(key.ravel(), nan=-np.inf)))
        return [
            RankedHead(
                int(layers.ravel()[index]),
                int(heads.ravel()[index]),
                float(self.mean_abs_difference.ravel()[index]),
                float(self.js_divergence_bits.ravel()[index]),
            )
            for index in order
        ]


def _token(axis: TokenAxis, position: int) -> str:
    return repr(axis.tokens[position]) if position < len(axis) else "nothing"


def axis_mismatch(a: TokenAxis, b: TokenAxis, side: str, same_tokens: bool) -> str:
    """One sentence on why the ``side`` axes of two traces cannot be compared ('' if they can)."""
    shared = min(len(a), len(b))
    differing = np.flatnonzero(np.asarray(a.ids[:shared]) != np.asarray(b.ids[:shared]))
    if len(a) != len(b):
        first = int(differing[0]) if differing.size else shared
        return (
            f"the {side} sides have {len(a)} and {len(b)} tokens, first differing at position {first} "
            f"({_token(a, first)} vs {_token(b, first)}); a difference needs the same number of tokens"
        )
    if same_tokens and differing.size:
        first = int(differing[0])
        return (
            f"the {side} tokens differ at position {first} ({_token(a, first)} vs {_token(b, first)}); "
            "comparing checkpoints needs the same input on both"
        )
    return ""


def _changed_positions(a: TokenAxis, b: TokenAxis) -> np.ndarray:
    return np.flatnonzero(np.asarray(a.ids) != np.asarray(b.ids))


def js_divergence_bits(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence in bits of the rows (last axis) of two arrays.

    ``½ Σ p log2(2p / (p + q)) + ½ Σ q log2(2q / (p + q))``; zero entries add nothing.
    """
    p = np.asarray(p, dtype=np.float32)
    q = np.asarray(q, dtype=np.float32)
    both = p + q
    tiny = np.finfo(np.float32).tiny

    def half(x: np.ndarray) -> np.ndarray:
        # Where x > 0, both ≥ x > 0; elsewhere x = 0 and the clamped ratio's log is finite.
        ratio = np.maximum(2.0 * x, tiny) / np.maximum(both, tiny)
        return (x * np.log2(ratio)).sum(axis=-1)

    return np.maximum(0.5 * (half(p) + half(q)), 0.0)


# Weights of one trace read at once while comparing (heads × rows × keys): 16 MB of float32.
ROW_BLOCK_CELLS = 1 << 22


def compare_weights(
    a: np.ndarray, b: np.ndarray, query_padding: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean_abs_difference, js_divergence_bits)``, each ``(L, H)``, of two ``(L, H, Q, K)`` stacks.

    A block of query rows of one layer at a time: a float16 trace is converted to float32
    a block at a time, a recomputed trace (``core.head_matrix``) is asked for those rows
    only, and the difference never exists for more than one block, so the temporaries
    stay at ``ROW_BLOCK_CELLS`` however long the input and deep the model.
    """
    if tuple(a.shape) != tuple(b.shape):
        raise ComparisonError(f"the attention stacks have different shapes {tuple(a.shape)} and {tuple(b.shape)}")
    n_layers, n_heads, n_queries, n_keys = a.shape
    real_query = np.ones(n_queries, dtype=bool) if query_padding is None else ~np.asarray(query_padding, dtype=bool)
    mean_abs = np.full((n_layers, n_heads), np.nan)
    js = np.full((n_layers, n_heads), np.nan)
    block_rows = max(ROW_BLOCK_CELLS // max(n_heads * n_keys, 1), 1)
    for layer in range(n_layers):
        total_abs, total_js, count = np.zeros(n_heads), np.zeros(n_heads), np.zeros(n_heads)
        for start in range(0, n_queries, block_rows):
            rows = slice(start, min(start + block_rows, n_queries))
            block_a = np.asarray(a[layer, :, rows], dtype=np.float32)  # (H, r, K)
            block_b = np.asarray(b[layer, :, rows], dtype=np.float32)
            counted = (block_a.sum(axis=-1) > 0) & (block_b.sum(axis=-1) > 0) & real_query[rows]  # (H, r)
            count += counted.sum(axis=-1)
            total_abs += np.where(counted, np.abs(block_b - block_a).mean(axis=-1), 0.0).sum(axis=-1)
            total_js += np.where(counted, js_divergence_bits(block_a, block_b), 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_abs[layer] = np.where(count > 0, total_abs / np.maximum(count, 1), np.nan)
            js[layer] = np.where(count > 0, total_js / np.maximum(count, 1), np.nan)
    return mean_abs, js


def check_comparable(a: Trace, b: Trace, kind: str, same_tokens: bool = True) -> tuple[int, int]:
    """``(layers, heads)`` of ``kind`` when the two traces can be compared; computes nothing.

    Raises:
        ComparisonError: a trace lacks ``kind``, the layers × heads differ, or the token
            axes do (see ``compare_traces``); the message says why in one sentence.
    """
    title = KIND_TITLES.get(kind, kind)
    for name, trace in (("first", a), ("second", b)):
        if kind not in trace.attention:
            raise ComparisonError(f"the {name} trace has no {title}")
    shape_a, shape_b = a.attention[kind].weights.shape[:2], b.attention[kind].weights.shape[:2]
    if shape_a != shape_b:
        raise ComparisonError(
            f"the two models have {shape_a[0]} × {shape_a[1]} and {shape_b[0]} × {shape_b[1]} layers × heads "
            f"of {title}; only the same architecture can be compared"
        )
    query_side, key_side = KIND_AXES[kind]
    (query_a, key_a), (query_b, key_b) = a.axes(kind), b.axes(kind)
    sides = [(query_side, query_a, query_b)] + ([(key_side, key_a, key_b)] if key_side != query_side else [])
    for side, axis_a, axis_b in sides:
        reason = axis_mismatch(axis_a, axis_b, side, same_tokens)
        if reason:
            raise ComparisonError(reason)
    return int(shape_a[0]), int(shape_a[1])


def compare_traces(a: Trace, b: Trace, kind: str, same_tokens: bool = True) -> Comparison:
    """Compare ``kind`` of two traces; raises ``ComparisonError`` when they cannot be compared.

    Args:
        same_tokens: require identical tokens (one input on two checkpoints); False allows
            different tokens at the same positions (two inputs on one model).
    """
    check_comparable(a, b, kind, same_tokens)
    (query_a, key_a), (query_b, key_b) = a.axes(kind), b.axes(kind)
    padding = np.asarray(query_a.padding, dtype=bool) | np.asarray(query_b.padding, dtype=bool)
    mean_abs, js = compare_weights(a.attention[kind].weights, b.attention[kind].weights, padding)
    return Comparison(
        kind=kind,
        mean_abs_difference=mean_abs,
        js_divergence_bits=js,
        changed_queries=_changed_positions(query_a, query_b),
        changed_keys=_changed_positions(key_a, key_b),
    )


def shared_levels(*matrices: np.ndarray) -> tuple[float, float]:
    """One colour range (low, high) for side-by-side heatmaps: the finite extent of them all."""
    finite = [m[np.isfinite(m)] for m in (np.asarray(matrix) for matrix in matrices)]
    values = np.concatenate([f.ravel() for f in finite]) if finite else np.empty(0)
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    # A constant pair still needs a range to draw a colour bar.
    return (low - 0.5, high + 0.5) if low == high else (low, high)


def difference_levels(difference: np.ndarray) -> tuple[float, float]:
    """A range symmetric about 0 for a diverging colour map: ``(-m, m)``, ``m = max |difference|``."""
    finite = np.abs(np.asarray(difference)[np.isfinite(difference)])
    extent = float(finite.max()) if finite.size else 0.0
    return (-extent, extent) if extent > 0 else (-1.0, 1.0)


def compare_every_kind(a: Trace, b: Trace, same_tokens: bool = True) -> tuple[dict[str, Comparison], dict[str, str]]:
    """``compare_traces`` for every kind of ``a``: the comparisons, and the refusals by kind.

    A refusal of one kind (the generated decoder sides differ in length, say) leaves
    the others comparable, so each kind is answered on its own.
    """
    comparisons: dict[str, Comparison] = {}
    refusals: dict[str, str] = {}
    for kind in a.kinds:
        try:
            comparisons[kind] = compare_traces(a, b, kind, same_tokens=same_tokens)
        except ComparisonError as error:
            refusals[kind] = str(error)
    return comparisons, refusals
