"""The project's own checkpoint format: reading and writing a native checkpoint folder.

A native checkpoint is a folder shaped like a Hugging Face one:
``config.json`` (``"model_type": "attention-explorer"`` plus the ``ModelConfig`` fields),
``model.safetensors`` and ``tokenizer.json``. Nothing is ever unpickled. Every check
that can be made before allocating weights is made first: the config is validated, the
expected tensor shapes come from a network built on the ``meta`` device (no memory),
and the safetensors header is compared with them before any tensor is read.

The format lives here, apart from ``checkpoint`` (which only decides what a location
holds and hands it on), so that code needing the format's name, such as the Hugging
Face cache listing, can import it without importing the dispatcher that imports it back.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from .building import network_from_state
from .config import ModelConfig
from .inference import AttentionModel
from .precision import stored_float_dtype
from .tokenization import TextTokenizer
from .transformer import Transformer, parameter_shapes
from .weights import (
    CheckpointError,
    check_shapes,
    checkpoint_file,
    load_safetensors,
    read_config_json,
    read_safetensors_header,
    require_float,
)

NATIVE_MODEL_TYPE = "attention-explorer"
FORMAT_VERSION = 1


def load_native(folder: Path, values: dict | None = None, dtype: torch.dtype | None = torch.float32) -> AttentionModel:
    """Open a native checkpoint folder (see the module docstring for its layout).

    Args:
        folder: the checkpoint folder.
        values: its ``config.json`` already parsed, or None to read it here.
        dtype: what the weights are converted to as they are read; None keeps the
            checkpoint's own float dtype (``stored_float_dtype``).

    Raises:
        CheckpointError: one sentence naming the file and what is wrong with it.
    """
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
    if dtype is None:
        dtype = stored_float_dtype((entry.dtype, math.prod(entry.shape)) for entry in header.values())
    tensors = load_safetensors(weights_path, dtype=dtype)
    network = network_from_state(config, tensors)
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
