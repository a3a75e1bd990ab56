"""OLMo 2: a Llama-like decoder that normalises after its sub-layers and over whole projections.

Each residual step is x + norm(f(x)) (``post_attention_layernorm``,
``post_feedforward_layernorm``; no norm before the sub-layers), and the query and key
projections are RMS-normalised over their full width, before the heads are split and
rotated (QK-norm over the projection, unlike Qwen 3's per head).
"""

from __future__ import annotations

from ..config import ModelConfig
from .decoders import NAMES, base_fields, decoder_family, read_rotary
from .mapping import ConfigReader

AFTER_NORMS = (("self_attn_residual.norm", "post_attention_layernorm"), ("ffn_residual.norm", "post_feedforward_layernorm"))


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    fields = base_fields(reader, keys, tied_default=False)
    attention_bias = reader.bool("attention_bias", False)
    fields.update(
        qkv_bias=attention_bias,
        out_bias=attention_bias,
        ffn_bias=False,
        norm_placement="after",
        qk_norm="projection",
        rotary=read_rotary(reader, fields["max_positions"]),
    )
    return reader.model_config(NAMES, **fields)


OLMO2 = decoder_family("olmo2", _config, AFTER_NORMS)
