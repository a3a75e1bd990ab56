"""Tiny random Hugging Face checkpoints and the comparisons the parity tests make.

Each reference model is built with ``transformers`` (eager attention so it returns its
attention matrices), its parameters are perturbed away from the defaults (so a norm
weight or bias loaded into the wrong place shows up), saved with ``save_pretrained`` next
to a ``tokenizer.json`` trained here, and read back with ``from_pretrained``: the
reference is exactly what is on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from modern_specs import modern_specs
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

WEIGHTS_TOLERANCE = 1e-5
OUTPUT_TOLERANCE = 1e-4
VOCAB = 320
SPECIALS_BPE = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

_WORDS = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly hex bold jugglers "
    "attention explorer shows every head of every layer as you type numbers like 25 november 2026 "
    "translate summarise classify question answer sentence pair token position segment encoder decoder"
).split()
CORPUS = [" ".join(_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(5 + i % 9)) for i in range(160)]

TEXTS = {
    "short": "fox",
    "medium": "the quick brown fox jumps over the lazy dog",
    "long": "attention explorer shows every head of every layer as you type, 25 november 2026; "
    "seven wizards quietly hex bold jugglers while the quick brown fox jumps",
}


def train_tokenizers() -> dict[str, str]:
    """The tokenizer.json texts the reference models use, keyed by kind."""
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.decoder = decoders.WordPiece()
    wordpiece.train_from_iterator(
        CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    )
    cls, sep = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    # Settings the explorer must override: fixed padding and a short truncation.
    wordpiece.enable_padding(length=48, pad_id=0, pad_token="[PAD]")
    wordpiece.enable_truncation(16)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS_BPE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    bpe_plain = bpe.to_str()
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    bpe_roberta = bpe.to_str()

    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.NFKC()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    unigram.train_from_iterator(
        CORPUS, trainers.UnigramTrainer(vocab_size=200, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    )
    unigram.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return {"wordpiece": wordpiece.to_str(), "bpe": bpe_plain, "bpe_roberta": bpe_roberta, "unigram": unigram.to_str()}


@dataclass(frozen=True)
class Spec:
    """How to build one reference checkpoint."""

    make: Callable[[], tuple[type, object]]  # () -> (model class, config)
    tokenizer: str
    # "safetensors", "fp16", "bf16", "sharded", "bin", "untied-head"
    variant: str = "safetensors"


def _specs() -> dict[str, Spec]:
    import transformers as T

    T.logging.disable_progress_bar()

    small = dict(vocab_size=VOCAB)
    bert = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, initializer_range=0.2)
    bart = dict(
        d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, init_std=0.2,
        # transformers forces EOS at the length limit otherwise; the project decodes plain greedy.
        forced_eos_token_id=None,
    )
    t5 = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, initializer_factor=1.0, pad_token_id=0, eos_token_id=1,
              decoder_start_token_id=0)
    t5_v11 = dict(t5, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    marian = dict(
        bart, scale_embedding=True, activation_function="swish", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0
    )
    return {
        "bert": Spec(lambda: (T.BertModel, T.BertConfig(**small, **bert, max_position_embeddings=64)), "wordpiece"),
        "bert-fp16": Spec(lambda: (T.BertModel, T.BertConfig(**small, **bert, max_position_embeddings=64)), "wordpiece", "fp16"),
        "roberta": Spec(
            lambda: (T.RobertaForMaskedLM, T.RobertaConfig(**small, **bert, max_position_embeddings=66, type_vocab_size=1)),
            "bpe_roberta",
        ),
        "roberta-bin": Spec(
            lambda: (T.RobertaModel, T.RobertaConfig(**small, **bert, max_position_embeddings=66)), "bpe_roberta", "bin"
        ),
        "distilbert": Spec(
            lambda: (
                T.DistilBertForMaskedLM,
                T.DistilBertConfig(**small, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64,
                                   initializer_range=0.2),
            ),
            "wordpiece",
        ),
        "distilbert-sinusoidal": Spec(
            lambda: (
                T.DistilBertModel,
                T.DistilBertConfig(**small, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64,
                                   sinusoidal_pos_embds=True, initializer_range=0.2),
            ),
            "wordpiece",
        ),
        "gpt2": Spec(
            lambda: (
                T.GPT2LMHeadModel,
                T.GPT2Config(**small, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=2,
                             initializer_range=0.2),
            ),
            "bpe",
        ),
        "gpt2-untied": Spec(
            lambda: (
                T.GPT2LMHeadModel,
                T.GPT2Config(**small, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=2,
                             initializer_range=0.2, tie_word_embeddings=False),
            ),
            "bpe",
        ),
        # Layer i divides its scores by i + 1 as well; the reordered fp32 path is taken.
        "gpt2-inverse-layer": Spec(
            lambda: (
                T.GPT2LMHeadModel,
                T.GPT2Config(**small, n_embd=32, n_layer=3, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=2,
                             initializer_range=0.2, scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True),
            ),
            "bpe",
        ),
        "gpt2-sharded": Spec(
            lambda: (
                T.GPT2Model,
                T.GPT2Config(**small, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=2,
                             activation_function="gelu", initializer_range=0.2),
            ),
            "bpe",
            "sharded",
        ),
        "t5": Spec(lambda: (T.T5ForConditionalGeneration, T.T5Config(**small, **t5)), "unigram"),
        "t5-v1.1": Spec(lambda: (T.T5ForConditionalGeneration, T.T5Config(**small, **t5_v11)), "unigram"),
        "t5-v1.1-untied": Spec(lambda: (T.T5ForConditionalGeneration, T.T5Config(**small, **t5_v11)), "unigram", "untied-head"),
        "bart": Spec(lambda: (T.BartForConditionalGeneration, T.BartConfig(**small, **bart)), "bpe_roberta"),
        "bart-bf16": Spec(
            lambda: (T.BartForConditionalGeneration, T.BartConfig(**small, **bart, scale_embedding=True)), "bpe_roberta", "bf16"
        ),
        "marian": Spec(lambda: (T.MarianMTModel, T.MarianConfig(**small, **marian)), "unigram"),
        # A decoder with 2 heads of 16 and a 96-wide feed-forward beside a 4-head, 64-wide encoder.
        "bart-uneven": Spec(
            lambda: (T.BartForConditionalGeneration,
                     T.BartConfig(**small, **dict(bart, decoder_attention_heads=2, decoder_ffn_dim=96))), "bpe_roberta"
        ),
        "marian-bin": Spec(lambda: (T.MarianMTModel, T.MarianConfig(**small, **marian)), "unigram", "bin"),
        **modern_specs(Spec, VOCAB),
    }


SPEC_NAMES = tuple(_specs())


def build_reference(name: str, folder: Path, tokenizers: dict[str, str]):
    """Save reference checkpoint ``name`` into ``folder`` and return it loaded back by transformers."""
    spec = _specs()[name]
    model_class, config = spec.make()
    torch.manual_seed(sum(map(ord, name)))
    model = model_class._from_config(config, attn_implementation="eager")
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "embed_positions" not in parameter_name or config.model_type != "marian":
                parameter.add_(0.1 * torch.randn_like(parameter))
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias))
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(spec.variant)
    if dtype is not None:
        model = model.to(dtype)
    if spec.variant == "sharded":
        model.save_pretrained(folder, max_shard_size="20KB")
    else:
        model.save_pretrained(folder)
    if spec.variant == "bin":
        weights = folder / "model.safetensors"
        torch.save(load_file(weights), folder / "pytorch_model.bin")
        weights.unlink()
    if spec.variant == "untied-head":
        # What older transformers versions wrote for T5 v1.1: a separate head, untied.
        weights = load_file(folder / "model.safetensors")
        weights["lm_head.weight"] = torch.randn(VOCAB, config.d_model)
        save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
        values = json.loads((folder / "config.json").read_text())
        values["tie_word_embeddings"] = False
        values.pop("scale_decoder_outputs", None)
        (folder / "config.json").write_text(json.dumps(values))
    (folder / "tokenizer.json").write_text(tokenizers[spec.tokenizer])
    return model_class.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()


def max_difference(ours: np.ndarray | torch.Tensor, theirs: torch.Tensor) -> float:
    ours_tensor = torch.as_tensor(np.asarray(ours)) if not isinstance(ours, torch.Tensor) else ours
    assert tuple(ours_tensor.shape) == tuple(theirs.shape), (tuple(ours_tensor.shape), tuple(theirs.shape))
    return float((ours_tensor.double() - theirs.detach().double()).abs().max())


def layers(attentions: tuple[torch.Tensor, ...], row: int = 0) -> torch.Tensor:
    """transformers' per-layer ``(B, H, Q, K)`` tuple as ``(L, H, Q, K)`` for one batch row."""
    return torch.stack([attention[row] for attention in attentions])
