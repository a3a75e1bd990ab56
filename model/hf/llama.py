"""Llama and Mistral: pre-RMS-norm decoders with SwiGLU, rotary positions and grouped-query attention.

Llama's attention may have biases (``attention_bias``: q, k, v and o) and so may its MLP
(``mlp_bias``); ``head_dim`` may be set independently of ``hidden_size``; the rotary
positions may be scaled (``linear``, ``dynamic``, ``llama3``, ``yarn``, ``longrope``).
Mistral is the same network with a sliding window on every layer (``sliding_window``).
"""

from __future__ import annotations

from ..config import ModelConfig
from .decoders import NAMES, base_fields, decoder_family, read_layer_windows, read_rotary
from .mapping import ConfigReader


def llama_fields(reader: ConfigReader, keys: frozenset[str], tied_default: bool) -> dict:
    """The ``ModelConfig`` fields of a Llama-architecture config: the shared ones, its optional
    attention and MLP biases, and its rotary positions (SmolLM3 starts from these too)."""
    fields = base_fields(reader, keys, tied_default=tied_default)
    attention_bias = reader.bool("attention_bias", False)
    fields.update(
        qkv_bias=attention_bias,
        out_bias=attention_bias,
        ffn_bias=reader.bool("mlp_bias", False),
        rotary=read_rotary(reader, fields["max_positions"]),
    )
    return fields


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str, mistral: bool) -> ModelConfig:
    fields = llama_fields(reader, keys, tied_default=False)
    if mistral:
        fields["layer_windows"] = read_layer_windows(reader, fields["n_decoder_layers"], lambda layer: True)
    return reader.model_config(NAMES, **fields)


LLAMA = decoder_family("llama", lambda reader, keys, prefix: _config(reader, keys, prefix, mistral=False))
MISTRAL = decoder_family("mistral", lambda reader, keys, prefix: _config(reader, keys, prefix, mistral=True))
