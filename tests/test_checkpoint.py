"""Native checkpoints: round trip, and one clear sentence for every way a folder can be broken."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from explorer.cli import main
from model import CheckpointError, load_checkpoint


@pytest.mark.parametrize("architecture", ["encoder", "decoder", "encoder-decoder"])
def test_round_trip_gives_identical_attention(make_checkpoint, architecture: str) -> None:
    folder = make_checkpoint(architecture, positions="learned", tie_embeddings=False)
    first = load_checkpoint(folder).trace("reverse: owl cat fig", target="fig cat owl")
    second = load_checkpoint(folder / "config.json").trace("reverse: owl cat fig", target="fig cat owl")
    assert first.kinds == second.kinds
    for kind in first.kinds:
        np.testing.assert_array_equal(first.attention[kind].weights, second.attention[kind].weights)
    assert first.model_name == folder.name


def _edit_config(folder: Path, **changes) -> None:
    values = json.loads((folder / "config.json").read_text())
    values.update(changes)
    (folder / "config.json").write_text(json.dumps(values))


def _rewrite_weights(folder: Path, change) -> None:
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, folder / "model.safetensors")


def _truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _huge_header(folder: Path) -> None:
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 1 << 40) + data[8:])


def _corrupt_header(folder: Path) -> None:
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:20] = b"not json at "
    path.write_bytes(bytes(data))


def _wrong_shape(tensors: dict) -> None:
    tensors["embed_tokens.weight"] = torch.zeros(5, 32)


BROKEN = {
    "no config.json": (lambda f: (f / "config.json").unlink(), "has no config.json"),
    "config is not JSON": (lambda f: (f / "config.json").write_text("{d_model: 32"), "not valid JSON"),
    "config is a list": (lambda f: (f / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
    "unknown config field": (lambda f: _edit_config(f, n_experts=4), "unknown configuration field"),
    "d_model not divisible": (lambda f: _edit_config(f, d_model=30), "not divisible by n_heads"),
    "absurd vocabulary": (lambda f: _edit_config(f, vocab_size=10**12), "larger than the supported"),
    "a million layers": (lambda f: _edit_config(f, n_encoder_layers=10**6), "larger than the supported"),
    "wrong format version": (lambda f: _edit_config(f, format_version=99), "format version"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "has no model.safetensors"),
    "no tokenizer": (lambda f: (f / "tokenizer.json").unlink(), "has no tokenizer.json"),
    "corrupt tokenizer": (lambda f: (f / "tokenizer.json").write_text("{]"), "not a valid tokenizer file"),
    "vocabulary too big for the embedding": (lambda f: _edit_config(f, vocab_size=40), "holds only 40"),
    "truncated weights": (_truncate, "truncated"),
    "header claims a huge size": (_huge_header, "header claims"),
    "corrupt header": (_corrupt_header, "header is not valid JSON"),
    "wrong shape": (lambda f: _rewrite_weights(f, _wrong_shape), "has shape [5, 32]"),
    "missing tensor": (lambda f: _rewrite_weights(f, lambda t: t.pop("decoder.layers.0.ffn.up.weight")), "lacks 1 tensor"),
    "extra tensor": (lambda f: _rewrite_weights(f, lambda t: t.update(extra=torch.zeros(2))), "does not use"),
    "NaN weights": (
        lambda f: _rewrite_weights(f, lambda t: t["encoder.layers.0.ffn.up.weight"].fill_(float("nan"))),
        "NaN or infinite",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_checkpoint_gives_one_clear_sentence(make_checkpoint, capsys, case: str) -> None:
    folder = make_checkpoint("encoder-decoder")
    breaking, phrase = BROKEN[case]
    breaking(folder)
    with pytest.raises(CheckpointError, match=re.escape(phrase)) as raised:
        load_checkpoint(folder)
    assert "\n" not in str(raised.value)

    exit_code = main(["dump", "--checkpoint", str(folder), "--text", "sort: owl", "--out", str(folder / "x.npz")])
    captured = capsys.readouterr()
    assert exit_code != 0
    assert captured.err.count("\n") == 1 and phrase in captured.err
    assert "Traceback" not in captured.err
    assert not (folder / "x.npz").exists()


def test_a_plain_file_and_a_missing_folder_are_refused(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_checkpoint(text_file)
    with pytest.raises(CheckpointError, match="neither a checkpoint folder"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_checkpoint(tmp_path)
