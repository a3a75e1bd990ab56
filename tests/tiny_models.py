"""Tiny seeded models of each architecture, for tests that need a real network quickly."""

from __future__ import annotations

import torch

from model import ModelConfig, Transformer
from model.tasks import BOS, EOS, PAD, build_tokenizer, vocabulary
from model.tokenization import TextTokenizer


def tiny_config(architecture: str = "encoder-decoder", **overrides) -> ModelConfig:
    """Two layers, d_model 32: small enough that every test can build its own."""
    values = dict(
        architecture=architecture,
        vocab_size=len(vocabulary()),
        d_model=32,
        n_heads=4,
        d_ff=64,
        n_encoder_layers=2,
        n_decoder_layers=2,
        max_positions=48,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        decoder_start_token_id=BOS,
    )
    values.update(overrides)
    return ModelConfig(**values)


def tiny_network(config: ModelConfig, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(config).eval()


def task_tokenizer(max_length: int = 48) -> TextTokenizer:
    return TextTokenizer(build_tokenizer(), max_length)
