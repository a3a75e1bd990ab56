"""BERT, RoBERTa and DistilBERT: post-norm encoders with learned positions.

All three normalise the embeddings, add learned absolute positions and place the
LayerNorm after each residual sum. BERT adds segment (token type) embeddings for
sentence pairs; RoBERTa numbers positions from ``pad_token_id + 1`` and only over
non-padding tokens; DistilBERT has neither segments nor an offset.
"""

from __future__ import annotations

from ..config import ModelConfig
from .mapping import ConfigReader, Family, Source, in_vocabulary, linear, norm, source


BERT_NAMES = {
    "d_model": "hidden_size",
    "n_heads": "num_attention_heads",
    "d_ff": "intermediate_size",
    "n_encoder_layers": "num_hidden_layers",
    "max_positions": "max_position_embeddings",
}
DISTILBERT_NAMES = {
    "d_model": "dim",
    "d_ff": "hidden_dim",
    "n_encoder_layers": "n_layers",
    "max_positions": "max_position_embeddings",
}


def _bert_config(reader: ConfigReader, keys: frozenset[str], prefix: str, roberta: bool) -> ModelConfig:
    reader.refuse_if(
        reader.str("position_embedding_type", "absolute") != "absolute",
        f"position_embedding_type {reader.values.get('position_embedding_type')!r} is not supported (only 'absolute')",
    )
    reader.refuse_if(reader.bool("is_decoder", False), "BERT-style models used as decoders (is_decoder) are not supported")
    reader.refuse_if(reader.bool("add_cross_attention", False), "BERT-style models with cross-attention are not supported")
    vocab_size = reader.int("vocab_size", 30522)
    pad = reader.token_id("pad_token_id", 1 if roberta else 0)
    table = reader.int("max_position_embeddings", 512)
    # RoBERTa's table starts at pad_token_id + 1; the rows before it are never used.
    offset = (pad + 1) if roberta and pad is not None else 0
    return reader.model_config(
        BERT_NAMES,
        architecture="encoder",
        vocab_size=vocab_size,
        d_model=reader.int("hidden_size", 768),
        n_heads=reader.int("num_attention_heads", 12),
        d_ff=reader.int("intermediate_size", 3072),
        n_encoder_layers=reader.int("num_hidden_layers", 12),
        max_positions=table - offset,
        norm_eps=reader.float("layer_norm_eps", 1e-12),
        norm_placement="post",
        embedding_norm=True,
        final_norm=False,
        activation=reader.activation("hidden_act", "gelu"),
        positions="learned",
        position_offset=offset,
        positions_skip_padding=roberta,
        type_vocab_size=reader.int("type_vocab_size", 1 if roberta else 2),
        lm_head=False,
        pad_token_id=pad if pad is not None else 0,
        bos_token_id=in_vocabulary(reader.token_id("bos_token_id"), vocab_size),
        eos_token_id=in_vocabulary(reader.token_id("eos_token_id"), vocab_size),
        decoder_start_token_id=None,
        family=reader.str("model_type"),
    )


def _bert_sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    embeddings = f"{prefix}embeddings"
    found = {
        "embed_tokens.weight": source(f"{embeddings}.word_embeddings.weight"),
        "encoder.embed.positions.weight": source(f"{embeddings}.position_embeddings.weight"),
        **norm("encoder.embed.norm", f"{embeddings}.LayerNorm"),
    }
    if config.type_vocab_size:
        found["encoder.embed.types.weight"] = source(f"{embeddings}.token_type_embeddings.weight")
    for i in range(config.n_encoder_layers):
        ours, theirs = f"encoder.layers.{i}", f"{prefix}encoder.layer.{i}"
        found.update(linear(f"{ours}.self_attn.q", f"{theirs}.attention.self.query"))
        found.update(linear(f"{ours}.self_attn.k", f"{theirs}.attention.self.key"))
        found.update(linear(f"{ours}.self_attn.v", f"{theirs}.attention.self.value"))
        found.update(linear(f"{ours}.self_attn.o", f"{theirs}.attention.output.dense"))
        found.update(norm(f"{ours}.self_attn_residual.norm", f"{theirs}.attention.output.LayerNorm"))
        found.update(linear(f"{ours}.ffn.up", f"{theirs}.intermediate.dense"))
        found.update(linear(f"{ours}.ffn.down", f"{theirs}.output.dense"))
        found.update(norm(f"{ours}.ffn_residual.norm", f"{theirs}.output.LayerNorm"))
    return found


