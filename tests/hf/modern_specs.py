"""Reference checkpoints of the Llama-era decoders, sized to catch a careless mapping.

Each spec is tiny (2–3 layers, d_model 32–64) and awkward on purpose: head_dim not
d_model / heads, grouped-query ratios of 1, 2 and n_heads, windows shorter than the
texts, rope scalings whose original length the long text exceeds, biases and norms
randomised by ``build_reference``. ``old_layout`` rewrites a saved ``config.json`` the
way older ``transformers`` versions wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path


def modern_specs(Spec, vocab_size: int) -> dict:
    import transformers as T

    def llama(**overrides):
        values = dict(
            vocab_size=vocab_size, hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=64, initializer_range=0.2, bos_token_id=0,
            eos_token_id=2, pad_token_id=1, tie_word_embeddings=False,
        )
        values.update(overrides)
        if values["head_dim"] is None:  # families that derive it from hidden_size
            del values["head_dim"]
        return values

    rope = {
        "linear": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0},
        "llama3": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 16, "rope_theta": 10000.0},
        "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 100.0},
        "dynamic": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 100.0},
        "longrope": {"rope_type": "longrope", "original_max_position_embeddings": 16, "rope_theta": 100.0,
                     "short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [1.0, 2.0, 4.0, 8.0]},
    }
    causal = T.LlamaForCausalLM
    return {
        # GQA ratio 2, head_dim 16 ≠ 48 / 4, every bias on, untied head.
        "llama": Spec(lambda: (causal, T.LlamaConfig(**llama(attention_bias=True, mlp_bias=True, rope_theta=500.0))), "bpe"),
        # Multi-query (ratio n_heads), tied embeddings, linear scaling.
        "llama-mqa-linear": Spec(
            lambda: (causal, T.LlamaConfig(**llama(num_key_value_heads=1, tie_word_embeddings=True,
                                                   rope_parameters=rope["linear"]))), "bpe"),
        # Ratio 1 (plain multi-head), head_dim 8, llama3 scaling from 16 positions.
        "llama-mha-llama3": Spec(
            lambda: (causal, T.LlamaConfig(**llama(hidden_size=32, num_key_value_heads=4, head_dim=8,
                                                   rope_parameters=rope["llama3"]))), "bpe"),
        "llama-yarn": Spec(lambda: (causal, T.LlamaConfig(**llama(head_dim=8, rope_parameters=rope["yarn"]))), "bpe"),
        "llama-dynamic": Spec(
            lambda: (causal, T.LlamaConfig(**llama(head_dim=8, max_position_embeddings=24, rope_parameters=rope["dynamic"]))),
            "bpe"),
        "llama-longrope": Spec(lambda: (causal, T.LlamaConfig(**llama(head_dim=8, rope_parameters=rope["longrope"]))), "bpe"),
        # A window of 4 tokens, far shorter than the texts.
        "mistral": Spec(
            lambda: (T.MistralForCausalLM, T.MistralConfig(**llama(num_hidden_layers=3, sliding_window=4, rope_theta=300.0))),
            "bpe"),
        # Sliding windows of 5 from layer 1 on; biased q, k, v and an unbiased output.
        "qwen2": Spec(
            lambda: (T.Qwen2ForCausalLM, T.Qwen2Config(**llama(num_hidden_layers=3, use_sliding_window=True, sliding_window=5,
                                                                max_window_layers=1, rope_theta=300.0))), "bpe"),
        # Per-head QK-norm, head_dim 16 ≠ 48 / 4, multi-query, biases on.
        "qwen3": Spec(
            lambda: (T.Qwen3ForCausalLM, T.Qwen3Config(**llama(num_key_value_heads=1, attention_bias=True, rope_theta=300.0))),
            "bpe"),
        # Multi-query, head_dim 24 ≠ 48 / 4, embeddings scaled by √48, (1 + w) norms.
        "gemma": Spec(lambda: (T.GemmaForCausalLM, T.GemmaConfig(**llama(num_key_value_heads=1, head_dim=24,
                                                                          rope_theta=300.0))), "bpe"),
        # Soft-caps low enough to bite, a window of 3 on alternate layers, query_pre_attn_scalar 10.
        "gemma2": Spec(
            lambda: (T.Gemma2ForCausalLM, T.Gemma2Config(**llama(num_hidden_layers=3, sliding_window=3, query_pre_attn_scalar=10,
                                                                  attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                                                  rope_theta=300.0))), "bpe"),
        # Local layers (window 4, base 50) and a global one (base 5000, linear scaling), QK-norm.
        "gemma3": Spec(
            lambda: (T.Gemma3ForCausalLM, T.Gemma3TextConfig(**llama(
                num_hidden_layers=3, sliding_window=4, query_pre_attn_scalar=16, layer_types=[
                    "sliding_attention", "sliding_attention", "full_attention"],
                rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 50.0},
                                 "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 5000.0}},
                final_logit_softcapping=5.0))), "bpe"),
        # Half of each head rotates; GQA 2; a window of 6 on every layer.
        "phi3": Spec(lambda: (T.Phi3ForCausalLM, T.Phi3Config(**llama(
            head_dim=None, hidden_size=64, sliding_window=6, original_max_position_embeddings=64,
            rope_parameters={"rope_type": "default", "rope_theta": 300.0, "partial_rotary_factor": 0.5}))), "bpe"),
        # LongRoPE on half of each 16-wide head, from 16 positions.
        "phi3-longrope": Spec(lambda: (T.Phi3ForCausalLM, T.Phi3Config(**llama(
            head_dim=None, hidden_size=64, original_max_position_embeddings=16,
            rope_parameters={"rope_type": "longrope", "rope_theta": 300.0, "partial_rotary_factor": 0.5,
                             "short_factor": [1.0, 1.5, 2.0, 4.0], "long_factor": [1.0, 3.0, 5.0, 9.0]}))), "bpe"),
        # QK-norm over the whole projections, norms after the sub-layers, biases on.
        "olmo2": Spec(lambda: (T.Olmo2ForCausalLM, T.Olmo2Config(**llama(attention_bias=True, rope_theta=300.0))), "bpe"),
        # Layer 1 of 3 without positions (and with a window of 5: SmolLM3 slides only NoPE layers).
        "smollm3": Spec(lambda: (T.SmolLM3ForCausalLM, T.SmolLM3Config(**llama(
            num_hidden_layers=3, no_rope_layers=[1, 0, 1], use_sliding_window=True, sliding_window=5,
            rope_theta=300.0))), "bpe"),
        # Global layers 0 and 2 (base 500), a local one between (window 6: |i − j| ≤ 3, base 20).
        "modernbert": Spec(lambda: (T.ModernBertForMaskedLM, T.ModernBertConfig(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
            local_attention=6, global_attn_every_n_layers=2, pad_token_id=1, bos_token_id=0, eos_token_id=2,
            cls_token_id=0, sep_token_id=2, initializer_range=0.2, max_position_embeddings=64, norm_bias=True,
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 20.0},
                             "full_attention": {"rope_type": "default", "rope_theta": 500.0}})), "bpe_roberta"),
    }


MODERN_PADDED = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "olmo2", "smollm3")


def old_layout(folder: Path) -> None:
    """Rewrite ``folder/config.json`` in the older layout: top-level ``rope_theta`` and
    ``rope_scaling`` (with ``type``), no ``layer_types`` (the pattern fields instead)."""
    path = folder / "config.json"
    values = json.loads(path.read_text())
    parameters = values.pop("rope_parameters", None) or {}
    if "full_attention" in parameters or "sliding_attention" in parameters:
        local = parameters.get("sliding_attention") or {}
        parameters = dict(parameters.get("full_attention") or {})
        if "rope_theta" in local:
            values["rope_local_base_freq"] = local["rope_theta"]
    parameters = dict(parameters)
    values["rope_theta"] = parameters.pop("rope_theta", 10000.0)
    if "partial_rotary_factor" in parameters:
        values["partial_rotary_factor"] = parameters.pop("partial_rotary_factor")
    kind = parameters.pop("rope_type", "default")
    # The oldest files say "type"; Gemma 3's (which transformers reads only that way) "rope_type".
    key = "rope_type" if values.get("model_type") == "gemma3_text" else "type"
    values["rope_scaling"] = None if kind == "default" else {key: kind, **parameters}
    if values.get("model_type") == "modernbert":
        values["global_rope_theta"] = values.pop("rope_theta")
        values["local_rope_theta"] = values.pop("rope_local_base_freq")
    types = values.pop("layer_types", None)
    if types is not None and values.get("model_type") in ("gemma3_text",):
        values["sliding_window_pattern"] = next(
            (i + 1 for i, kind in enumerate(types) if kind == "full_attention"), len(types) + 1
        )
    path.write_text(json.dumps(values))
