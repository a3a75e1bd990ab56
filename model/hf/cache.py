"""The local Hugging Face cache, read strictly offline.

The hub library keeps each downloaded repository as
``<cache>/models--<org>--<name>/snapshots/<commit>/…`` with ``refs/main`` holding the
commit of the default branch. This module reads that layout with pathlib alone: it
never imports ``huggingface_hub`` and never touches the network. What it lists as
openable comes from the format modules (``model.native`` and ``model.hf.families``),
never from the loaders that use this module.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..native import NATIVE_MODEL_TYPE
from ..weights import MAX_CONFIG_BYTES
from .families import SUPPORTED_MODEL_TYPES

MODEL_PREFIX = "models--"
# A repo id as the hub spells it: "name" or "org/name" of letters, digits, "-", "_", ".".
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?")
_COMMIT = re.compile(r"[0-9a-fA-F]{6,64}")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


@dataclass(frozen=True)
class CachedModel:
    """A cached repository this project can open."""

    repo_id: str
    model_type: str
    folder: Path


def cache_folder() -> Path:
    """``HF_HUB_CACHE``, else ``HF_HOME/hub``, else the hub library's default under the user's cache."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(os.path.expanduser(base)) / "huggingface" / "hub"


def _repo_folder_name(repo_id: str) -> str:
    return MODEL_PREFIX + repo_id.replace("/", "--")


def _snapshot(repo_folder: Path) -> Path | None:
    """The snapshot ``refs/main`` points at, else the most recent snapshot with a config."""
    snapshots = repo_folder / "snapshots"
    ref = repo_folder / "refs" / "main"
    try:
        if ref.is_file():
            commit = ref.read_text(encoding="utf-8").strip()
            if _COMMIT.fullmatch(commit) and (snapshots / commit / "config.json").is_file():
                return snapshots / commit
        candidates = [path for path in snapshots.iterdir() if (path / "config.json").is_file()]
    except (OSError, UnicodeDecodeError):
        return None
    return max(candidates, key=lambda path: path.stat().st_mtime) if candidates else None


def find_cached_model(repo_id: str) -> Path | None:
    """The snapshot folder of a cached repo id (``org/name``), or None if it is not cached."""
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        return None
    repo_folder = cache_folder() / _repo_folder_name(repo_id)
    return _snapshot(repo_folder) if repo_folder.is_dir() else None


def repo_id_of(folder: Path) -> str | None:
    """The repo id of a snapshot folder inside a cache, or None for any other folder."""
    parts = folder.parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith(MODEL_PREFIX):
        return parts[-3][len(MODEL_PREFIX) :].replace("--", "/")
    return None


def _model_type(folder: Path) -> str | None:
    path = folder / "config.json"
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, or built to break the parser
        return None
    model_type = values.get("model_type") if isinstance(values, dict) else None
    return model_type if isinstance(model_type, str) else None


def list_cached_models() -> list[CachedModel]:
    """Every cached repository whose snapshot has a supported config, weights and a tokenizer."""
    openable = (NATIVE_MODEL_TYPE, *SUPPORTED_MODEL_TYPES)

    root = cache_folder()
    try:
        repo_folders = sorted(path for path in root.iterdir() if path.name.startswith(MODEL_PREFIX) and path.is_dir())
    except OSError:
        return []
    found = []
    for repo_folder in repo_folders:
        snapshot = _snapshot(repo_folder)
        if snapshot is None:
            continue
        model_type = _model_type(snapshot)
        has_weights = any((snapshot / name).is_file() for name in WEIGHT_FILES)
        if model_type in openable and has_weights and (snapshot / "tokenizer.json").is_file():
            repo_id = repo_folder.name[len(MODEL_PREFIX) :].replace("--", "/")
            found.append(CachedModel(repo_id, model_type, snapshot))
    return found
