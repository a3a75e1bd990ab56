"""Recomputed traces, and incremental updates while typing.

``IncrementalTracer`` is what ``AttentionModel.trace`` calls for a recomputed trace. It
runs each stack with ``model.longtrace`` and, when asked to reuse (``trace(...,
reuse=True)``), keeps the last input's runs: its per-layer keys and values (the KV
cache), queries, log-sum-exps, hidden states and overviews.

The next reuse trace diffs **token ids**, not text (byte-level BPE can change the token
before an edit), and keeps the common prefix:

- decoder-only: rows before the first changed token cannot change (causal attention),
  so only the suffix runs, its positions starting at the prefix length; the overview
  keeps its blocks of unchanged rows (``PooledOverview.regrown``).
- encoder–decoder: an unchanged source keeps the encoder's run and trace, and the
  cross-attention keys and values; the decoder then continues as above (a generated
  target is the same generation, so it is reused whole). A changed source runs all.
- encoder-only: bidirectional, every row depends on every token: it runs all.

Rotary scalings whose frequencies depend on the length (dynamic NTK, LongRoPE past the
original length) re-rotate every key when the length changes, so they run all too.

The state is replaced only after a trace finished: a cancelled trace (``TraceCancelled``)
leaves the previous state as it was, and the next trace is exact. One thread at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import ModelConfig
from .longtrace import AttentionRun, StackRun, StackRunner, rotary_is_stable
from .memory import release_freed_memory
from .progress import Progress
from .recomputed import RecomputedArray, RecomputedAttention
from .trace import AttentionMaps

# After a forward over at least this many new tokens, freed blocks are handed back to
# the system (``model.memory``); typing's small forwards skip the walk over the heap.
TRIM_AFTER_TOKENS = 1024

# A recomputed trace always carries an overview (reading one from the maps would cost
# a pass over every cell); this side when the caller asks for none.
DEFAULT_OVERVIEW_SIDE = 64


def common_prefix(old: list[int], new: list[int]) -> int:
    """How many leading token ids two inputs share."""
    n = min(len(old), len(new))
    mismatch = np.flatnonzero(np.asarray(old[:n]) != np.asarray(new[:n]))
    return int(mismatch[0]) if len(mismatch) else n


def recomputed_maps(run: AttentionRun, structure: dict, batch: int = 0) -> AttentionMaps:
    """An ``AttentionMaps`` reading ``run``'s records (batch row ``batch``)."""
    source = RecomputedAttention(run.records, batch)
    return AttentionMaps(
        weights=RecomputedArray(source, "weights"),
        scores=RecomputedArray(source, "scores"),
        overview=run.overview.heads[batch].cpu().numpy(),  # (L, H, q, k)
        overview_means=run.overview.means[batch].cpu().numpy(),  # (L, q, k)
        overview_steps=run.overview.steps,
        **structure,
    )


@dataclass(frozen=True)
class _Previous:
    """The last reuse trace's input and runs."""

    side: int
    source_ids: tuple[int, ...] | None
    encoder: StackRun | None
    encoder_maps: AttentionMaps | None
    decoder_ids: tuple[int, ...] | None
    decoder: StackRun | None
    generated: bool


