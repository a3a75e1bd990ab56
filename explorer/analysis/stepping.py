"""Step-through generation: what the model looked at while producing each token.

Greedy generation fed back one token at a time; the trace of the whole generated
sequence holds every step at once, because the decoder is causal: the row of decoder
position ``p − 1`` is exactly what the model computed when it produced the token at
``p``. Step ``t`` (from 0) produces position ``p = first_produced + t`` — 1 for an
encoder–decoder (after the start token), the prompt length for a decoder-only model —
and shows:

- the cross-attention row of query ``p − 1`` over the source (encoder–decoder only),
- the decoder self-attention row of query ``p − 1`` over positions ``0 … p − 1``,
- the top-k next-token probabilities at ``p − 1`` and the probability and rank of the
  token that was produced.

``bar_row`` turns one step's rows into the bars a panel draws: one head, or the mean
over heads, with the special-token filter applied as every other view applies it.

Plain numpy: the logits come from ``explorer.next_token.next_token_logits`` on the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from model.trace import TokenAxis, Trace

from ..core.special import drop_keys, filtered_axis, kept_keys, mean_over_heads

DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class NextTokenTable:
    """The next-token distribution at every decoder position, reduced to what a panel shows."""

    top_ids: np.ndarray  # (T, k) int64, most probable first
    top_probabilities: np.ndarray  # (T, k) float64
    top_tokens: list[list[str]]  # (T, k) labels of top_ids
    next_probability: np.ndarray  # (T,) probability given to the token at position + 1; NaN at the end
    next_rank: np.ndarray  # (T,) its rank (0 = most probable); -1 at the end


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities along the last axis, computed stably in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def next_token_table(
    logits: np.ndarray, token_ids: np.ndarray, token_label: Callable[[int], str], k: int = DEFAULT_TOP_K
) -> NextTokenTable:
    """Reduce ``(T, V)`` logits at the positions of ``token_ids`` ``(T,)`` to the top ``k``."""
    log_probabilities = log_softmax(logits)  # (T, V)
    n_positions, vocab = log_probabilities.shape
    token_ids = np.asarray(token_ids, dtype=np.int64)
    if token_ids.shape != (n_positions,):
        raise ValueError(f"{n_positions} logit rows for {token_ids.shape[0]} tokens")
    k = min(k, vocab)
    # argpartition finds the k best in O(V); only those k are sorted.
    best = np.argpartition(-log_probabilities, k - 1, axis=-1)[:, :k]  # (T, k), unordered
    best_scores = np.take_along_axis(log_probabilities, best, axis=-1)
    order = np.argsort(-best_scores, axis=-1, kind="stable")
    top_ids = np.take_along_axis(best, order, axis=-1)
    top_probabilities = np.exp(np.take_along_axis(best_scores, order, axis=-1))
    next_ids = token_ids[1:]  # (T - 1,)
    next_log = log_probabilities[np.arange(n_positions - 1), next_ids]
    # Rank = how many tokens the model preferred to the one that came next.
    next_rank = (log_probabilities[:-1] > next_log[:, None]).sum(axis=-1)
    return NextTokenTable(
        top_ids=top_ids,
        top_probabilities=top_probabilities,
        top_tokens=[[token_label(int(token)) for token in row] for row in top_ids],
        next_probability=np.append(np.exp(next_log), np.nan),
        next_rank=np.append(next_rank, -1).astype(np.int64),
    )


@dataclass(frozen=True)
class GenerationStep:
    """What one step of generation shows."""

    step: int  # from 0
    query: int  # decoder position whose row produced the token (position − 1)
    position: int  # decoder position of the produced token
    token: str
    token_id: int
    probability: float  # the probability the model gave the produced token
    rank: int  # 0 when the produced token was the most probable one (greedy)
    cross_row: np.ndarray | None  # (L, H, K_source) or None for decoder-only models
    self_row: np.ndarray  # (L, H, query + 1): keys 0 … query, the positions visible then
    top: list[tuple[str, int, float]]  # (token, id, probability), most probable first


class StepThrough:
    """The steps of one generated sequence, from its trace and its next-token table."""

    def __init__(self, trace: Trace, table: NextTokenTable, first_produced: int | None = None) -> None:
        if trace.decoder is None or "decoder_self" not in trace.attention:
            raise ValueError("stepping through generation needs a model with a decoder")
        if first_produced is None:
            if trace.architecture != "encoder-decoder":
                raise ValueError("give the prompt length: which decoder position was generated first")
            first_produced = 1
        n_positions = len(trace.decoder)
        if not 1 <= first_produced <= n_positions:
            raise ValueError(f"the first generated position {first_produced} lies outside 1–{n_positions}")
        if table.top_ids.shape[0] != n_positions:
            raise ValueError(f"the next-token table has {table.top_ids.shape[0]} rows for {n_positions} decoder tokens")
        self.trace = trace
        self.table = table
        self.first_produced = first_produced

    @property
    def n_steps(self) -> int:
        return len(self.trace.decoder) - self.first_produced

    def step(self, index: int) -> GenerationStep:
        if not 0 <= index < self.n_steps:
            raise IndexError(f"step {index} is out of range: this generation has steps 0–{self.n_steps - 1}")
        position = self.first_produced + index
        query = position - 1
        decoder = self.trace.decoder
        cross = self.trace.attention.get("cross")
        table = self.table
        return GenerationStep(
            step=index,
            query=query,
            position=position,
            token=decoder.tokens[position],
            token_id=int(decoder.ids[position]),
            probability=float(table.next_probability[query]),
            rank=int(table.next_rank[query]),
            cross_row=None if cross is None else cross.weights[:, :, query, :],
            self_row=self.trace.attention["decoder_self"].weights[:, :, query, : query + 1],
            top=[
                (label, int(token), float(probability))
                for label, token, probability in zip(table.top_tokens[query], table.top_ids[query], table.top_probabilities[query])
            ],
        )


def axis_prefix(axis: TokenAxis, length: int) -> TokenAxis:
    """The first ``length`` tokens of ``axis``: the decoder keys one step's query could see."""
    return TokenAxis(
        ids=np.asarray(axis.ids)[:length],
        tokens=list(axis.tokens[:length]),
        special=np.asarray(axis.special, dtype=bool)[:length],
        padding=np.asarray(axis.padding, dtype=bool)[:length],
        template=None if axis.template is None else np.asarray(axis.template, dtype=bool)[:length],
    )


