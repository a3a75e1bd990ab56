"""Gemma, Gemma 2 and Gemma 3 (text): Llama-like decoders with Gemma's own details.

All three scale the token embeddings by √d_model (transformers casts the factor to the
hidden dtype; the project computes in float32, where it is the float32 value, as in a
float32 reference — a bf16 checkpoint run in bf16 by transformers would scale by a
rounder number), store their RMS norm weights as
w − 1 (the norm multiplies by 1 + w), use a tanh-GELU gated feed-forward (GeGLU) and set
``head_dim`` independently of ``hidden_size``; the small models use multi-query attention.
Gemma 2 adds soft-capping of the attention logits (before the softmax; the trace shows
the capped scores) and of the final logits, scores scaled by ``query_pre_attn_scalar``
instead of ``head_dim``, norms before and after both sub-layers, and sliding-window
layers alternating with global ones. Gemma 3 adds a per-head QK-norm, and its local
(sliding) and global layers have different rotary bases (``rope_local_base_freq``) and
scalings; which layers are local follows ``layer_types`` or ``sliding_window_pattern``.
"""

from __future__ import annotations

from ..config import ModelConfig
from .decoders import NAMES, PRE_NORMS, base_fields, decoder_family, read_layer_windows, read_rotary
from .mapping import ACTIVATIONS, ConfigReader

SANDWICH_NORMS = (
    ("self_attn_residual.norm", "input_layernorm"),
    ("self_attn_residual.post_norm", "post_attention_layernorm"),
    ("ffn_residual.norm", "pre_feedforward_layernorm"),
    ("ffn_residual.post_norm", "post_feedforward_layernorm"),
)


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str, version: int) -> ModelConfig:
    fields = base_fields(reader, keys, tied_default=True)
    activation_key = "hidden_act" if version == 1 else "hidden_activation"
    activation = reader.str(activation_key, "gelu_pytorch_tanh")
    if version == 1 and activation == "gelu":
        activation = "gelu_pytorch_tanh"  # transformers' reading of Gemma's legacy "gelu"
    reader.refuse_if(activation not in ACTIVATIONS, f"the activation {activation_key} = {activation!r} is not supported")
    fields["activation"] = ACTIVATIONS[activation]
    attention_bias = reader.bool("attention_bias", False)
    fields.update(
        qkv_bias=attention_bias,
        out_bias=attention_bias,
        ffn_bias=False,
        norm_offset=1.0,
        scale_embedding=True,
        d_head=reader.int("head_dim", 256),
    )
    max_positions = fields["max_positions"]
    if version == 1:
        fields["rotary"] = read_rotary(reader, max_positions)
        return reader.model_config(NAMES, **fields)
    reader.refuse_if(
        reader.values.get("use_bidirectional_attention") not in (None, False), "Gemma models with bidirectional attention are not supported"
    )
    fields.update(
        norm_placement="sandwich",
        score_scale=reader.float("query_pre_attn_scalar", 256) ** -0.5,
        attention_softcap=_optional_number(reader, "attn_logit_softcapping", 50.0 if version == 2 else None),
        logit_softcap=_optional_number(reader, "final_logit_softcapping", 30.0 if version == 2 else None),
    )
    n_layers = fields["n_decoder_layers"]
    if version == 2:
        fields["rotary"] = read_rotary(reader, max_positions)
        fields["layer_windows"] = read_layer_windows(reader, n_layers, lambda layer: layer % 2 == 0)
    else:
        pattern = reader.int("sliding_window_pattern", reader.int("_sliding_window_pattern", 6))
        reader.refuse_if(pattern <= 0, f"sliding_window_pattern must be positive, got {pattern}")
        fields.update(
            qk_norm="head",
            rotary=read_rotary(reader, max_positions, "full_attention", default_theta=1_000_000.0),
            local_rotary=read_rotary(
                reader, max_positions, "sliding_attention", default_theta=10_000.0, theta_key="rope_local_base_freq"
            ),
            layer_windows=read_layer_windows(reader, n_layers, lambda layer: bool((layer + 1) % pattern)),
        )
    return reader.model_config(NAMES, **fields)


def _optional_number(reader: ConfigReader, name: str, default: float | None) -> float | None:
    value = reader.values.get(name, default)
    return None if value is None else reader.float(name, default)


GEMMA = decoder_family("gemma", lambda reader, keys, prefix: _config(reader, keys, prefix, version=1), PRE_NORMS)
GEMMA2 = decoder_family("gemma2", lambda reader, keys, prefix: _config(reader, keys, prefix, version=2), SANDWICH_NORMS)
GEMMA3_TEXT = decoder_family(
    "gemma3_text", lambda reader, keys, prefix: _config(reader, keys, prefix, version=3), SANDWICH_NORMS
)
