"""The transformer: an encoder stack, a decoder stack, or both, sharing one token table.

``encode`` and ``decode`` are separate so generation encodes the source once. With
``need_weights=True`` each stack also returns every layer's attention weights and
scores as ``(B, L, H, Tq, Tk)``: the trace is a by-product of the same forward. One
buffer per stack is allocated before the first layer (at the ``trace_dtype`` asked for,
e.g. float16) and each layer's attention writes its matrices straight into its slot, so
a long input never holds every layer's float32 matrices and a stacked copy of them. With an
``overview_side``, each layer's float32 weights are also max-pooled to at most that many
cells a side while they exist, so a viewer's thumbnails of a long input cost nothing
after the forward (pooling the stored, possibly float16, copy later takes seconds).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import AttentionResult, TraceSlots
from .config import ModelConfig
from .layers import DecoderLayer, EncoderLayer, make_norm
from .overview import pool_max
from .positions import InputEmbedding, RelativePositionBias


class AttentionStack(NamedTuple):
    """Every layer's attention of one kind: weights and scores, ``(B, L, H, Tq, Tk)``.

    With an overview side: ``overview`` ``(B, L, H, q, k)`` holds each head's weights
    max-pooled to at most that side, ``overview_means`` ``(B, L, q, k)`` each layer's
    mean over heads pooled the same way (float32 both).
    """

    weights: Tensor
    scores: Tensor
    overview: Tensor | None = None
    overview_means: Tensor | None = None


class EncoderOutput(NamedTuple):
    hidden: Tensor  # (B, T, d_model)
    self_attention: AttentionStack | None


class DecoderOutput(NamedTuple):
    hidden: Tensor  # (B, T, d_model)
    self_attention: AttentionStack | None
    cross_attention: AttentionStack | None


class TraceBuffer:
    """Every layer's weights and scores of one attention kind, written into place.

    ``slots`` allocates the ``(B, L, H, Tq, Tk)`` pair on first use, in ``dtype`` (None:
    float32, the compute dtype), and hands each layer its ``(B, H, Tq, Tk)`` views, which
    the attention fills. ``add`` then stores only what the attention could not write in
    place (float32 weights bound for a float16 buffer) and pools the overview.
    """

    def __init__(self, n_layers: int, dtype: torch.dtype | None, overview_side: int | None = None) -> None:
        self.n_layers = n_layers
        self.dtype = dtype
        self.overview_side = overview_side
        self.weights: Tensor | None = None
        self.scores: Tensor | None = None
        self.overview: Tensor | None = None
        self.overview_means: Tensor | None = None

    def slots(self, layer: int, shape: tuple[int, int, int, int], device: torch.device) -> TraceSlots:
        """Where layer ``layer``'s ``(B, H, Tq, Tk)`` weights and scores go."""
        if self.weights is None:
            B, H, Tq, Tk = shape
            # Layer-major storage: each layer's slot is one contiguous block, which
            # matmul and softmax can write into directly.
            storage = (self.n_layers, B, H, Tq, Tk)
            dtype = self.dtype or torch.float32
            self.weights = torch.empty(storage, dtype=dtype, device=device).transpose(0, 1)  # (B, L, H, Tq, Tk)
            self.scores = torch.empty(storage, dtype=dtype, device=device).transpose(0, 1)  # (B, L, H, Tq, Tk)
        assert self.scores is not None
        return TraceSlots(self.weights[:, layer], self.scores[:, layer])

    def add(self, layer: int, result: AttentionResult | None) -> None:
        if result is None or result.weights is None or result.scores is None or self.weights is None:
            return
        assert self.scores is not None
        weights_slot, scores_slot = self.weights[:, layer], self.scores[:, layer]
        if result.weights.data_ptr() != weights_slot.data_ptr():
            weights_slot.copy_(result.weights)
        if result.scores.data_ptr() != scores_slot.data_ptr():
            scores_slot.copy_(result.scores)
        if self.overview_side is not None:
            self._add_overview(layer, result.weights)

    def _add_overview(self, layer: int, weights: Tensor) -> None:
        heads = pool_max(weights, self.overview_side)  # (B, H, q, k)
        means = pool_max(weights.mean(dim=1, keepdim=True), self.overview_side)  # (B, 1, q, k)
        if self.overview is None:
            B, H, q, k = heads.shape
            self.overview = heads.new_empty((B, self.n_layers, H, q, k), dtype=torch.float32)
            self.overview_means = heads.new_empty((B, self.n_layers, q, k), dtype=torch.float32)
        assert self.overview_means is not None
        self.overview[:, layer].copy_(heads)
        self.overview_means[:, layer].copy_(means[:, 0])

    def stack(self) -> AttentionStack | None:
        if self.weights is None or self.scores is None:
            return None
        return AttentionStack(self.weights, self.scores, self.overview, self.overview_means)


