"""What the Llama-like decoders share: rotary settings, layer types and the tensor map.

Llama, Mistral, Qwen 2/3, Gemma 1/2/3, OLMo 2 and SmolLM3 store the same decoder under
the same names (``model.layers.{i}.self_attn.q_proj``, ``mlp.gate_proj``,
``input_layernorm``, …) and differ in a few config fields and norms; each family module
says which. Both on-disk layouts of ``config.json`` are read: the current one
(``rope_parameters``, possibly one per layer type, and ``layer_types``) and the older one
(top-level ``rope_theta`` and ``rope_scaling``, ``rope_local_base_freq``,
``sliding_window_pattern``, ``use_sliding_window`` / ``max_window_layers``).
"""

from __future__ import annotations

from typing import Any, Callable

from ..config import ModelConfig
from ..rotary import Rotary
from .mapping import ConfigReader, Family, Source, in_vocabulary, linear, norm, source

NAMES = {
    "d_model": "hidden_size",
    "n_heads": "num_attention_heads",
    "n_kv_heads": "num_key_value_heads",
    "d_head": "head_dim",
    "d_ff": "intermediate_size",
    "n_decoder_layers": "num_hidden_layers",
    "max_positions": "max_position_embeddings",
    "norm_eps": "rms_norm_eps",
    "layer_windows": "layer_types",
    "rope_layers": "no_rope_layers",
}
LAYER_TYPES = ("full_attention", "sliding_attention")
_ROPE_NUMBERS = ("factor", "low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow", "attention_factor",
                 "mscale", "mscale_all_dim")


