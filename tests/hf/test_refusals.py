"""Broken or hostile Hugging Face folders fail with one clear sentence, never a traceback.

Each case goes through the Python API (``CheckpointError``) and through the CLI
(exit status 1, one ``error:`` line on stderr). A crafted pickle whose payload would
create a file must be refused without the file ever appearing.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from explorer.cli import main
from model import CheckpointError, load_checkpoint


def _copy(reference, name: str, destination: Path) -> Path:
    folder, _ = reference(name)
    return Path(shutil.copytree(folder, destination / name))


def _cli_error(capsys, folder: Path, tmp_path: Path) -> str:
    capsys.readouterr()  # drop what building the reference printed
    code = main(["dump", "--checkpoint", str(folder), "--text", "fox", "--out", str(tmp_path / "out.npz")])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attention-explorer: error: ")
    assert not (tmp_path / "out.npz").exists()
    return lines[0]


def _refused(folder: Path, capsys, tmp_path: Path) -> str:
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(folder)
    message = str(raised.value)
    assert "\n" not in message
    assert message in _cli_error(capsys, folder, tmp_path)
    return message


def test_missing_weights(reference, tmp_path, capsys):
    folder = _copy(reference, "bert", tmp_path)
    (folder / "model.safetensors").unlink()
    message = _refused(folder, capsys, tmp_path)
    assert "has no weights" in message and "model.safetensors" in message and "pytorch_model.bin" in message


@pytest.mark.parametrize("name, remedy", [("gpt2", "save_pretrained"), ("marian", "source.spm")])
def test_missing_tokenizer(reference, tmp_path, capsys, name, remedy):
    folder = _copy(reference, name, tmp_path)
    (folder / "tokenizer.json").unlink()
    message = _refused(folder, capsys, tmp_path)
    assert "has no tokenizer.json" in message and remedy in message


def test_unknown_model_type(reference, tmp_path, capsys):
    folder = _copy(reference, "bert", tmp_path)
    values = json.loads((folder / "config.json").read_text())
    values["model_type"] = "mamba"
    (folder / "config.json").write_text(json.dumps(values))
    message = _refused(folder, capsys, tmp_path)
    assert "'mamba'" in message
    for supported in ("bert", "roberta", "distilbert", "gpt2", "t5", "bart", "marian"):
        assert supported in message


def test_wrong_shapes(reference, tmp_path, capsys):
    folder = _copy(reference, "t5", tmp_path)
    values = json.loads((folder / "config.json").read_text())
    values["d_ff"] = 48  # the file's feed-forward matrices are 64 wide
    (folder / "config.json").write_text(json.dumps(values))
    message = _refused(folder, capsys, tmp_path)
    assert "model.safetensors" in message and "DenseReluDense.wi.weight" in message
    assert "[64, 32]" in message and "[48, 32]" in message


def test_more_layers_in_the_file_than_in_the_config(reference, tmp_path, capsys):
    folder = _copy(reference, "bert", tmp_path)
    values = json.loads((folder / "config.json").read_text())
    values["num_hidden_layers"] = 1
    (folder / "config.json").write_text(json.dumps(values))
    message = _refused(folder, capsys, tmp_path)
    assert "config.json does not describe" in message and "encoder.layer.1." in message


def test_missing_tensor(reference, tmp_path, capsys):
    folder = _copy(reference, "bart", tmp_path)
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.decoder.layers.1.fc2.bias"]
    save_file(tensors, folder / "model.safetensors")
    message = _refused(folder, capsys, tmp_path)
    assert "model.decoder.layers.1.fc2.bias" in message and "model.safetensors" in message


def test_truncated_safetensors(reference, tmp_path, capsys):
    folder = _copy(reference, "marian", tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    message = _refused(folder, capsys, tmp_path)
    assert "model.safetensors is truncated" in message


def test_missing_shard(reference, tmp_path, capsys):
    folder = _copy(reference, "gpt2-sharded", tmp_path)
    shards = sorted(folder.glob("model-*.safetensors"))
    assert len(shards) > 1
    shards[-1].unlink()
    message = _refused(folder, capsys, tmp_path)
    assert shards[-1].name in message and "missing" in message


@pytest.mark.parametrize(
    "field, value, phrase",
    [
        ("hidden_size", "wide", "hidden_size must be an integer"),
        ("num_hidden_layers", 10**9, "num_hidden_layers = 1000000000 is larger than the supported 256"),
        ("hidden_size", 1 << 20, "parameters"),
        ("hidden_act", "quick_gelu", "'quick_gelu' is not supported"),
        ("position_embedding_type", "relative_key", "not supported"),
    ],
)
def test_bad_config_values_are_refused_before_allocating(reference, tmp_path, field, value, phrase):
    folder = _copy(reference, "bert", tmp_path)
    values = json.loads((folder / "config.json").read_text())
    values[field] = value
    (folder / "config.json").write_text(json.dumps(values))
    with pytest.raises(CheckpointError, match="config.json") as raised:
        load_checkpoint(folder)
    assert phrase in str(raised.value)


class _CreatesFile:
    """A pickle payload: unpickling it calls ``open(path, "w")``, creating the file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_that_would_run_code_is_refused_and_runs_nothing(reference, tmp_path, capsys):
    folder = _copy(reference, "roberta-bin", tmp_path)
    marker = tmp_path / "payload-ran"
    weights = folder / "pytorch_model.bin"
    state = torch.load(weights, weights_only=True)
    state["payload"] = _CreatesFile(marker)
    torch.save(state, weights)

    message = _refused(folder, capsys, tmp_path)
    assert "pytorch_model.bin was refused" in message and "open" in message and "run code" in message
    assert not marker.exists()

    # The older plain-pickle format (not torch's zip) with the same payload is refused too.
    weights.write_bytes(pickle.dumps({"payload": _CreatesFile(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match="pytorch_model.bin was refused: loading it would call .*open"):
        load_checkpoint(folder)
    assert not marker.exists()

    # The payload is live: an unrestricted unpickler would have created the file.
    pickle.loads(weights.read_bytes())
    assert marker.exists()


def test_shard_index_pointing_outside_the_folder_is_refused(reference, tmp_path, capsys):
    folder = _copy(reference, "gpt2-sharded", tmp_path)
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../elsewhere/model.safetensors"
    index_path.write_text(json.dumps(index))
    message = _refused(folder, capsys, tmp_path)
    assert "'../elsewhere/model.safetensors'" in message and "not a safetensors file in the same folder" in message
