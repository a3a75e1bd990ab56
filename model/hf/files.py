"""The weight files of a Hugging Face folder: one safetensors file, shards, or a pickle.

``open_weights`` finds the files and learns every tensor's name and shape — from the
validated safetensors headers, without reading tensor data — so the loader can check
the whole map before reading anything. A ``pytorch_model.bin`` is opened only with
``torch.load(weights_only=True)``, which refuses any pickle that would run code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..precision import stored_float_dtype
from ..weights import (
    SAFETENSORS_DTYPES,
    CheckpointError,
    checkpoint_file,
    load_pickled_weights,
    load_safetensors,
    read_safetensors_header,
)

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE = "pytorch_model.bin"
MAX_INDEX_BYTES = 16 * 1024 * 1024
_DTYPE_NAMES = {dtype: name for name, (_, dtype) in SAFETENSORS_DTYPES.items()}


@dataclass
class WeightFiles:
    """Every tensor's shape and the file holding it; ``read`` loads the ones asked for (as fp32 unless told)."""

    folder: Path
    shapes: dict[str, tuple[int, ...]]
    file_of: dict[str, str]
    # safetensors dtype names ("F32", "I64", …) of every tensor
    dtypes: dict[str, str]
    # A pickle has to be read whole to learn its shapes; its tensors are kept from then on.
    loaded: dict[str, torch.Tensor] | None = None

    def stored_dtype(self) -> torch.dtype:
        """The float dtype holding most of the checkpoint's values."""
        return stored_float_dtype((self.dtypes[name], math.prod(shape)) for name, shape in self.shapes.items())

    def read(self, names: set[str], dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        if self.loaded is not None:
            return {name: self.loaded[name].to(dtype) if self.loaded[name].is_floating_point() else self.loaded[name]
                    for name in names}
        by_file: dict[str, dict[str, str]] = {}
        for name in names:
            by_file.setdefault(self.file_of[name], {})[name] = name
        tensors: dict[str, torch.Tensor] = {}
        for file_name, wanted in sorted(by_file.items()):
            tensors.update(load_safetensors(self.folder / file_name, wanted, dtype))
        return tensors


def open_weights(folder: Path) -> WeightFiles:
    """The folder's weights, preferring safetensors; a ``CheckpointError`` if there are none."""
    if checkpoint_file(folder, SAFETENSORS) is not None:
        return _single_safetensors(folder)
    if checkpoint_file(folder, SAFETENSORS_INDEX) is not None:
        return _sharded_safetensors(folder)
    if checkpoint_file(folder, PICKLE) is not None:
        return _pickle(folder)
    raise CheckpointError(
        f"{folder} has no weights: expected {SAFETENSORS}, {SAFETENSORS_INDEX} with its shards, or {PICKLE}"
    )


def _single_safetensors(folder: Path) -> WeightFiles:
    header = read_safetensors_header(folder / SAFETENSORS)
    return WeightFiles(
        folder,
        {name: entry.shape for name, entry in header.items()},
        {name: SAFETENSORS for name in header},
        {name: entry.dtype for name, entry in header.items()},
    )


def _sharded_safetensors(folder: Path) -> WeightFiles:
    index_path = folder / SAFETENSORS_INDEX
    if index_path.stat().st_size > MAX_INDEX_BYTES:
        raise CheckpointError(f"{SAFETENSORS_INDEX} is {index_path.stat().st_size:,} bytes, too large for a shard index")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # bad JSON or UTF-8, a huge number, deep nesting
        raise CheckpointError(f"{SAFETENSORS_INDEX} is not valid JSON") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(name, str) and isinstance(shard, str) for name, shard in weight_map.items()
    ):
        raise CheckpointError(f"{SAFETENSORS_INDEX} has no weight_map of tensor names to shard files")
    shapes: dict[str, tuple[int, ...]] = {}
    file_of: dict[str, str] = {}
    dtypes: dict[str, str] = {}
    for shard in sorted(set(weight_map.values())):
        # Shards sit beside the index; a path elsewhere is refused rather than followed.
        if Path(shard).name != shard or not shard.endswith(".safetensors"):
            raise CheckpointError(f"{SAFETENSORS_INDEX} names {shard!r}, which is not a safetensors file in the same folder")
        if checkpoint_file(folder, shard) is None:
            raise CheckpointError(f"{SAFETENSORS_INDEX} names the shard {shard}, which is missing from {folder}")
        header = read_safetensors_header(folder / shard)
        for name, entry in header.items():
            shapes[name] = entry.shape
            file_of[name] = shard
            dtypes[name] = entry.dtype
    for name, shard in weight_map.items():
        if file_of.get(name) != shard:
            raise CheckpointError(f"{SAFETENSORS_INDEX} places tensor {name!r} in {shard}, which does not hold it")
    return WeightFiles(folder, shapes, file_of, dtypes)


def _pickle(folder: Path) -> WeightFiles:
    tensors = load_pickled_weights(folder / PICKLE)
    return WeightFiles(
        folder,
        {name: tuple(tensor.shape) for name, tensor in tensors.items()},
        {name: PICKLE for name in tensors},
        {name: _DTYPE_NAMES.get(tensor.dtype, str(tensor.dtype)) for name, tensor in tensors.items()},
        loaded=tensors,
    )
