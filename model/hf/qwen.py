"""Qwen 2 and Qwen 3: Llama-like decoders with their own bias and norm choices.

Qwen 2 biases the query, key and value projections but not the output; with
``use_sliding_window`` the layers from ``max_window_layers`` on attend within
``sliding_window`` (``layer_types`` says which, in the current layout). Qwen 3 drops
those biases (``attention_bias`` puts them on all four) and normalises every head's
query and key with an RMS norm before the rotary positions (QK-norm).
"""

from __future__ import annotations

from ..config import ModelConfig
from .decoders import NAMES, base_fields, decoder_family, read_layer_windows, read_rotary
from .mapping import ConfigReader


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str, qwen3: bool) -> ModelConfig:
    fields = base_fields(reader, keys, tied_default=False)
    if qwen3:
        attention_bias = reader.bool("attention_bias", False)
        fields.update(qkv_bias=attention_bias, out_bias=attention_bias, qk_norm="head")
    else:
        fields.update(qkv_bias=True, out_bias=False)
    fields["rotary"] = read_rotary(reader, fields["max_positions"])
    if reader.bool("use_sliding_window", False):
        first = reader.int("max_window_layers", 28)
        fields["layer_windows"] = read_layer_windows(reader, fields["n_decoder_layers"], lambda layer: layer >= first)
    return reader.model_config(NAMES, **fields)


QWEN2 = decoder_family("qwen2", lambda reader, keys, prefix: _config(reader, keys, prefix, qwen3=False))
QWEN3 = decoder_family("qwen3", lambda reader, keys, prefix: _config(reader, keys, prefix, qwen3=True))
