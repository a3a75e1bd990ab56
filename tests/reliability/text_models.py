"""The models hostile text is fed to: the bundled encoder–decoder and tiny ones of every kind.

The tiny models use the bundled model's word-level tokenizer, except the Hugging Face
GPT-2 folder, which gets a byte-level BPE tokenizer (``Ġ`` for spaces, any byte
representable) trained here in a fraction of a second, and goes through the importer.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from hostile_checkpoints import GPT2_SIZES, write_gpt2
from model import AttentionModel, load_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "attention explorer shows every head of every layer",
    "date: wednesday, 25 november 2026",
    "naïve café — 東京 😀 مرحبا שלום",
] * 20


def byte_level_tokenizer_json(vocab_size: int) -> str:
    """A GPT-2 style byte-level BPE of exactly ``vocab_size`` entries at most, as tokenizer.json text."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_CORPUS, trainer)
    return tokenizer.to_str()


def tiny_model(architecture: str, **overrides) -> AttentionModel:
    config = tiny_config(architecture, **overrides)
    name = f"tiny {architecture}" + (f" ({overrides['positions']} positions)" if "positions" in overrides else "")
    return AttentionModel(tiny_network(config, seed=5), task_tokenizer(config.max_positions), name=name)


def hf_gpt2_model(folder: Path) -> AttentionModel:
    """A tiny GPT-2 written in the hub layout with a byte-level tokenizer, opened by the importer."""
    sizes = dict(GPT2_SIZES, vocab_size=300)
    write_gpt2(folder, sizes=sizes, tokenizer_json=byte_level_tokenizer_json(sizes["vocab_size"]))
    return load_checkpoint(folder)


def text_models(folder: Path) -> dict[str, AttentionModel]:
    """Every model the hostile-text properties run on, by a short name."""
    return {
        "bundled encoder-decoder": load_checkpoint(),
        "tiny encoder": tiny_model("encoder", type_vocab_size=2),
        "tiny decoder": tiny_model("decoder", positions="learned"),
        "tiny relative encoder-decoder": tiny_model("encoder-decoder", positions="relative"),
        "hf gpt2": hf_gpt2_model(folder / "gpt2"),
    }