class IncrementalTracer:
    """Recomputed forwards of one network, continuing the previous input when asked."""

    def __init__(self, network) -> None:
        self.network = network
        self.previous: _Previous | None = None
        # Tokens the last trace ran (the suffix), for callers that report it.
        self.last_run_tokens = 0

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    def _ran(self, tokens: int) -> None:
        self.last_run_tokens = tokens
        if tokens >= TRIM_AFTER_TOKENS:
            release_freed_memory()

    def forget(self) -> None:
        """Drop the kept state (a dense trace or another model setting came between)."""
        self.previous = None

    def _start(self, old: tuple[int, ...] | None, new: list[int], past: StackRun | None) -> int:
        """Where the decoder's forward over ``new`` starts: after the common prefix with ``old``."""
        if old is None or past is None:
            return 0
        start = max(0, min(common_prefix(list(old), new), len(new) - 1))  # at least one token runs
        decoder = self.config.stack_config("decoder")
        if start and not rotary_is_stable(decoder, decoder.n_decoder_layers, len(old), len(new)):
            return 0
        return start

    def decoder_only(self, ids: list[int], side: int | None, progress: Progress | None, reuse: bool, device) -> tuple[StackRun, int]:
        """The decoder's run over ``ids`` and the token it started at."""
        side = side or DEFAULT_OVERVIEW_SIDE
        previous = self.previous if reuse and self.previous is not None and self.previous.side == side else None
        past = previous.decoder if previous is not None else None
        start = self._start(previous.decoder_ids if previous else None, ids, past)
        runner = StackRunner(self.network, self.network.decoder, "decoder", causal=True, side=side, progress=progress)
        run = runner.run(_tensor(ids, device), start=start, past=past if start else None)
        self._ran(len(ids) - start)
        self.previous = _Previous(side, None, None, None, tuple(ids), run, False) if reuse else None
        return run, start

    def encoder_only(self, ids: list[int], type_ids: list[int] | None, side: int | None, progress: Progress | None, device) -> StackRun:
        side = side or DEFAULT_OVERVIEW_SIDE
        runner = StackRunner(self.network, self.network.encoder, "encoder", causal=False, side=side, progress=progress)
        type_tensor = _tensor(type_ids, device) if type_ids is not None else None
        self.previous = None
        run = runner.run(_tensor(ids, device), type_ids=type_tensor)
        self._ran(len(ids))
        return run

    def confirm_generated(self) -> None:
        """Mark the kept decoder ids as greedy generation's from the kept source (a draft
        that its own pass confirmed; until then it was kept as not generated)."""
        if self.previous is not None:
            self.previous = replace(self.previous, generated=True)

    def same_source(self, source_ids: list[int], side: int | None) -> _Previous | None:
        """The previous state when its source was ``source_ids`` at this overview side."""
        side = side or DEFAULT_OVERVIEW_SIDE
        previous = self.previous
        if previous is None or previous.side != side or previous.source_ids != tuple(source_ids):
            return None
        return previous

    def encoder_decoder(
        self,
        source_ids: list[int],
        decoder_ids: list[int],
        generated: bool,
        side: int | None,
        progress: Progress | None,
        reuse: bool,
        encoder_structure: dict,
        device,
    ) -> tuple[StackRun, AttentionMaps, StackRun]:
        """The encoder's run (or the kept one), its maps, and the decoder's run."""
        side = side or DEFAULT_OVERVIEW_SIDE
        previous = self.same_source(source_ids, side) if reuse else None
        if previous is not None and previous.encoder is not None and previous.encoder_maps is not None:
            encoder, encoder_maps = previous.encoder, previous.encoder_maps
            past = previous.decoder
            start = self._start(previous.decoder_ids, decoder_ids, past)
        else:
            runner = StackRunner(self.network, self.network.encoder, "encoder", causal=False, side=side, progress=progress)
            encoder = runner.run(_tensor(source_ids, device))
            encoder_maps = recomputed_maps(encoder.self_attention, encoder_structure)
            past, start = None, 0
        runner = StackRunner(self.network, self.network.decoder, "decoder", causal=True, side=side, progress=progress)
        decoder = runner.run(_tensor(decoder_ids, device), memory=encoder.hidden, start=start, past=past)
        self._ran(len(decoder_ids) - start + (0 if past is not None else len(source_ids)))
        self.previous = (
            _Previous(side, tuple(source_ids), encoder, encoder_maps, tuple(decoder_ids), decoder, generated) if reuse else None
        )
        return encoder, encoder_maps, decoder


def _tensor(ids: list[int], device) -> torch.Tensor:
    return torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
