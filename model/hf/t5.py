"""T5, original and v1.1: pre-RMS-norm encoder–decoder with a relative position bias.

T5 adds no position embeddings; the first layer of each stack owns a learned bias per
head and distance bucket that every layer reuses. Scores are not divided by √d_head
(the scale is folded into the initialisation) and no projection has a bias. The
original T5 ties the LM head to the embedding and rescales the decoder output by
d_model^-0.5 first; v1.1 uses a gated-GELU feed-forward, and, when saved with a
separate ``lm_head.weight`` and ``tie_word_embeddings: false``, an untied head
without the rescale.
"""

from __future__ import annotations

from ..config import ModelConfig
from .mapping import ACTIVATIONS, ConfigReader, Family, Source, linear, norm, source


NAMES = {
    "n_heads": "num_heads",
    "d_head": "d_kv",
    "n_encoder_layers": "num_layers",
    "n_decoder_layers": "num_decoder_layers",
    "max_positions": "n_positions",
    "relative_buckets": "relative_attention_num_buckets",
    "relative_max_distance": "relative_attention_max_distance",
}


def _feed_forward(reader: ConfigReader) -> tuple[str, bool]:
    """(activation, gated) from ``feed_forward_proj`` ("relu", "gated-gelu", …)."""
    projection = reader.str("feed_forward_proj", "relu")
    parts = projection.split("-")
    gated = len(parts) == 2 and parts[0] == "gated"
    name = parts[-1]
    if projection == "gated-gelu":
        name = "gelu_new"  # Hugging Face's historical meaning of "gated-gelu"
    if len(parts) > 2 or (len(parts) == 2 and not gated) or name not in ACTIVATIONS:
        raise reader.fail(f"feed_forward_proj {projection!r} is not supported")
    return ACTIVATIONS[name], gated


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    vocab_size = reader.int("vocab_size", 32128)
    n_layers = reader.int("num_layers", 6)
    decoder_layers = reader.optional_int("num_decoder_layers")
    activation, gated = _feed_forward(reader)
    tie_word_embeddings = reader.bool("tie_word_embeddings", True)
    # Older configs signal v1.1 by tie_word_embeddings = false; newer ones say it outright.
    scale_output = reader.bool("scale_decoder_outputs", tie_word_embeddings)
    pad = reader.token_id("pad_token_id", 0)
    return reader.model_config(
        NAMES,
        architecture="encoder-decoder",
        vocab_size=vocab_size,
        d_model=reader.int("d_model", 512),
        n_heads=reader.int("num_heads", 8),
        d_head=reader.int("d_kv", 64),
        d_ff=reader.int("d_ff", 2048),
        n_encoder_layers=n_layers,
        n_decoder_layers=decoder_layers if decoder_layers is not None else n_layers,
        # Relative positions have no table; this is the length T5 was trained on.
        max_positions=reader.int("n_positions", 512),
        norm="rmsnorm",
        norm_eps=reader.float("layer_norm_epsilon", 1e-6),
        norm_placement="pre",
        final_norm=True,
        activation=activation,
        gated_ffn=gated,
        bias=False,
        positions="relative",
        relative_buckets=reader.int("relative_attention_num_buckets", 32),
        relative_max_distance=reader.int("relative_attention_max_distance", 128),
        scale_scores=False,
        tie_embeddings=not (not tie_word_embeddings and "lm_head.weight" in keys),
        tied_output_scale=scale_output,
        pad_token_id=pad,
        bos_token_id=None,
        eos_token_id=reader.token_id("eos_token_id", 1),
        decoder_start_token_id=reader.token_id("decoder_start_token_id", pad),
        family="t5",
    )


def _sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    found = {"embed_tokens.weight": source("shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")}
    for stack, n_layers in (("encoder", config.n_encoder_layers), ("decoder", config.n_decoder_layers)):
        found[f"{stack}.relative_bias.bias.weight"] = source(
            f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
        )
        found.update(norm(f"{stack}.final_norm", f"{stack}.final_layer_norm", bias=False))
        for i in range(n_layers):
            ours, theirs = f"{stack}.layers.{i}", f"{stack}.block.{i}.layer"
            for name in ("q", "k", "v", "o"):
                found.update(linear(f"{ours}.self_attn.{name}", f"{theirs}.0.SelfAttention.{name}", bias=False))
            found.update(norm(f"{ours}.self_attn_residual.norm", f"{theirs}.0.layer_norm", bias=False))
            ffn = 1
            if stack == "decoder":
                ffn = 2
                for name in ("q", "k", "v", "o"):
                    found.update(linear(f"{ours}.cross_attn.{name}", f"{theirs}.1.EncDecAttention.{name}", bias=False))
                found.update(norm(f"{ours}.cross_attn_residual.norm", f"{theirs}.1.layer_norm", bias=False))
            dense = f"{theirs}.{ffn}.DenseReluDense"
            if config.gated_ffn:
                found.update(linear(f"{ours}.ffn.gate", f"{dense}.wi_0", bias=False))
                found.update(linear(f"{ours}.ffn.up", f"{dense}.wi_1", bias=False))
            else:
                found.update(linear(f"{ours}.ffn.up", f"{dense}.wi", bias=False))
            found.update(linear(f"{ours}.ffn.down", f"{dense}.wo", bias=False))
            found.update(norm(f"{ours}.ffn_residual.norm", f"{theirs}.{ffn}.layer_norm", bias=False))
    if not config.tie_embeddings:
        found["lm_head.weight"] = source("lm_head.weight")
    return found


T5 = Family(
    model_type="t5",
    prefixes=("",),
    sentinel="encoder.final_layer_norm.weight",
    build_config=_config,
    sources=_sources,
    body=("shared.", "encoder.", "decoder."),
    # Tied copies of the shared embedding.
    ignored=(r"(encoder|decoder)\.embed_tokens\.weight",),
)
