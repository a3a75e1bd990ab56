"""Tokenization through tokenizer.json: round trip, truncation notices, hostile characters."""

from __future__ import annotations

from pathlib import Path

from model import AttentionModel, tasks
from model.tokenization import TextTokenizer
from tiny_models import task_tokenizer, tiny_config, tiny_network


def test_round_trip_through_tokenizer_json(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(task_tokenizer().to_json())
    reloaded = TextTokenizer.from_file(path, max_length=48)
    text = "date: Wednesday, 25 November 2026"
    encoded = reloaded.encode(text)
    assert encoded.tokens == ["date", ":", "wednesday", ",", "2", "5", "november", "2", "0", "2", "6", "</s>"]
    assert encoded.ids == task_tokenizer().encode(text).ids
    assert encoded.special == [False] * 11 + [True]
    assert tasks.join_target(reloaded.tokens(reloaded.encode("2026-11-25").ids[:-1])) == "2026-11-25"
    assert reloaded.vocab_size == len(tasks.vocabulary())


def test_unknown_words_become_unk_and_padding_is_never_added() -> None:
    encoded = task_tokenizer().encode("sort: zebra owl")
    assert encoded.tokens == ["sort", ":", "<unk>", "owl", "</s>"]
    assert not encoded.truncated


def test_long_text_is_truncated_with_a_notice() -> None:
    config = tiny_config("encoder", max_positions=16)
    model = AttentionModel(tiny_network(config), task_tokenizer(16), name="tiny")
    trace = model.trace("sort: " + "owl " * 100)
    assert len(trace.encoder) == 16
    assert trace.notices == ["The input was cut to the model's maximum of 16 tokens."]
    assert model.trace("sort: owl").notices == []


def test_hostile_characters_do_not_break_encoding() -> None:
    tokenizer = task_tokenizer()
    for text in ["", "   ", "\x00\x01", "\ud800 lone surrogate", "owl\u200d🦉", "مرحبا owl", "猫 owl"]:
        encoded = tokenizer.encode(text)
        assert encoded.tokens[-1] == "</s>"
        assert len(encoded.ids) == len(encoded.tokens)