def causal_mask(n: int, device: torch.device) -> Tensor:
    """``(n, n)``, True on and below the diagonal."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed = InputEmbedding(config)
        self.relative_bias = RelativePositionBias(config, bidirectional=True) if config.positions == "relative" else None
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_encoder_layers))
        self.n_heads = config.n_heads
        self.final_norm = make_norm(config) if config.final_norm else None

    def forward(
        self,
        token_embeddings: Tensor,
        padding_mask: Tensor,
        type_ids: Tensor | None,
        need_weights: bool,
        trace_dtype: torch.dtype | None = None,
        overview_side: int | None = None,
    ) -> EncoderOutput:
        x = self.embed(token_embeddings, padding_mask, type_ids)
        T = x.size(1)
        # Without padding every key is visible: no mask means no (Tq, Tk) masking pass.
        mask = None if bool(padding_mask.all()) else padding_mask[:, None, None, :]  # (B, 1, 1, Tk)
        bias = self.relative_bias(T, T) if self.relative_bias is not None else None
        trace = TraceBuffer(len(self.layers), trace_dtype, overview_side)
        for index, layer in enumerate(self.layers):
            slots = trace.slots(index, (x.size(0), self.n_heads, T, T), x.device) if need_weights else None
            x, result = layer(x, mask, bias, need_weights, slots)
            trace.add(index, result)
            del result  # copied into the trace: free this layer's matrices before the next
        if self.final_norm is not None:
            x = self.final_norm(x)
        return EncoderOutput(x, trace.stack())


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        with_cross = config.architecture == "encoder-decoder"
        self.embed = InputEmbedding(config)
        self.relative_bias = RelativePositionBias(config, bidirectional=False) if config.positions == "relative" else None
        self.layers = nn.ModuleList(DecoderLayer(config, with_cross) for _ in range(config.n_decoder_layers))
        self.n_heads = config.n_heads
        self.cross_attention = with_cross
        self.final_norm = make_norm(config) if config.final_norm else None

    def forward(
        self,
        token_embeddings: Tensor,
        padding_mask: Tensor,
        memory: Tensor | None,
        memory_mask: Tensor | None,
        need_weights: bool,
        trace_dtype: torch.dtype | None = None,
        overview_side: int | None = None,
    ) -> DecoderOutput:
        x = self.embed(token_embeddings, padding_mask)
        T = x.size(1)
        self_mask = causal_mask(T, x.device)[None, None] & padding_mask[:, None, None, :]  # (B, 1, Tq, Tk)
        cross_mask = None
        if memory_mask is not None and not bool(memory_mask.all()):
            cross_mask = memory_mask[:, None, None, :]  # (B, 1, 1, Tk)
        bias = self.relative_bias(T, T) if self.relative_bias is not None else None
        self_trace = TraceBuffer(len(self.layers), trace_dtype, overview_side)
        cross_trace = TraceBuffer(len(self.layers), trace_dtype, overview_side)
        B = x.size(0)
        for index, layer in enumerate(self.layers):
            self_slots = cross_slots = None
            if need_weights:
                self_slots = self_trace.slots(index, (B, self.n_heads, T, T), x.device)
                if memory is not None and self.cross_attention:
                    cross_slots = cross_trace.slots(index, (B, self.n_heads, T, memory.size(1)), x.device)
            x, self_result, cross_result = layer(
                x, self_mask, bias, memory, cross_mask, need_weights, self_slots, cross_slots
            )
            self_trace.add(index, self_result)
            cross_trace.add(index, cross_result)
            del self_result, cross_result  # copied: free them before the next layer runs
        if self.final_norm is not None:
            x = self.final_norm(x)
        return DecoderOutput(x, self_trace.stack(), cross_trace.stack())


class Transformer(nn.Module):
    """Encoder-only, decoder-only or encoder–decoder, as the config says."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = Encoder(config) if config.has_encoder else None
        self.decoder = Decoder(config) if config.has_decoder else None
        wants_head = config.lm_head and not config.tie_embeddings
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False) if wants_head else None
        if config.lm_head and config.final_logits_bias:
            self.final_logits_bias = nn.Parameter(torch.zeros(config.vocab_size))
        else:
            self.final_logits_bias = None

    @staticmethod
    def no_padding(ids: Tensor) -> Tensor:
        """A padding mask that keeps every token: a pad id typed by a user is still text.
        Batches built with padding pass their own mask (True for real tokens)."""
        return torch.ones(ids.shape, dtype=torch.bool, device=ids.device)

    def encode(
        self,
        ids: Tensor,
        padding_mask: Tensor | None = None,
        type_ids: Tensor | None = None,
        need_weights: bool = False,
        trace_dtype: torch.dtype | None = None,
        overview_side: int | None = None,
    ) -> EncoderOutput:
        """ids: ``(B, T)`` token ids of the source.

        ``trace_dtype`` is the dtype the returned attention stack is stored in (None: the
        dtype it was computed in); the forward itself always computes at full precision.
        ``overview_side`` adds max-pooled overviews to the stack (see ``AttentionStack``).
        """
        if self.encoder is None:
            raise ValueError("this model has no encoder")
        if padding_mask is None:
            padding_mask = self.no_padding(ids)
        return self.encoder(self.embed_tokens(ids), padding_mask, type_ids, need_weights, trace_dtype, overview_side)

    def decode(
        self,
        ids: Tensor,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
        padding_mask: Tensor | None = None,
        need_weights: bool = False,
        trace_dtype: torch.dtype | None = None,
        overview_side: int | None = None,
    ) -> DecoderOutput:
        """ids: ``(B, T)`` decoder input; memory: the encoder output ``(B, Tk, d_model)``.

        ``trace_dtype`` and ``overview_side``: as for ``encode``.
        """
        if self.decoder is None:
            raise ValueError("this model has no decoder")
        if padding_mask is None:
            padding_mask = self.no_padding(ids)
        return self.decoder(
            self.embed_tokens(ids), padding_mask, memory, memory_mask, need_weights, trace_dtype, overview_side
        )

    def logits(self, hidden: Tensor) -> Tensor:
        """Next-token logits ``(B, T, vocab)`` from decoder hidden states."""
        if not self.config.lm_head:
            raise ValueError("this model has no language-model head")
        if self.lm_head is not None:
            logits = self.lm_head(hidden)
        else:
            if self.config.tied_output_scale:
                hidden = hidden * self.config.d_model**-0.5
            logits = F.linear(hidden, self.embed_tokens.weight)
        if self.final_logits_bias is not None:
            logits = logits + self.final_logits_bias
        return logits

    def forward(
        self,
        source_ids: Tensor | None = None,
        decoder_ids: Tensor | None = None,
        source_padding_mask: Tensor | None = None,
        decoder_padding_mask: Tensor | None = None,
        type_ids: Tensor | None = None,
        need_weights: bool = False,
        trace_dtype: torch.dtype | None = None,
        overview_side: int | None = None,
    ) -> tuple[EncoderOutput | None, DecoderOutput | None]:
        """Run whichever stacks the architecture has on the inputs given."""
        encoded = decoded = None
        if self.encoder is not None and source_ids is not None:
            if source_padding_mask is None:
                source_padding_mask = self.no_padding(source_ids)
            encoded = self.encode(source_ids, source_padding_mask, type_ids, need_weights, trace_dtype, overview_side)
        if self.decoder is not None and decoder_ids is not None:
            memory = encoded.hidden if encoded is not None else None
            memory_mask = source_padding_mask if encoded is not None else None
            decoded = self.decode(
                decoder_ids, memory, memory_mask, decoder_padding_mask, need_weights, trace_dtype, overview_side
            )
        return encoded, decoded


# Module classes the network is built from whose constructors draw random weights.
_INITIALISED_MODULES = (nn.Linear, nn.Embedding, nn.LayerNorm, nn.RMSNorm)


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every state-dict tensor of ``Transformer(config)``, allocating nothing.

    The network is built on the ``meta`` device with the modules' random initialisers
    switched off: they would fill nothing there, and the first one alone costs about a
    second of PyTorch's lazy imports — on the path to the app's first painted window.
    """
    originals = {module: module.reset_parameters for module in _INITIALISED_MODULES}
    try:
        for module in _INITIALISED_MODULES:
            module.reset_parameters = lambda self: None
        with torch.device("meta"):
            network = Transformer(config)
    finally:
        for module, reset in originals.items():
            module.reset_parameters = reset
    return {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()}
