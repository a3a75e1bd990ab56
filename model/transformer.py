"""The transformer: an encoder stack, a decoder stack, or both, sharing one token table.

``encode`` and ``decode`` are separate so generation encodes the source once. Each takes
the model's own inputs and an optional ``recorder`` (``model.recorder``): without one
the attention runs PyTorch's fused kernel and the stacks return only hidden states;
with one each stack also returns every layer's attention weights and scores as
``(B, L, H, Tq, Tk)``, a by-product of the same forward, stored as the recorder says
(dtype, in-place slots, pooled overviews). The stacks pass the recorder's slots to their
layers and hand each layer's returned attention back to it; no option of how attention
is kept reaches the layers.

Each stack also makes, once per forward, what its layers share: the mask of every
distinct attention window (a windowed layer's keys outside the window get -inf scores
and zero weights, in the trace too) and the cos/sin tables of every distinct rotary
setting (``model.rotary``); a layer is handed the ones ``ModelConfig.layer_window`` and
``layer_rotary`` name for it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .layers import DecoderLayer, EncoderLayer, make_norm
from .positions import InputEmbedding, RelativePositionBias
from .recorder import AttentionRecorder, AttentionStack, StackRecording
from .rotary import Rotary, rotary_tables

__all__ = ["AttentionStack", "DecoderOutput", "EncoderOutput", "Transformer", "causal_mask", "parameter_shapes"]


class EncoderOutput(NamedTuple):
    hidden: Tensor  # (B, T, d_model)
    self_attention: AttentionStack | None


class DecoderOutput(NamedTuple):
    hidden: Tensor  # (B, T, d_model)
    self_attention: AttentionStack | None
    cross_attention: AttentionStack | None


def causal_mask(n: int, device: torch.device) -> Tensor:
    """``(n, n)``, True on and below the diagonal."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def window_mask(n: int, window: int, causal: bool, device: torch.device) -> Tensor:
    """``(n, n)``, True where query i may see key j within ``window``: i − window < j (causal;
    the caller adds j ≤ i), or |i − j| ≤ window // 2 (bidirectional)."""
    offset = torch.arange(n, device=device)[:, None] - torch.arange(n, device=device)[None, :]  # (Tq, Tk): i − j
    return offset < window if causal else offset.abs() <= window // 2