def read_rotary(
    reader: ConfigReader,
    max_positions: int,
    layer_type: str | None = None,
    default_theta: float = 10000.0,
    theta_key: str = "rope_theta",
    old_scaling_for_local: bool = False,
    aliases: dict[str, str] | None = None,
) -> Rotary:
    """The rotary settings of ``config.json`` (of one layer type when they are per type).

    ``theta_key`` is where the older layout keeps this layer type's base
    (``rope_local_base_freq`` for Gemma 3's local layers); ``aliases`` renames a family's
    historical rope types (Phi-3's ``su``).
    """
    values = reader.values
    parameters = values.get("rope_parameters")
    if isinstance(parameters, dict) and layer_type is not None and set(parameters) & set(LAYER_TYPES):
        parameters = parameters.get(layer_type)
    elif parameters is None:  # the older layout: one rope_scaling, for global layers (or all)
        global_layer = layer_type in (None, "full_attention") or old_scaling_for_local
        parameters = values.get("rope_scaling") if global_layer else None
    parameters = dict(parameters or {})
    if not all(isinstance(key, str) for key in parameters):
        raise reader.fail("rope_parameters must be an object")
    kind = parameters.get("rope_type", parameters.get("type", "default"))
    theta = parameters.get("rope_theta", values.get(theta_key, default_theta))
    fraction = parameters.get("partial_rotary_factor", values.get("partial_rotary_factor", 1.0))
    for name, value in (("rope_theta", theta), ("partial_rotary_factor", fraction)) + tuple(
        (name, parameters.get(name)) for name in _ROPE_NUMBERS
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise reader.fail(f"the rotary {name} must be a number, got {value!r}")
    if not isinstance(kind, str):
        raise reader.fail(f"the rope type must be a string, got {kind!r}")
    kind = (aliases or {}).get(kind, kind)
    # Phi-3 keeps its pretraining length beside rope_parameters, and it takes priority there.
    original = values.get("original_max_position_embeddings", parameters.get("original_max_position_embeddings"))
    if original is not None and (isinstance(original, bool) or not isinstance(original, int)):
        raise reader.fail(f"original_max_position_embeddings must be an integer, got {original!r}")
    if kind == "dynamic" or original is None:
        original = max_positions  # Hugging Face's dynamic scaling counts from max_position_embeddings
    factor = parameters.get("factor")
    if factor is None:
        factor = max_positions / original if kind in ("yarn", "longrope") and isinstance(original, int) and original else 1.0
    if kind == "default":
        factor = 1.0  # Hugging Face ignores a factor given with default rope
    fields: dict[str, Any] = {
        name: float(parameters[name]) for name in _ROPE_NUMBERS[1:] if parameters.get(name) is not None
    }
    for name in ("short_factor", "long_factor"):
        factors = parameters.get(name)
        if factors is not None:
            if not isinstance(factors, list) or not all(
                isinstance(f, (int, float)) and not isinstance(f, bool) for f in factors
            ):
                raise reader.fail(f"the rotary {name} must be a list of numbers")
            fields[name] = tuple(float(f) for f in factors)
    truncate = parameters.get("truncate", True)
    if not isinstance(truncate, bool):
        raise reader.fail(f"the rotary truncate must be true or false, got {truncate!r}")
    return Rotary(
        theta=float(theta),
        kind=kind,
        factor=float(factor),
        original_max_positions=original,
        fraction=float(fraction),
        truncate=truncate,
        **fields,
    )


def read_layer_windows(reader: ConfigReader, n_layers: int, old_sliding: Callable[[int], bool]) -> tuple[int | None, ...]:
    """Each layer's window from ``layer_types`` and ``sliding_window``; configs without
    ``layer_types`` say which layers slide by ``old_sliding(layer)``."""
    window = reader.optional_int("sliding_window")
    types = reader.values.get("layer_types")
    if types is None:
        sliding = [window is not None and old_sliding(i) for i in range(n_layers)]
    else:
        if not isinstance(types, list) or len(types) != n_layers or any(t not in LAYER_TYPES for t in types):
            raise reader.fail(f"layer_types must list {n_layers} of {', '.join(LAYER_TYPES)}, got {types!r}")
        sliding = [t == "sliding_attention" for t in types]
        if any(sliding) and window is None:
            raise reader.fail("layer_types names sliding_attention layers but sliding_window is not set")
    if not any(sliding):
        return ()
    return tuple(window if slides else None for slides in sliding)


def base_fields(reader: ConfigReader, keys: frozenset[str], tied_default: bool) -> dict[str, Any]:
    """The ModelConfig fields every Llama-like decoder reads the same way."""
    vocab_size = reader.int("vocab_size", 32000)
    max_positions = reader.int("max_position_embeddings", 2048)
    eos = reader.token_id("eos_token_id", 2)
    bos = in_vocabulary(reader.token_id("bos_token_id", 1), vocab_size)
    pad = in_vocabulary(reader.token_id("pad_token_id"), vocab_size)
    tied = reader.bool("tie_word_embeddings", tied_default) or "lm_head.weight" not in keys
    return dict(
        architecture="decoder",
        vocab_size=vocab_size,
        d_model=reader.int("hidden_size", 4096),
        n_heads=reader.int("num_attention_heads", 32),
        d_head=reader.optional_int("head_dim"),
        n_kv_heads=reader.optional_int("num_key_value_heads"),
        d_ff=reader.int("intermediate_size", 11008),
        n_decoder_layers=reader.int("num_hidden_layers", 32),
        max_positions=max_positions,
        norm="rmsnorm",
        norm_eps=reader.float("rms_norm_eps", 1e-6),
        norm_placement="pre",
        final_norm=True,
        activation=reader.activation("hidden_act", "silu"),
        gated_ffn=True,
        bias=False,
        positions="rotary",
        tie_embeddings=tied,
        # These decoders have no pad token more often than not; it only fills finished rows.
        pad_token_id=pad if pad is not None else (in_vocabulary(eos, vocab_size) or 0),
        # A decoder-only trace starts from the text's own ids; BOS is only a fallback start
        # (Qwen's configs may name neither BOS nor EOS).
        bos_token_id=next((t for t in (bos, in_vocabulary(eos, vocab_size), pad) if t is not None), 0),
        eos_token_id=in_vocabulary(eos, vocab_size),
        decoder_start_token_id=None,
        family=reader.str("model_type"),
    )


# The project's residual norms and the names Llama-like checkpoints give them.
PRE_NORMS = (("self_attn_residual.norm", "input_layernorm"), ("ffn_residual.norm", "post_attention_layernorm"))


def decoder_sources(
    norms: tuple[tuple[str, str], ...] = PRE_NORMS,
) -> Callable[[ModelConfig, str, frozenset[str]], dict[str, Source]]:
    """The tensor map of a Llama-like decoder whose layer norms are named ``norms``."""

    def sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
        found = {"embed_tokens.weight": source(f"{prefix}embed_tokens.weight"), **norm("decoder.final_norm", f"{prefix}norm", bias=False)}
        qkv_bias = config.bias if config.qkv_bias is None else config.qkv_bias
        out_bias = config.bias if config.out_bias is None else config.out_bias
        ffn_bias = config.bias if config.ffn_bias is None else config.ffn_bias
        for i in range(config.n_decoder_layers):
            ours, theirs = f"decoder.layers.{i}", f"{prefix}layers.{i}"
            for name in ("q", "k", "v"):
                found.update(linear(f"{ours}.self_attn.{name}", f"{theirs}.self_attn.{name}_proj", qkv_bias))
            found.update(linear(f"{ours}.self_attn.o", f"{theirs}.self_attn.o_proj", out_bias))
            if config.qk_norm != "none":
                found.update(norm(f"{ours}.self_attn.q_norm", f"{theirs}.self_attn.q_norm", bias=False))
                found.update(norm(f"{ours}.self_attn.k_norm", f"{theirs}.self_attn.k_norm", bias=False))
            for name in ("gate", "up", "down"):
                found.update(linear(f"{ours}.ffn.{name}", f"{theirs}.mlp.{name}_proj", ffn_bias))
            for our_norm, their_norm in norms:
                found.update(norm(f"{ours}.{our_norm}", f"{theirs}.{their_norm}", bias=False))
        if not config.tie_embeddings:
            found["lm_head.weight"] = source("lm_head.weight")
        return found

    return sources


def decoder_family(
    model_type: str,
    build_config: Callable[[ConfigReader, frozenset[str], str], ModelConfig],
    norms: tuple[tuple[str, str], ...] = PRE_NORMS,
) -> Family:
    return Family(
        model_type=model_type,
        prefixes=("model.", ""),
        sentinel="embed_tokens.weight",
        build_config=build_config,
        sources=decoder_sources(norms),
        body=("embed_tokens.", "layers.", "norm."),
        # Older checkpoints store the rotary frequencies as buffers.
        ignored=(r"layers\.\d+\.self_attn\.rotary_emb\.inv_freq",),
    )