@dataclass(frozen=True)
class BarRow:
    """One attention row as a bar chart draws it."""

    values: np.ndarray  # (K,) float64, K the keys shown
    keys: TokenAxis  # the tokens the bars stand for
    layer: int
    head: int | None  # None: the mean over heads
    filtered: bool  # special and padding keys were dropped and the rows renormalised


def bar_row(rows: np.ndarray, keys: TokenAxis, layer: int, head: int | None, hide_special: bool = False) -> BarRow:
    """The row of ``(L, H, K)`` rows over ``keys`` at ``layer`` and ``head`` (None: the mean over
    heads), with the layer and head clamped to what the rows hold.

    With ``hide_special`` the special and padding keys are dropped and each head's row is
    renormalised over the keys that remain before the mean, as in the heatmaps
    (``aggregation.kept_keys`` decides; a row of special keys only is shown unfiltered).
    """
    layer = min(max(layer, 0), rows.shape[0] - 1)
    keep = kept_keys(keys) if hide_special else None
    heads = drop_keys(np.asarray(rows[layer], dtype=np.float32), keep)  # (H, K kept)
    if head is None:
        values = mean_over_heads(heads, axis=0)
    else:
        head = min(max(head, 0), rows.shape[1] - 1)
        values = heads[head]
    return BarRow(np.asarray(values, dtype=np.float64), filtered_axis(keys, keep), layer, head, keep is not None)
