"""Native checkpoints, and the one entry point that opens any checkpoint.

A native checkpoint is a folder shaped like a Hugging Face one:
``config.json`` (``"model_type": "attention-explorer"`` plus the ``ModelConfig`` fields),
``model.safetensors`` and ``tokenizer.json``. Nothing is ever unpickled. Every check
that can be made before allocating weights is made first: the config is validated, the
expected tensor shapes come from a network built on the ``meta`` device (no memory),
and the safetensors header is compared with them before any tensor is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from .bundled import bundled_checkpoint
from .config import ModelConfig
from .inference import AttentionModel
from .tokenization import TextTokenizer
from .transformer import Transformer, parameter_shapes
from .weights import (
    CheckpointError,
    check_shapes,
    checkpoint_file,
    load_safetensors,
    read_safetensors_header,
    require_float,
)

NATIVE_MODEL_TYPE = "attention-explorer"
FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 1024 * 1024


def read_config_json(folder: Path) -> dict:
    """``config.json`` as a dict, or a ``CheckpointError`` naming what is wrong with it."""
    path = checkpoint_file(folder, "config.json")
    if path is None:
        raise CheckpointError(f"{folder} has no config.json, so it is not a model checkpoint folder")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path} is {path.stat().st_size:,} bytes, far too large for a model configuration")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # bad JSON or UTF-8, or a number of more digits than Python converts
        raise CheckpointError(f"{path} is not valid JSON ({_first_line(error)})") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser's stack
        raise CheckpointError(f"{path} is not a model configuration: its JSON is nested too deeply") from None
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} must hold a JSON object, not {type(values).__name__}")
    return values


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def resolve_folder(location: str | os.PathLike | None) -> Path:
    """The checkpoint folder a user named: a folder, a file inside one, or None (bundled)."""
    if location is None:
        return bundled_checkpoint()
    path = Path(location).expanduser()
    if path.is_file():
        if path.suffix not in (".json", ".safetensors", ".bin"):
            raise CheckpointError(f"{path} is a file, not a checkpoint folder (open the folder holding config.json)")
        return path.parent
    return path


def load_checkpoint(location: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> AttentionModel:
    """Open a native checkpoint, a Hugging Face folder or a cached Hugging Face repo id.

    Raises:
        CheckpointError: with one sentence saying what is wrong; nothing else escapes
            for problems in the files.
    """
    folder = resolve_folder(location)
    if not folder.is_dir():
        from .hf import cache

        repo_folder = cache.find_cached_model(str(location)) if location is not None else None
        if repo_folder is None:
            raise CheckpointError(f"{location} is neither a checkpoint folder nor a model in the local Hugging Face cache")
        folder = repo_folder
    values = read_config_json(folder)
    if values.get("model_type") == NATIVE_MODEL_TYPE:
        model = load_native(folder, values)
    else:
        from .hf import load_hf_folder

        model = load_hf_folder(folder, values)
    return model.to(device)


def load_native(folder: Path, values: dict | None = None) -> AttentionModel:
    """Open a native checkpoint folder (see the module docstring for its layout)."""
    values = dict(values if values is not None else read_config_json(folder))
    values.pop("model_type", None)
    version = values.pop("format_version", FORMAT_VERSION)
    name = values.pop("name", folder.name)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{folder / 'config.json'} is format version {version!r}; this program reads {FORMAT_VERSION}")
    try:
        config = ModelConfig.from_dict(values)
    except ValueError as error:
        raise CheckpointError(f"{folder / 'config.json'}: {error}") from None

    tokenizer = TextTokenizer.from_file(folder / "tokenizer.json", config.max_positions)
    tokenizer.check_fits(config.vocab_size)
    weights_path = checkpoint_file(folder, "model.safetensors")
    if weights_path is None:
        raise CheckpointError(f"{folder} has no model.safetensors")
    expected = parameter_shapes(config)
    header = read_safetensors_header(weights_path)
    check_shapes(weights_path.name, {key: entry.shape for key, entry in header.items()}, expected)
    for key, entry in header.items():
        require_float(weights_path.name, key, entry.dtype)
    tensors = load_safetensors(weights_path)
    network = Transformer(config)
    network.load_state_dict(tensors, strict=True)
    return AttentionModel(network, tokenizer, name=str(name), source=str(folder))


def save_checkpoint(folder: str | os.PathLike, network: Transformer, tokenizer: TextTokenizer, name: str) -> Path:
    """Write a native checkpoint folder (created if needed) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": NATIVE_MODEL_TYPE, "format_version": FORMAT_VERSION, "name": name}
    config.update(network.config.to_dict())
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tensors = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    return folder
