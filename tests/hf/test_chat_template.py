"""Format as chat: our rendering of a model's chat template against ``transformers``' ``apply_chat_template``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_models import TEXTS, write_chat_gpt2, write_chat_tokenizer
from model import CheckpointError
from model.chat import ChatTemplate
from model.tokenization import TextTokenizer

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("style", ["chatml", "llama3"])
def test_chat_formatting_matches_apply_chat_template(tmp_path: Path, style: str) -> None:
    folder = write_chat_tokenizer(tmp_path / style, style)
    reference = transformers.AutoTokenizer.from_pretrained(folder)
    template = ChatTemplate.from_folder(folder)
    assert template is not None
    tokenizer = TextTokenizer.from_file(folder / "tokenizer.json", 4096)
    for text in TEXTS:
        messages = [{"role": "user", "content": text}]
        expected_text = reference.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        expected_ids = reference.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(expected_ids, dict) or hasattr(expected_ids, "input_ids"):
            expected_ids = expected_ids["input_ids"]
        rendered = template.render(text)
        assert rendered.text == expected_text
        assert tokenizer.encode(rendered.text, add_special_tokens=False).ids == list(expected_ids)
        # The user's span is the text as the template wrote it (Llama 3's trims it).
        written = text.strip() if style == "llama3" else text
        assert rendered.text[rendered.user_start : rendered.user_end] == written


@pytest.fixture(scope="module")
def chat_gpt2(tmp_path_factory) -> Path:
    return write_chat_gpt2(tmp_path_factory.mktemp("chat-gpt2"))


def test_a_chat_trace_is_the_templates_tokens_with_the_templates_own_marked(chat_gpt2: Path) -> None:
    from model import load_checkpoint

    reference = transformers.AutoTokenizer.from_pretrained(chat_gpt2)
    model = load_checkpoint(chat_gpt2)
    text = "the quick brown fox"
    trace = model.trace(text, chat=True)
    expected = reference.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    expected = expected["input_ids"] if hasattr(expected, "keys") else expected
    axis = trace.decoder
    assert axis.ids.tolist() == list(expected)
    user_tokens = [token for token, written in zip(axis.tokens, axis.template) if not written]
    assert reference.convert_tokens_to_string(user_tokens) == text
    assert axis.template[0] and axis.template[-1]  # <|im_start|> … "assistant\n"
    assert model.trace(text).decoder.template is None


def test_the_command_line_formats_as_chat_and_a_model_without_a_template_says_so(chat_gpt2: Path, tmp_path: Path, capsys) -> None:
    import numpy as np

    from explorer.cli import main

    out = tmp_path / "chat.npz"
    assert main(["dump", "--checkpoint", str(chat_gpt2), "--text", "hello", "--chat", "--out", str(out)]) == 0
    tokens = np.load(out)["decoder_tokens"].tolist()
    assert tokens[0] == "<|im_start|>" and "<|im_end|>" in tokens
    assert main(["dump", "--text", "reverse: owl cat", "--chat", "--out", str(out)]) == 1
    assert "has no chat template" in capsys.readouterr().err


def test_a_folder_without_a_template_has_none(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>"}), encoding="utf-8")
    assert ChatTemplate.from_folder(tmp_path) is None
    assert ChatTemplate.from_folder(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "source, expected",
    [
        ("{% for m in messages %}{{ m.content", "is not valid Jinja"),
        ("{{ raise_exception('only system and user roles') }}", "only system and user roles"),
        ("{{ messages.__class__.__mro__ }}", "failed"),  # the sandbox refuses Python internals
        ("no message here", "does not write the user's message"),
    ],
)
def test_a_bad_template_is_one_sentence(source: str, expected: str) -> None:
    with pytest.raises(CheckpointError) as raised:
        ChatTemplate(source, {}).render("hello")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
