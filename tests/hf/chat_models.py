"""Tiny chat checkpoints: a byte-level BPE with ChatML or Llama-3-style special tokens and its template.

``write_chat_tokenizer`` saves a tokenizer folder through ``transformers`` (so the
``tokenizer_config.json`` is the one it writes); ``write_chat_gpt2`` adds a tiny random
GPT-2 beside it, a decoder the explorer opens with "format as chat" available.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CHATML = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Llama 3's layout, written for this test: a BOS from the tokenizer's variables, headers,
# the message trimmed.
LLAMA3_STYLE = (
    "{{- bos_token }}\n"
    "{%- for message in messages %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}\n"
    "{%- endif %}\n"
)
SPECIALS = {
    "chatml": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
}
CORPUS = ["the quick brown fox jumps over the lazy dog", "system user assistant helpful", "café 東京 😀"] * 10
TEXTS = ["Hello there", "  two  spaces and a newline\nin the middle  ", "café 東京 😀", ""]


def write_chat_tokenizer(folder: Path, style: str) -> Path:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS[style], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    wrapped = _transformers().PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=SPECIALS[style][0],
        eos_token=SPECIALS[style][1] if style == "llama3" else "<|im_end|>",
        chat_template=CHATML if style == "chatml" else LLAMA3_STYLE,
    )
    wrapped.save_pretrained(folder)
    return folder




def write_chat_gpt2(folder: Path) -> Path:
    """A tiny random GPT-2 whose tokenizer carries the ChatML template."""
    write_chat_tokenizer(folder, "chatml")
    config = _transformers().GPT2Config(
        vocab_size=400, n_positions=128, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0
    )
    _transformers().GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def _transformers():
    import transformers

    return transformers
