"""BART and Marian: post-norm encoder–decoders with a shared, tied token table.

BART learns a position table per stack whose first two rows are never used (positions
start at 2), normalises the embeddings and may scale them by √d_model. Marian adds
fixed sinusoids (sines in the first half of the columns, cosines in the second) with
no embedding norm and usually scales its embeddings. Both add ``final_logits_bias``
to the logits, stored as ``(1, vocab)``. The decoder may have its own head count and
feed-forward width (``decoder_attention_heads``, ``decoder_ffn_dim``).
"""

from __future__ import annotations

from ..config import ModelConfig
from .mapping import ConfigReader, Family, Source, flatten, in_vocabulary, linear, norm, source

# BartLearnedPositionalEmbedding's fixed offset (a fairseq legacy).
BART_POSITION_OFFSET = 2


NAMES = {
    "n_heads": "encoder_attention_heads",
    "d_ff": "encoder_ffn_dim",
    "n_decoder_heads": "decoder_attention_heads",
    "d_decoder_ff": "decoder_ffn_dim",
    "n_encoder_layers": "encoder_layers",
    "n_decoder_layers": "decoder_layers",
    "max_positions": "max_position_embeddings",
}


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str, marian: bool) -> ModelConfig:
    model_type = "marian" if marian else "bart"
    vocab_size = reader.int("vocab_size", 58101 if marian else 50265)
    n_heads = reader.int("encoder_attention_heads", 8 if marian else 12)
    d_ff = reader.int("encoder_ffn_dim", 2048 if marian else 3072)
    decoder_heads = reader.int("decoder_attention_heads", n_heads)
    decoder_ff = reader.int("decoder_ffn_dim", d_ff)
    if marian:
        reader.refuse_if(
            not reader.bool("share_encoder_decoder_embeddings", True)
            or reader.int("decoder_vocab_size", vocab_size) != vocab_size,
            "Marian models with separate encoder and decoder vocabularies are not supported",
        )
    pad = reader.token_id("pad_token_id", 58100 if marian else 1)
    tie_word_embeddings = reader.bool("tie_word_embeddings", True)
    return reader.model_config(
        NAMES,
        architecture="encoder-decoder",
        vocab_size=vocab_size,
        d_model=reader.int("d_model", 512 if marian else 768),
        n_heads=n_heads,
        d_ff=d_ff,
        # The decoder's own heads (its cross-attention's too) and width, where they differ.
        n_decoder_heads=decoder_heads if decoder_heads != n_heads else None,
        d_decoder_ff=decoder_ff if decoder_ff != d_ff else None,
        n_encoder_layers=reader.int("encoder_layers", 6 if marian else 12),
        n_decoder_layers=reader.int("decoder_layers", 6 if marian else 12),
        max_positions=reader.int("max_position_embeddings", 512 if marian else 1024),
        norm_eps=1e-5,  # nn.LayerNorm's default, which both families use
        norm_placement="post",
        embedding_norm=not marian,
        final_norm=False,
        activation=reader.activation("activation_function", "swish" if marian else "gelu"),
        positions="sinusoidal" if marian else "learned",
        position_offset=0 if marian else BART_POSITION_OFFSET,
        scale_embedding=reader.bool("scale_embedding", marian),
        tie_embeddings=not (not tie_word_embeddings and "lm_head.weight" in keys),
        final_logits_bias="final_logits_bias" in keys,
        pad_token_id=pad,
        bos_token_id=in_vocabulary(reader.token_id("bos_token_id", None if marian else 0), vocab_size),
        eos_token_id=reader.token_id("eos_token_id", 0 if marian else 2),
        decoder_start_token_id=reader.token_id("decoder_start_token_id", pad if marian else 2),
        family=model_type,
    )


def _attention(ours: str, theirs: str) -> dict[str, Source]:
    found: dict[str, Source] = {}
    for our_name, their_name in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
        found.update(linear(f"{ours}.{our_name}", f"{theirs}.{their_name}"))
    return found


def _sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    found = {
        "embed_tokens.weight": source(
            f"{prefix}shared.weight", f"{prefix}encoder.embed_tokens.weight", f"{prefix}decoder.embed_tokens.weight"
        )
    }
    for stack, n_layers in (("encoder", config.n_encoder_layers), ("decoder", config.n_decoder_layers)):
        theirs_stack = f"{prefix}{stack}"
        if config.positions == "learned":
            found[f"{stack}.embed.positions.weight"] = source(f"{theirs_stack}.embed_positions.weight")
        if config.embedding_norm:
            found.update(norm(f"{stack}.embed.norm", f"{theirs_stack}.layernorm_embedding"))
        for i in range(n_layers):
            ours, theirs = f"{stack}.layers.{i}", f"{theirs_stack}.layers.{i}"
            found.update(_attention(f"{ours}.self_attn", f"{theirs}.self_attn"))
            found.update(norm(f"{ours}.self_attn_residual.norm", f"{theirs}.self_attn_layer_norm"))
            if stack == "decoder":
                found.update(_attention(f"{ours}.cross_attn", f"{theirs}.encoder_attn"))
                found.update(norm(f"{ours}.cross_attn_residual.norm", f"{theirs}.encoder_attn_layer_norm"))
            found.update(linear(f"{ours}.ffn.up", f"{theirs}.fc1"))
            found.update(linear(f"{ours}.ffn.down", f"{theirs}.fc2"))
            found.update(norm(f"{ours}.ffn_residual.norm", f"{theirs}.final_layer_norm"))
    if config.final_logits_bias:
        found["final_logits_bias"] = source("final_logits_bias", file_shape=(1, config.vocab_size), convert=flatten)
    if not config.tie_embeddings:
        found["lm_head.weight"] = source("lm_head.weight")
    return found


BART = Family(
    model_type="bart",
    prefixes=("model.", ""),
    sentinel="encoder.layers.0.fc1.weight",
    build_config=lambda reader, keys, prefix: _config(reader, keys, prefix, marian=False),
    sources=_sources,
    body=("shared.", "encoder.", "decoder."),
    ignored=(r"(encoder|decoder)\.embed_tokens\.weight",),
)

MARIAN = Family(
    model_type="marian",
    prefixes=("model.", ""),
    sentinel="encoder.layers.0.fc1.weight",
    build_config=lambda reader, keys, prefix: _config(reader, keys, prefix, marian=True),
    sources=_sources,
    body=("shared.", "encoder.", "decoder."),
    # Tied copies of the shared table, and the fixed sinusoids older files store.
    ignored=(r"(encoder|decoder)\.embed_tokens\.weight", r"(encoder|decoder)\.embed_positions\.weight"),
)
