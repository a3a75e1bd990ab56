"""ModernBERT: a pre-norm encoder with rotary positions and alternating global and local layers.

Every ``global_attn_every_n_layers``-th layer (from layer 0) attends globally with rotary
base ``global_rope_theta``; the others attend within ``local_attention`` tokens (``|i − j|
≤ local_attention // 2``) with base ``local_rope_theta`` (``layer_types`` and per-type
``rope_parameters`` in the current layout). The query, key and value projections are one
``Wqkv`` matrix (rows ``[q | k | v]``), the gated MLP one ``Wi`` (rows ``[activated |
gate]``). LayerNorms have no bias, the embeddings are normalised, and the first layer has
no norm before its attention.
"""

from __future__ import annotations

from ..config import ModelConfig
from .decoders import LAYER_TYPES, read_rotary
from .mapping import ConfigReader, Family, Source, in_vocabulary, linear, norm, source
from .phi3 import rows

NAMES = {
    "d_model": "hidden_size",
    "n_heads": "num_attention_heads",
    "d_ff": "intermediate_size",
    "n_encoder_layers": "num_hidden_layers",
    "max_positions": "max_position_embeddings",
    "layer_windows": "local_attention",
}


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    vocab_size = reader.int("vocab_size", 50368)
    n_layers = reader.int("num_hidden_layers", 22)
    max_positions = reader.int("max_position_embeddings", 8192)
    window = reader.int("local_attention", 128)
    types = reader.values.get("layer_types")
    if types is None:
        every = reader.int("global_attn_every_n_layers", 3)
        reader.refuse_if(every <= 0, f"global_attn_every_n_layers must be positive, got {every}")
        types = ["sliding_attention" if layer % every else "full_attention" for layer in range(n_layers)]
    if not isinstance(types, list) or len(types) != n_layers or any(t not in LAYER_TYPES for t in types):
        raise reader.fail(f"layer_types must list {n_layers} of {', '.join(LAYER_TYPES)}, got {types!r}")
    attention_bias = reader.bool("attention_bias", False)
    pad = reader.token_id("pad_token_id", 50283)
    return reader.model_config(
        NAMES,
        architecture="encoder",
        vocab_size=vocab_size,
        d_model=reader.int("hidden_size", 768),
        n_heads=reader.int("num_attention_heads", 12),
        d_ff=reader.int("intermediate_size", 1152),
        n_encoder_layers=n_layers,
        max_positions=max_positions,
        norm="layernorm",
        norm_eps=reader.float("norm_eps", 1e-5),
        norm_bias=reader.bool("norm_bias", False),
        norm_placement="pre",
        first_attention_norm=False,
        embedding_norm=True,
        final_norm=True,
        activation=reader.activation("hidden_activation", "gelu"),
        gated_ffn=True,
        bias=False,
        qkv_bias=attention_bias,
        out_bias=attention_bias,
        ffn_bias=reader.bool("mlp_bias", False),
        positions="rotary",
        rotary=read_rotary(reader, max_positions, "full_attention", 160_000.0, "global_rope_theta", old_scaling_for_local=True),
        local_rotary=read_rotary(
            reader, max_positions, "sliding_attention", 10_000.0, "local_rope_theta", old_scaling_for_local=True
        ),
        layer_windows=tuple(window if t == "sliding_attention" else None for t in types) if "sliding_attention" in types else (),
        lm_head=False,
        pad_token_id=in_vocabulary(pad, vocab_size) or 0,
        bos_token_id=in_vocabulary(reader.token_id("bos_token_id"), vocab_size),
        eos_token_id=in_vocabulary(reader.token_id("eos_token_id"), vocab_size),
        decoder_start_token_id=None,
        family="modernbert",
    )


def _sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    d, ff, width = config.d_model, config.d_ff, config.n_heads * config.head_dim
    bias = config.norm_bias
    found = {
        "embed_tokens.weight": source(f"{prefix}embeddings.tok_embeddings.weight"),
        **norm("encoder.embed.norm", f"{prefix}embeddings.norm", bias),
        **norm("encoder.final_norm", f"{prefix}final_norm", bias),
    }
    qkv_bias = bool(config.qkv_bias)
    for i in range(config.n_encoder_layers):
        ours, theirs = f"encoder.layers.{i}", f"{prefix}layers.{i}"
        for j, name in enumerate(("q", "k", "v")):
            found[f"{ours}.self_attn.{name}.weight"] = source(
                f"{theirs}.attn.Wqkv.weight", file_shape=(3 * width, d), convert=rows(j * width, (j + 1) * width)
            )
            if qkv_bias:
                found[f"{ours}.self_attn.{name}.bias"] = source(
                    f"{theirs}.attn.Wqkv.bias", file_shape=(3 * width,), convert=rows(j * width, (j + 1) * width)
                )
        found.update(linear(f"{ours}.self_attn.o", f"{theirs}.attn.Wo", bool(config.out_bias)))
        if i > 0:
            found.update(norm(f"{ours}.self_attn_residual.norm", f"{theirs}.attn_norm", bias))
        found.update(norm(f"{ours}.ffn_residual.norm", f"{theirs}.mlp_norm", bias))
        ffn_bias = bool(config.ffn_bias)
        for name, (start, stop) in (("gate", (0, ff)), ("up", (ff, 2 * ff))):
            found[f"{ours}.ffn.{name}.weight"] = source(
                f"{theirs}.mlp.Wi.weight", file_shape=(2 * ff, d), convert=rows(start, stop)
            )
            if ffn_bias:
                found[f"{ours}.ffn.{name}.bias"] = source(f"{theirs}.mlp.Wi.bias", file_shape=(2 * ff,), convert=rows(start, stop))
        found.update(linear(f"{ours}.ffn.down", f"{theirs}.mlp.Wo", ffn_bias))
    return found


MODERNBERT = Family(
    model_type="modernbert",
    prefixes=("model.", ""),
    sentinel="embeddings.tok_embeddings.weight",
    build_config=_config,
    sources=_sources,
    body=("embeddings.", "layers.", "final_norm."),
)
