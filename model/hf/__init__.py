"""Hugging Face checkpoints mapped onto the project's own network (no ``transformers``)."""

from __future__ import annotations

from pathlib import Path

from ..weights import CheckpointError


def load_hf_folder(folder: Path, values: dict):
    model_type = values.get("model_type")
    raise CheckpointError(f"{folder}: model_type {model_type!r} is not supported yet")
