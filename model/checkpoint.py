"""The one entry point that opens any checkpoint: it resolves a location and dispatches.

A location is a folder, a file inside one, a repo id in the local Hugging Face cache,
or nothing (the bundled model). Its ``config.json`` says which format it is: the
project's own (``native``) or a Hugging Face family (``hf``). Each format's loader lives
in its own module; this one only decides which of them is asked.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from .bundled import bundled_checkpoint
from .chat import ChatTemplate
from .inference import AttentionModel
from .native import NATIVE_MODEL_TYPE, load_native
from .precision import requested_dtype
from .weights import CheckpointError, read_config_json

__all__ = ["bundled_checkpoint", "load_checkpoint", "resolve_folder"]

log = logging.getLogger(__name__)


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


def load_checkpoint(
    location: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = "auto",
) -> AttentionModel:
    """Open a native checkpoint, a Hugging Face folder or a cached Hugging Face repo id.

    ``dtype`` is the network's compute dtype (``model.precision``): a ``--dtype`` choice,
    resolved for ``device`` (``"auto"`` is float32 on the CPU and the checkpoint's own
    float dtype elsewhere); or what ``requested_dtype`` gave for another device (a torch
    dtype, or None for the checkpoint's own), for a model loaded here to be moved there.

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
    weights_dtype = requested_dtype(dtype, device) if isinstance(dtype, str) else dtype
    values = read_config_json(folder)
    if values.get("model_type") == NATIVE_MODEL_TYPE:
        model = load_native(folder, values, weights_dtype)
    else:
        from .hf import load_hf_folder

        model = load_hf_folder(folder, values, weights_dtype)
    model.chat_template = _chat_template(folder)
    return model.to(device)


def _chat_template(folder: Path) -> ChatTemplate | None:
    """The folder's chat template; a broken one is logged and left out, never fatal to loading."""
    try:
        return ChatTemplate.from_folder(folder)
    except CheckpointError as error:
        log.warning("%s: the chat template is not used: %s", folder, error)
        return None
