"""Reading weight files that may be hostile.

Every safetensors header is parsed and checked against the file's real size before a
byte of tensor data is touched, so a truncated file or a header claiming terabytes is
refused with a sentence instead of a crash or a huge allocation. Pickles are never
unpickled beyond what ``torch.load(weights_only=True)`` allows.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

# bytes per element of each safetensors dtype, and the torch dtype it becomes
SAFETENSORS_DTYPES: dict[str, tuple[int, torch.dtype]] = {
    "F64": (8, torch.float64),
    "F32": (4, torch.float32),
    "F16": (2, torch.float16),
    "BF16": (2, torch.bfloat16),
    "I64": (8, torch.int64),
    "I32": (4, torch.int32),
    "I16": (2, torch.int16),
    "I8": (1, torch.int8),
    "U8": (1, torch.uint8),
    "BOOL": (1, torch.bool),
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
# A real header is a few hundred bytes per tensor; more than this is not a weight file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint cannot be opened; the message is one sentence for the user."""


@dataclass(frozen=True)
class TensorEntry:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def read_safetensors_header(path: Path) -> dict[str, TensorEntry]:
    """Parse and validate a safetensors header without reading tensor data."""
    name = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{name} is too short to be a safetensors file ({size} bytes)")
            header_size = int.from_bytes(prefix, "little")
            if header_size > min(size - 8, MAX_HEADER_BYTES):
                raise CheckpointError(
                    f"{name} is truncated or corrupt: its header claims {header_size:,} bytes "
                    f"but the file has {size:,}"
                )
            raw = handle.read(header_size)
    except OSError as error:
        raise CheckpointError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{name} is corrupt: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} is corrupt: its header is not a JSON object")

    data_size = size - 8 - header_size
    entries: dict[str, TensorEntry] = {}
    for tensor_name, info in header.items():
        if tensor_name == "__metadata__":
            continue
        entries[tensor_name] = _entry(name, tensor_name, info, data_size)
    return entries


def _entry(file_name: str, tensor_name: str, info: object, data_size: int) -> TensorEntry:
    where = f"{file_name}, tensor {tensor_name!r}"
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: the header entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES:
        raise CheckpointError(f"{where}: unsupported dtype {dtype!r}")
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise CheckpointError(f"{where}: the shape {shape!r} is not a list of sizes")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise CheckpointError(f"{where}: invalid data offsets {offsets!r}")
    start, end = offsets
    expected = math.prod(shape) * SAFETENSORS_DTYPES[dtype][0]
    if end - start != expected:
        raise CheckpointError(f"{where}: shape {shape} needs {expected:,} bytes but the file gives {end - start:,}")
    if end > data_size:
        raise CheckpointError(f"{file_name} is truncated: tensor {tensor_name!r} ends past the end of the file")
    return TensorEntry(dtype, tuple(shape), start, end)


def load_safetensors(path: Path, names: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    """Read tensors as float32 (integers as they are), optionally renaming.

    ``names`` maps file tensor names to the names wanted; tensors not in it are skipped.
    The header has been validated before any data is read.
    """
    entries = read_safetensors_header(path)
    wanted = names if names is not None else {name: name for name in entries}
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            for file_name, our_name in wanted.items():
                if file_name not in entries:
                    continue
                tensor = handle.get_tensor(file_name)
                tensors[our_name] = _as_compute_dtype(path.name, file_name, tensor, entries[file_name].dtype)
    except CheckpointError:
        raise
    except Exception as error:  # safetensors raises its own error types for corrupt data
        raise CheckpointError(f"{path.name} is corrupt: {str(error).splitlines()[0] if str(error) else error}") from None
    return tensors


def _as_compute_dtype(file_name: str, tensor_name: str, tensor: torch.Tensor, dtype: str) -> torch.Tensor:
    if dtype not in FLOAT_DTYPES:
        return tensor
    tensor = tensor.float()
    if not torch.isfinite(tensor).all():
        raise CheckpointError(f"{file_name}: tensor {tensor_name!r} holds NaN or infinite values")
    return tensor


def load_pickled_weights(path: Path) -> dict[str, torch.Tensor]:
    """A ``pytorch_model.bin`` read with the restricted unpickler that runs no code.

    Zip-format files (torch >= 1.6) are memory-mapped; the older plain-pickle format,
    which cannot be mapped, is read whole by the same restricted unpickler.
    """
    try:
        state = _restricted_load(path, mmap=True)
    except RuntimeError:  # only "cannot mmap this format" gets out of _restricted_load
        state = _restricted_load(path, mmap=False)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} does not hold a mapping of tensor names to tensors")
    tensors = {}
    for name, tensor in state.items():
        dtype = "F32" if tensor.is_floating_point() else "I64"
        tensors[name] = _as_compute_dtype(path.name, name, tensor, dtype)
    return tensors


def _restricted_load(path: Path, mmap: bool) -> object:
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it was not written with; the refusal says enough.
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError as error:
        if mmap and "mmap" in str(error):
            raise
        raise CheckpointError(f"{path.name} is not a readable PyTorch weight file ({_first_line(error)})") from None
    except Exception as error:  # UnpicklingError for forbidden globals and opcodes, EOFError, …
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
        forbidden = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if forbidden:
            raise CheckpointError(
                f"{path.name} was refused: loading it would call {forbidden.group(1)}, so it could run code; "
                "only plain tensor files are read (use a safetensors copy)"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        reason = detail.group(1).strip() if detail else _first_line(error)
        raise CheckpointError(
            f"{path.name} was refused: it is not a plain tensor file that can be read without running code ({reason})"
        ) from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_shapes(file_name: str, found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> None:
    """Refuse missing, unexpected or misshapen tensors, naming the first few."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        raise CheckpointError(f"{file_name} lacks {len(missing)} tensor(s) the model needs, e.g. {', '.join(missing[:3])}")
    if extra:
        raise CheckpointError(f"{file_name} has {len(extra)} tensor(s) the model does not use, e.g. {', '.join(extra[:3])}")
    for name, shape in expected.items():
        if tuple(found[name]) != tuple(shape):
            raise CheckpointError(
                f"{file_name}: tensor {name!r} has shape {list(found[name])} but the configuration needs {list(shape)}"
            )
