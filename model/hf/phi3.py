"""Phi-3: a Llama-like decoder with fused projections and partial rotary positions.

The query, key and value projections are one ``qkv_proj`` matrix whose rows are
``[q | k | v]`` (``n_heads · head_dim``, then ``n_kv_heads · head_dim`` twice), and the
gate and up projections one ``gate_up_proj`` whose rows are ``[gate | up]``; the map
slices them. Only ``partial_rotary_factor`` of each head's dimensions rotate; the
long-context models scale them with LongRoPE from ``original_max_position_embeddings``;
``sliding_window``, where set, applies to every layer.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from ..config import ModelConfig
from .decoders import NAMES, PRE_NORMS, base_fields, read_layer_windows, read_rotary
from .mapping import ConfigReader, Family, Source, linear, norm, source


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    fields = base_fields(reader, keys, tied_default=False)
    # Early Phi-3 configs call LongRoPE "su" (or "yarn"); transformers reads both as longrope.
    fields["rotary"] = read_rotary(reader, fields["max_positions"], aliases={"su": "longrope", "yarn": "longrope"})
    fields["layer_windows"] = read_layer_windows(reader, fields["n_decoder_layers"], lambda layer: True)
    return reader.model_config(NAMES, **fields)


def rows(start: int, stop: int) -> Callable[[Tensor], Tensor]:
    """Rows ``start:stop`` of a fused ``nn.Linear`` weight ``(d_out, d_in)``."""

    def take(tensor: Tensor) -> Tensor:
        return tensor[start:stop].contiguous()  # (stop - start, d_in)

    return take


def _sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    d, ff = config.d_model, config.d_ff
    q_width, kv_width = config.n_heads * config.head_dim, config.kv_heads * config.head_dim
    bounds = {"q": (0, q_width), "k": (q_width, q_width + kv_width), "v": (q_width + kv_width, q_width + 2 * kv_width)}
    found = {"embed_tokens.weight": source(f"{prefix}embed_tokens.weight"), **norm("decoder.final_norm", f"{prefix}norm", bias=False)}
    for i in range(config.n_decoder_layers):
        ours, theirs = f"decoder.layers.{i}", f"{prefix}layers.{i}"
        for name, (start, stop) in bounds.items():
            found[f"{ours}.self_attn.{name}.weight"] = source(
                f"{theirs}.self_attn.qkv_proj.weight", file_shape=(q_width + 2 * kv_width, d), convert=rows(start, stop)
            )
        found.update(linear(f"{ours}.self_attn.o", f"{theirs}.self_attn.o_proj", bias=False))
        for name, (start, stop) in (("gate", (0, ff)), ("up", (ff, 2 * ff))):
            found[f"{ours}.ffn.{name}.weight"] = source(
                f"{theirs}.mlp.gate_up_proj.weight", file_shape=(2 * ff, d), convert=rows(start, stop)
            )
        found.update(linear(f"{ours}.ffn.down", f"{theirs}.mlp.down_proj", bias=False))
        for our_norm, their_norm in PRE_NORMS:
            found.update(norm(f"{ours}.{our_norm}", f"{theirs}.{their_norm}", bias=False))
    if not config.tie_embeddings:
        found["lm_head.weight"] = source("lm_head.weight")
    return found


PHI3 = Family(
    model_type="phi3",
    prefixes=("model.", ""),
    sentinel="embed_tokens.weight",
    build_config=_config,
    sources=_sources,
    body=("embed_tokens.", "layers.", "norm."),
    ignored=(r"layers\.\d+\.self_attn\.rotary_emb\.inv_freq",),
)