def _distilbert_config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    vocab_size = reader.int("vocab_size", 30522)
    return reader.model_config(
        DISTILBERT_NAMES,
        architecture="encoder",
        vocab_size=vocab_size,
        d_model=reader.int("dim", 768),
        n_heads=reader.int("n_heads", 12),
        d_ff=reader.int("hidden_dim", 3072),
        n_encoder_layers=reader.int("n_layers", 6),
        max_positions=reader.int("max_position_embeddings", 512),
        # DistilBERT hard-codes this epsilon instead of reading it from its config.
        norm_eps=1e-12,
        norm_placement="post",
        embedding_norm=True,
        final_norm=False,
        activation=reader.activation("activation", "gelu"),
        # sinusoidal_pos_embds stores its fixed table as weights, so it loads as learned.
        positions="learned",
        lm_head=False,
        pad_token_id=in_vocabulary(reader.token_id("pad_token_id", 0), vocab_size) or 0,
        bos_token_id=None,
        eos_token_id=None,
        decoder_start_token_id=None,
        family="distilbert",
    )


def _distilbert_sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    embeddings = f"{prefix}embeddings"
    found = {
        "embed_tokens.weight": source(f"{embeddings}.word_embeddings.weight"),
        "encoder.embed.positions.weight": source(f"{embeddings}.position_embeddings.weight"),
        **norm("encoder.embed.norm", f"{embeddings}.LayerNorm"),
    }
    for i in range(config.n_encoder_layers):
        ours, theirs = f"encoder.layers.{i}", f"{prefix}transformer.layer.{i}"
        for name in ("q", "k", "v"):
            found.update(linear(f"{ours}.self_attn.{name}", f"{theirs}.attention.{name}_lin"))
        found.update(linear(f"{ours}.self_attn.o", f"{theirs}.attention.out_lin"))
        found.update(norm(f"{ours}.self_attn_residual.norm", f"{theirs}.sa_layer_norm"))
        found.update(linear(f"{ours}.ffn.up", f"{theirs}.ffn.lin1"))
        found.update(linear(f"{ours}.ffn.down", f"{theirs}.ffn.lin2"))
        found.update(norm(f"{ours}.ffn_residual.norm", f"{theirs}.output_layer_norm"))
    return found


BERT = Family(
    model_type="bert",
    prefixes=("", "bert."),
    sentinel="embeddings.word_embeddings.weight",
    build_config=lambda reader, keys, prefix: _bert_config(reader, keys, prefix, roberta=False),
    sources=_bert_sources,
    body=("embeddings.", "encoder."),
    ignored=(r"embeddings\.position_ids",),
)

ROBERTA = Family(
    model_type="roberta",
    prefixes=("", "roberta."),
    sentinel="embeddings.word_embeddings.weight",
    build_config=lambda reader, keys, prefix: _bert_config(reader, keys, prefix, roberta=True),
    sources=_bert_sources,
    body=("embeddings.", "encoder."),
    ignored=(r"embeddings\.position_ids",),
)

DISTILBERT = Family(
    model_type="distilbert",
    prefixes=("", "distilbert."),
    sentinel="embeddings.word_embeddings.weight",
    build_config=_distilbert_config,
    sources=_distilbert_sources,
    body=("embeddings.", "transformer."),
    ignored=(r"embeddings\.position_ids",),
)
