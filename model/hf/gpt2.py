"""GPT-2: a pre-norm decoder with learned positions and a tied LM head.

Options: ``scale_attn_weights`` (divide the scores by √d_head), ``scale_attn_by_inverse_layer_idx``
(also by layer + 1) and ``reorder_and_upcast_attn`` (fp32 arithmetic, which this
project always uses).

GPT-2 stores its projections as ``Conv1D`` modules whose weight is ``(d_in, d_out)``,
the transpose of ``nn.Linear``'s, and fuses the query, key and value projections into
one ``c_attn`` matrix of ``(d_model, 3 · d_model)``; the map slices and transposes.
"""

from __future__ import annotations

from ..config import ModelConfig
from .mapping import ConfigReader, Family, Source, columns, in_vocabulary, norm, source, transpose


NAMES = {
    "d_model": "n_embd",
    "n_heads": "n_head",
    "d_ff": "n_inner",
    "n_decoder_layers": "n_layer",
    "max_positions": "n_positions",
}


def _config(reader: ConfigReader, keys: frozenset[str], prefix: str) -> ModelConfig:
    reader.refuse_if(reader.bool("add_cross_attention", False), "GPT-2 with cross-attention is not supported")
    # reorder_and_upcast_attn only changes the order of the fp16 arithmetic; in fp32 it is
    # the same attention, so it is accepted as is.
    reader.bool("reorder_and_upcast_attn", False)
    vocab_size = reader.int("vocab_size", 50257)
    d_model = reader.int("n_embd", 768)
    inner = reader.optional_int("n_inner")
    eos = in_vocabulary(reader.token_id("eos_token_id", 50256), vocab_size)
    bos = in_vocabulary(reader.token_id("bos_token_id", 50256), vocab_size)
    pad = in_vocabulary(reader.token_id("pad_token_id"), vocab_size)
    tied = reader.bool("tie_word_embeddings", True) or "lm_head.weight" not in keys
    return reader.model_config(
        NAMES,
        architecture="decoder",
        vocab_size=vocab_size,
        d_model=d_model,
        n_heads=reader.int("n_head", 12),
        d_ff=inner if inner is not None else 4 * d_model,
        n_decoder_layers=reader.int("n_layer", 12),
        max_positions=reader.int("n_positions", 1024),
        norm_eps=reader.float("layer_norm_epsilon", 1e-5),
        norm_placement="pre",
        final_norm=True,
        activation=reader.activation("activation_function", "gelu_new"),
        scale_scores=reader.bool("scale_attn_weights", True),
        # Layer i's scores are also divided by i + 1.
        scale_by_inverse_layer=reader.bool("scale_attn_by_inverse_layer_idx", False),
        positions="learned",
        tie_embeddings=tied,
        # GPT-2 has no pad token; the pad id only fills rows that finished generating.
        pad_token_id=pad if pad is not None else (eos if eos is not None else 0),
        bos_token_id=bos if bos is not None else eos,
        eos_token_id=eos,
        decoder_start_token_id=None,
        family="gpt2",
    )


def _conv1d(ours: str, theirs: str, d_in: int, d_out: int) -> dict[str, Source]:
    return {
        f"{ours}.weight": source(f"{theirs}.weight", file_shape=(d_in, d_out), convert=transpose),
        f"{ours}.bias": source(f"{theirs}.bias"),
    }


def _sources(config: ModelConfig, prefix: str, keys: frozenset[str]) -> dict[str, Source]:
    d, ff = config.d_model, config.d_ff
    found = {
        "embed_tokens.weight": source(f"{prefix}wte.weight"),
        "decoder.embed.positions.weight": source(f"{prefix}wpe.weight"),
        **norm("decoder.final_norm", f"{prefix}ln_f"),
    }
    for i in range(config.n_decoder_layers):
        ours, theirs = f"decoder.layers.{i}", f"{prefix}h.{i}"
        for j, name in enumerate(("q", "k", "v")):  # c_attn's columns are [q | k | v]
            found[f"{ours}.self_attn.{name}.weight"] = source(
                f"{theirs}.attn.c_attn.weight", file_shape=(d, 3 * d), convert=columns(j * d, (j + 1) * d, True)
            )
            found[f"{ours}.self_attn.{name}.bias"] = source(
                f"{theirs}.attn.c_attn.bias", file_shape=(3 * d,), convert=columns(j * d, (j + 1) * d, True)
            )
        found.update(_conv1d(f"{ours}.self_attn.o", f"{theirs}.attn.c_proj", d, d))
        found.update(norm(f"{ours}.self_attn_residual.norm", f"{theirs}.ln_1"))
        found.update(_conv1d(f"{ours}.ffn.up", f"{theirs}.mlp.c_fc", d, ff))
        found.update(_conv1d(f"{ours}.ffn.down", f"{theirs}.mlp.c_proj", ff, d))
        found.update(norm(f"{ours}.ffn_residual.norm", f"{theirs}.ln_2"))
    if not config.tie_embeddings:
        found["lm_head.weight"] = source("lm_head.weight")
    return found


GPT2 = Family(
    model_type="gpt2",
    prefixes=("", "transformer."),
    sentinel="wte.weight",
    build_config=_config,
    sources=_sources,
    body=("wte.", "wpe.", "h.", "ln_f."),
    # Old checkpoints store the causal mask as buffers.
    ignored=(r"h\.\d+\.attn\.(masked_)?bias",),
)
