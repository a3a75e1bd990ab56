"""A loaded model with its tokenizer: text in, attention trace out.

``AttentionModel.trace`` is the one call the CLI and the desktop app make. Text goes to
the encoder of encoder-only and encoder–decoder models and to the decoder of
decoder-only ones; an encoder–decoder without a target generates greedily, and the
trace then covers the whole generated sequence.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import ModelConfig
from .generation import greedy_generate
from .tokenization import Encoded, TextTokenizer
from .trace import AttentionMaps, TokenAxis, Trace
from .transformer import AttentionStack, Transformer

DEFAULT_MAX_NEW_TOKENS = 64


class AttentionModel:
    """A network, its tokenizer and a name, on one device."""

    def __init__(self, network: Transformer, tokenizer: TextTokenizer, name: str, source: str = "") -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    @property
    def device(self) -> torch.device:
        return self.network.embed_tokens.weight.device

    def to(self, device: str | torch.device) -> "AttentionModel":
        self.network.to(device)
        return self

    def describe(self) -> str:
        config = self.config
        layers = []
        if config.has_encoder:
            layers.append(f"{config.n_encoder_layers} encoder")
        if config.has_decoder:
            layers.append(f"{config.n_decoder_layers} decoder")
        return (
            f"{config.family} {config.architecture}, {' + '.join(layers)} layers × {config.n_heads} heads, "
            f"d_model {config.d_model}"
        )

    def _axis(self, ids: list[int], tokens: list[str] | None = None, special: list[bool] | None = None) -> TokenAxis:
        if tokens is None:
            tokens = self.tokenizer.tokens(ids)
        if special is None:
            special = [token_id in self.tokenizer.special_ids for token_id in ids]
        return TokenAxis(
            ids=np.asarray(ids, dtype=np.int64),
            tokens=tokens,
            special=np.asarray(special, dtype=bool),
            padding=np.zeros(len(ids), dtype=bool),
        )

    def _tensor(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)

    def decoder_ids(self, target: str) -> tuple[list[int], bool]:
        """``[decoder_start] + target ids`` as the tokenizer encodes them, and whether cut."""
        encoded = self.tokenizer.encode(target)
        ids = [self.config.start_token_id, *encoded.ids][: self.config.max_positions]
        return ids, encoded.truncated or len(encoded.ids) + 1 > self.config.max_positions

    @torch.inference_mode()
    def generate(self, text: str, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[int]:
        """Greedy continuation: for encoder–decoder models the decoder ids from the start token."""
        config = self.config
        if not config.has_decoder or not config.lm_head:
            raise ValueError("this model cannot generate: it has no decoder with a language-model head")
        encoded = self.tokenizer.encode(text)
        if config.architecture == "encoder-decoder":
            ids = greedy_generate(self.network, self._tensor([config.start_token_id]), max_new_tokens, self._tensor(encoded.ids))
        else:
            ids = greedy_generate(self.network, self._tensor(encoded.ids), max_new_tokens)
        return ids[0].tolist()

    @torch.inference_mode()
    def trace(
        self,
        text: str,
        target: str | None = None,
        pair: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    ) -> Trace:
        """Run the model on ``text`` and return every attention matrix it computed.

        Args:
            text: the source (encoder) text, or the whole text for decoder-only models.
            target: encoder–decoder only: the decoder text for teacher forcing. None or
                empty generates greedily.
            pair: encoder-only only: the second segment of a sentence pair.
        """
        config = self.config
        notices: list[str] = []
        encoded = self.tokenizer.encode(text, pair if config.architecture == "encoder" else None)
        if encoded.truncated:
            notices.append(
                f"The input was cut to the model's maximum of {self.tokenizer.max_length} tokens."
            )
        if config.architecture == "encoder":
            return self._trace_encoder(encoded, notices)
        if config.architecture == "decoder":
            return self._trace_decoder(encoded, notices)
        return self._trace_encoder_decoder(encoded, target, max_new_tokens, notices)

    def _trace_encoder(self, encoded: Encoded, notices: list[str]) -> Trace:
        type_ids = torch.tensor([encoded.type_ids], dtype=torch.long, device=self.device) if self.config.type_vocab_size else None
        output = self.network.encode(self._tensor(encoded.ids), type_ids=type_ids, need_weights=True)
        return Trace(
            model_name=self.name,
            architecture=self.config.architecture,
            encoder=self._axis(encoded.ids, encoded.tokens, encoded.special),
            decoder=None,
            attention={"encoder_self": _maps(output.self_attention)},
            notices=notices,
        )

    def _trace_decoder(self, encoded: Encoded, notices: list[str]) -> Trace:
        output = self.network.decode(self._tensor(encoded.ids), need_weights=True)
        return Trace(
            model_name=self.name,
            architecture=self.config.architecture,
            encoder=None,
            decoder=self._axis(encoded.ids, encoded.tokens, encoded.special),
            attention={"decoder_self": _maps(output.self_attention)},
            notices=notices,
        )

    def _trace_encoder_decoder(
        self, encoded: Encoded, target: str | None, max_new_tokens: int, notices: list[str]
    ) -> Trace:
        source = self._tensor(encoded.ids)
        generated = not target
        if generated:
            decoder_ids = self.generate_from_ids(source, max_new_tokens)
        else:
            decoder_ids, cut = self.decoder_ids(target)
            if cut:
                notices.append(f"The target was cut to the model's maximum of {self.config.max_positions} tokens.")
        encoder_output, decoder_output = self.network(source, self._tensor(decoder_ids), need_weights=True)
        return Trace(
            model_name=self.name,
            architecture=self.config.architecture,
            encoder=self._axis(encoded.ids, encoded.tokens, encoded.special),
            decoder=self._axis(decoder_ids),
            attention={
                "encoder_self": _maps(encoder_output.self_attention),
                "decoder_self": _maps(decoder_output.self_attention),
                "cross": _maps(decoder_output.cross_attention),
            },
            generated=generated,
            notices=notices,
        )

    def generate_from_ids(self, source: torch.Tensor, max_new_tokens: int) -> list[int]:
        prefix = self._tensor([self.config.start_token_id])
        return greedy_generate(self.network, prefix, max_new_tokens, source)[0].tolist()


def _maps(stack: AttentionStack | None) -> AttentionMaps:
    assert stack is not None  # need_weights=True always returns a stack
    return AttentionMaps(
        weights=stack.weights[0].float().cpu().numpy(),  # (L, H, Q, K)
        scores=stack.scores[0].float().cpu().numpy(),  # (L, H, Q, K)
    )