class LayerInputs:
    """What a stack's layers share in one forward: window masks and rotary tables, each
    made once, on first use, and handed to every layer that needs it."""

    def __init__(self, config: ModelConfig, base_mask: Tensor | None, n: int, causal: bool, device: torch.device) -> None:
        self.config, self.base_mask, self.n, self.causal, self.device = config, base_mask, n, causal, device
        self._masks: dict[int | None, Tensor | None] = {None: base_mask}
        self._tables: dict[Rotary, tuple[Tensor, Tensor]] = {}

    def mask(self, layer: int) -> Tensor | None:
        """The layer's mask, broadcastable to ``(B, H, Tq, Tk)``; None when every key is visible."""
        window = self.config.layer_window(layer)
        if window not in self._masks:
            band = window_mask(self.n, window, self.causal, self.device)[None, None]  # (1, 1, Tq, Tk)
            self._masks[window] = band if self.base_mask is None else band & self.base_mask
        return self._masks[window]

    def rotary(self, layer: int) -> tuple[Tensor, Tensor] | None:
        settings = self.config.layer_rotary(layer)
        if settings is None:
            return None
        if settings not in self._tables:
            self._tables[settings] = rotary_tables(settings, self.config.head_dim, self.n, self.device)
        return self._tables[settings]


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed = InputEmbedding(config)
        self.relative_bias = RelativePositionBias(config, bidirectional=True) if config.positions == "relative" else None
        self.layers = nn.ModuleList(EncoderLayer(config, i) for i in range(config.n_encoder_layers))
        self.config = config
        self.n_heads = config.n_heads
        self.final_norm = make_norm(config) if config.final_norm else None

    def forward(
        self,
        token_embeddings: Tensor,
        padding_mask: Tensor,
        type_ids: Tensor | None,
        recorder: AttentionRecorder | None = None,
    ) -> EncoderOutput:
        x = self.embed(token_embeddings, padding_mask, type_ids)
        B, T = x.shape[:2]
        # Without padding every key is visible: no mask means no (Tq, Tk) masking pass.
        mask = None if bool(padding_mask.all()) else padding_mask[:, None, None, :]  # (B, 1, 1, Tk)
        bias = self.relative_bias(T, T) if self.relative_bias is not None else None
        shared = LayerInputs(self.config, mask, T, causal=False, device=x.device)
        recording = StackRecording(recorder, len(self.layers))
        for index, layer in enumerate(self.layers):
            slots = recording.slots(index, (B, self.n_heads, T, T), x.device)
            x, attention = layer(x, shared.mask(index), bias, slots, shared.rotary(index))
            recording.keep(index, attention)
            del attention  # kept: free this layer's matrices before the next
            if recorder is not None:
                recorder.layer_done("encoder", index + 1, len(self.layers))
        if self.final_norm is not None:
            x = self.final_norm(x)
        return EncoderOutput(x, recording.stack())


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config = config.stack_config("decoder")  # its own heads and width, if it has them
        with_cross = config.architecture == "encoder-decoder"
        self.embed = InputEmbedding(config)
        self.relative_bias = RelativePositionBias(config, bidirectional=False) if config.positions == "relative" else None
        self.layers = nn.ModuleList(DecoderLayer(config, with_cross, i) for i in range(config.n_decoder_layers))
        self.config = config
        self.n_heads = config.n_heads
        self.cross_attention = with_cross
        self.final_norm = make_norm(config) if config.final_norm else None

    def forward(
        self,
        token_embeddings: Tensor,
        padding_mask: Tensor,
        memory: Tensor | None,
        memory_mask: Tensor | None,
        recorder: AttentionRecorder | None = None,
    ) -> DecoderOutput:
        x = self.embed(token_embeddings, padding_mask)
        B, T = x.shape[:2]
        self_mask = causal_mask(T, x.device)[None, None] & padding_mask[:, None, None, :]  # (B, 1, Tq, Tk)
        cross_mask = None
        if memory_mask is not None and not bool(memory_mask.all()):
            cross_mask = memory_mask[:, None, None, :]  # (B, 1, 1, Tk)
        bias = self.relative_bias(T, T) if self.relative_bias is not None else None
        attends_memory = memory is not None and self.cross_attention
        Tk = memory.size(1) if memory is not None else 0
        shared = LayerInputs(self.config, self_mask, T, causal=True, device=x.device)
        self_recording = StackRecording(recorder, len(self.layers))
        cross_recording = StackRecording(recorder if attends_memory else None, len(self.layers))
        for index, layer in enumerate(self.layers):
            self_slots = self_recording.slots(index, (B, self.n_heads, T, T), x.device)
            cross_slots = cross_recording.slots(index, (B, self.n_heads, T, Tk), x.device)
            x, self_attention, cross_attention = layer(
                x, shared.mask(index), bias, memory, cross_mask, self_slots, cross_slots, shared.rotary(index)
            )
            self_recording.keep(index, self_attention)
            cross_recording.keep(index, cross_attention)
            del self_attention, cross_attention  # kept: free them before the next layer runs
            if recorder is not None:
                recorder.layer_done("decoder", index + 1, len(self.layers))
        if self.final_norm is not None:
            x = self.final_norm(x)
        return DecoderOutput(x, self_recording.stack(), cross_recording.stack())


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
        *,
        recorder: AttentionRecorder | None = None,
    ) -> EncoderOutput:
        """ids: ``(B, T)`` token ids of the source.

        ``recorder`` keeps every layer's attention in ``self_attention`` (see
        ``model.recorder``); None returns only the hidden states, from the fused kernel.
        """
        if self.encoder is None:
            raise ValueError("this model has no encoder")
        if padding_mask is None:
            padding_mask = self.no_padding(ids)
        return self.encoder(self.embed_tokens(ids), padding_mask, type_ids, recorder)

    def decode(
        self,
        ids: Tensor,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
        padding_mask: Tensor | None = None,
        *,
        recorder: AttentionRecorder | None = None,
    ) -> DecoderOutput:
        """ids: ``(B, T)`` decoder input; memory: the encoder output ``(B, Tk, d_model)``.

        ``recorder``: as for ``encode``, for the self- and cross-attention.
        """
        if self.decoder is None:
            raise ValueError("this model has no decoder")
        if padding_mask is None:
            padding_mask = self.no_padding(ids)
        return self.decoder(self.embed_tokens(ids), padding_mask, memory, memory_mask, recorder)

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
        if self.config.logit_softcap is not None:
            cap = self.config.logit_softcap
            logits = torch.tanh(logits / cap) * cap
        return logits

    def forward(
        self,
        source_ids: Tensor | None = None,
        decoder_ids: Tensor | None = None,
        source_padding_mask: Tensor | None = None,
        decoder_padding_mask: Tensor | None = None,
        type_ids: Tensor | None = None,
        *,
        recorder: AttentionRecorder | None = None,
    ) -> tuple[EncoderOutput | None, DecoderOutput | None]:
        """Run whichever stacks the architecture has on the inputs given (``recorder``: see ``encode``)."""
        encoded = decoded = None
        if self.encoder is not None and source_ids is not None:
            if source_padding_mask is None:
                source_padding_mask = self.no_padding(source_ids)
            encoded = self.encode(source_ids, source_padding_mask, type_ids, recorder=recorder)
        if self.decoder is not None and decoder_ids is not None:
            memory = encoded.hidden if encoded is not None else None
            memory_mask = source_padding_mask if encoded is not None else None
            decoded = self.decode(decoder_ids, memory, memory_mask, decoder_padding_mask, recorder=recorder)
        return encoded, decoded


# Module classes the network is built from whose constructors draw random weights.
_INITIALISED_MODULES = (nn.Linear, nn.Embedding, nn.LayerNorm, nn.RMSNorm)


def meta_network(config: ModelConfig) -> Transformer:
    """``Transformer(config)`` on the ``meta`` device: shapes only, nothing allocated.

    The modules' random initialisers are switched off while it is built: they would fill
    nothing there, and the first one alone costs about a second of PyTorch's lazy
    imports — on the path to the app's first painted window.
    """
    originals = {module: module.reset_parameters for module in _INITIALISED_MODULES}
    try:
        for module in _INITIALISED_MODULES:
            module.reset_parameters = lambda self: None
        with torch.device("meta"):
            return Transformer(config)
    finally:
        for module, reset in originals.items():
            module.reset_parameters = reset


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every state-dict tensor of ``Transformer(config)``, allocating nothing."""
    return {name: tuple(tensor.shape) for name, tensor in meta_network(config).state_dict().items()}
