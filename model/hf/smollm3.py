"""SmolLM3: a Llama-like decoder whose layers mix rotary positions with none (NoPE).

``no_rope_layers`` holds 1 for each layer that applies rotary positions and 0 for one
that adds none (by default every ``no_rope_layer_interval``-th layer); with
``use_sliding_window``, the ``sliding_attention`` layers (in the older layout: the NoPE
layers) attend within ``sliding_window``.
"""

from __future__ import annotations

from ..config import ModelConfig
from .decoders import NAMES, decoder_family, read_layer_windows
from .llama import llama_fields
from .mapping import ConfigReader


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    fields = llama_fields(reader, keys, tied_default=True)
    n_layers = fields["n_decoder_layers"]
    flags = reader.values.get("no_rope_layers")
    if flags is None:
        interval = reader.int("no_rope_layer_interval", 4)
        reader.refuse_if(interval <= 0, f"no_rope_layer_interval must be positive, got {interval}")
        flags = [int((layer + 1) % interval != 0) for layer in range(n_layers)]
    if not isinstance(flags, list) or len(flags) != n_layers or any(flag not in (0, 1) or flag is True or flag is False for flag in flags):
        raise reader.fail(f"no_rope_layers must list 0 or 1 for each of the {n_layers} layers, got {flags!r}")
    fields["rope_layers"] = tuple(bool(flag) for flag in flags)
    if reader.bool("use_sliding_window", False):
        fields["layer_windows"] = read_layer_windows(reader, n_layers, lambda layer: not flags[layer])
    return reader.model_config(NAMES, **fields)


SMOLLM3 = decoder_family("smollm3", _config)
