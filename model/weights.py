"""Reading checkpoint files that may be hostile: ``config.json`` and the weights.

``config.json`` is read by size-limited, strict JSON parsing, whatever the checkpoint's
format (native or Hugging Face): the loader needs its ``model_type`` to choose one. Every
safetensors header is parsed and checked against the file's real size before a
byte of tensor data is touched, so a truncated file or a header claiming terabytes is
refused with a sentence instead of a crash or a huge allocation. Pickles are never
unpickled beyond what ``torch.load(weights_only=True)`` allows, and a zip archive that
would inflate is refused before that. Only a checkpoint's own regular files are read
(``checkpoint_file``): links out of its folder are refused. Weights must be finite
floating-point values of plausible size.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

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
# A real header is a few hundred bytes per tensor, well under a megabyte even for
# thousands of tensors; a larger one is refused before it is read, so parsing it stays cheap.
MAX_HEADER_BYTES = 16 * 1024 * 1024
# No trained weight comes near this (float16 itself stops at 65504); a value beyond it is a
# flipped exponent bit or a crafted file, and would turn the attention into NaN.
MAX_WEIGHT_MAGNITUDE = 1e6
# The pickle inside a torch zip file lists tensor names and layouts, a few kilobytes per
# hundred tensors; the tensor data lies in separate entries that are memory-mapped.
MAX_PICKLE_BYTES = 64 * 1024 * 1024
# A model configuration is a few kilobytes; anything near this is not one.
MAX_CONFIG_BYTES = 1024 * 1024
# A refusal is one line for a status bar or a terminal, even when it quotes a hostile file.
MAX_MESSAGE_CHARS = 600


class CheckpointError(ValueError):
    """A checkpoint cannot be opened; the message is one sentence for the user.

    Messages quote names taken from the files (tensor names, configuration fields), so
    the message is made safe to show: control and formatting characters (newlines,
    terminal escapes, right-to-left overrides) are written as escapes, and an overlong
    message is cut.
    """

    def __init__(self, message: str) -> None:
        super().__init__(printable_line(str(message), MAX_MESSAGE_CHARS))


def printable_line(text: str, limit: int) -> str:
    """``text`` on one line of printable characters, at most ``limit`` long."""
    safe = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def checkpoint_root(folder: Path) -> Path:
    """Where the files of a checkpoint folder may live: the folder itself, resolved.

    A snapshot in the Hugging Face cache (``models--org--name/snapshots/<commit>/``) holds
    links into the repository's ``blobs/`` folder, so there the repository folder is the root.
    """
    resolved = folder.resolve()
    for parts in (folder.absolute().parts, resolved.parts):
        if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
            return resolved.parent.parent
    return resolved


def checkpoint_file(folder: Path, name: str) -> Path | None:
    """``folder / name`` if present, after checking that reading it reads the checkpoint's own file.

    Returns None when there is no such entry. A link that leads out of the checkpoint
    folder (to ``/etc``, a home folder, ``/dev/zero``…) is refused rather than followed,
    as is anything but a regular file (a folder, a pipe that would block, a device).
    Linking the whole folder elsewhere is the user's own choice and is allowed.
    """
    path = folder / name
    if not os.path.lexists(path):
        return None
    target = path.resolve()
    if path.is_symlink() or target != path.absolute():
        if not target.is_relative_to(checkpoint_root(folder)):
            raise CheckpointError(
                f"{path} links to {target}, outside the checkpoint folder; such links are not followed "
                "(copy the file into the folder instead)"
            )
    if not target.exists():
        raise CheckpointError(f"{path} is a broken link")
    if not target.is_file():
        raise CheckpointError(f"{path} is not a regular file")
    return path


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
        raise CheckpointError(f"{path} is not valid JSON ({first_line(error)})") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser's stack
        raise CheckpointError(f"{path} is not a model configuration: its JSON is nested too deeply") from None
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} must hold a JSON object, not {type(values).__name__}")
    return values


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
            if header_size > size - 8:
                raise CheckpointError(
                    f"{name} is truncated or corrupt: its header claims {header_size:,} bytes "
                    f"but the file has {size:,}"
                )
            if header_size > MAX_HEADER_BYTES:
                raise CheckpointError(
                    f"{name} is corrupt: its header claims {header_size:,} bytes, "
                    f"more than the {MAX_HEADER_BYTES:,} any weight file needs"
                )
            raw = handle.read(header_size)
    except OSError as error:
        raise CheckpointError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, a number of thousands of digits, deep nesting
        raise CheckpointError(f"{name} is corrupt: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} is corrupt: its header is not a JSON object")

    data_size = size - 8 - header_size
    entries: dict[str, TensorEntry] = {}
    for tensor_name, info in header.items():
        if tensor_name == "__metadata__":
            continue
        entries[tensor_name] = _entry(name, tensor_name, info, data_size)
    # Each tensor owns its bytes: two entries over the same bytes are a forged header.
    filled = sorted((entry.start, entry.end, tensor_name) for tensor_name, entry in entries.items() if entry.end > entry.start)
    for (_, previous_end, previous), (start, _, current) in zip(filled, filled[1:]):
        if start < previous_end:
            raise CheckpointError(
                f"{name} is corrupt: tensors {printable_line(previous, 60)!r} and {printable_line(current, 60)!r} "
                "claim the same bytes"
            )
    return entries


def _entry(file_name: str, tensor_name: str, info: object, data_size: int) -> TensorEntry:
    where = f"{file_name}, tensor {tensor_name!r}"
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: the header entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
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


def load_safetensors(
    path: Path, names: dict[str, str] | None = None, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """Read float tensors as ``dtype`` (integers as they are), optionally renaming.

    ``names`` maps file tensor names to the names wanted; tensors not in it are skipped.
    The header has been validated before any data is read. Each tensor's bytes are read
    straight into a tensor of its own (no memory map), so loading holds the weights once:
    a mapped file would add its touched pages to the resident memory until it is closed.
    """
    entries = read_safetensors_header(path)
    wanted = names if names is not None else {name: name for name in entries}
    tensors: dict[str, torch.Tensor] = {}
    try:
        with open(path, "rb") as handle:
            data_start = 8 + int.from_bytes(handle.read(8), "little")
            for file_name, our_name in wanted.items():
                entry = entries.get(file_name)
                if entry is None:
                    continue
                tensor = _read_tensor(handle, data_start, entry, path.name, file_name)
                tensors[our_name] = as_compute_dtype(path.name, file_name, tensor, entry.dtype, dtype)
    except OSError as error:
        raise CheckpointError(f"cannot read {path.name}: {error.strerror or error}") from None
    return tensors


def _read_tensor(handle, data_start: int, entry: TensorEntry, file_name: str, tensor_name: str) -> torch.Tensor:
    """One tensor's little-endian bytes, read into a tensor of its dtype and shape."""
    tensor = torch.empty(entry.shape, dtype=SAFETENSORS_DTYPES[entry.dtype][1])
    size = entry.end - entry.start
    if size:
        handle.seek(data_start + entry.start)
        target = tensor.reshape(-1).view(torch.uint8).numpy()  # the tensor's own bytes, (size,)
        if handle.readinto(memoryview(target)) != size:
            raise CheckpointError(f"{file_name} is truncated: tensor {tensor_name!r} ends past the end of the file")
    return tensor


def require_float(file_name: str, tensor_name: str, dtype: str) -> None:
    """Refuse a tensor the network uses as weights that the file stores as integers or booleans."""
    if dtype not in FLOAT_DTYPES:
        raise CheckpointError(
            f"{file_name}: tensor {tensor_name!r} is stored as {dtype}, but model weights must be floating point"
        )


def as_compute_dtype(
    file_name: str, tensor_name: str, tensor: torch.Tensor, stored: str, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A float tensor checked (finite, of plausible size) and converted to ``dtype``;
    integer tensors as they are. ``stored`` is its safetensors dtype name."""
    if stored not in FLOAT_DTYPES:
        return tensor
    if tensor.numel():
        # aminmax makes no tensor-sized temporary (abs() and isfinite() would) and passes NaN on.
        low, high = (float(value) for value in torch.aminmax(tensor))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise CheckpointError(f"{file_name}: tensor {tensor_name!r} holds NaN or infinite values")
        largest = max(-low, high)
        if largest > MAX_WEIGHT_MAGNITUDE:
            raise CheckpointError(
                f"{file_name}: tensor {tensor_name!r} holds a value of {largest:.3g}, far beyond any trained "
                "weight; the file is probably corrupt"
            )
        if dtype == torch.float16 and largest > torch.finfo(torch.float16).max:
            raise CheckpointError(
                f"{file_name}: tensor {tensor_name!r} holds a value of {largest:.3g}, beyond float16's range; "
                "open it as bfloat16 or float32"
            )
    return tensor.to(dtype)


def load_pickled_weights(path: Path, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A ``pytorch_model.bin`` read with the restricted unpickler that runs no code.

    Zip-format files (torch >= 1.6) are memory-mapped; the older plain-pickle format,
    which cannot be mapped, is read whole by the same restricted unpickler.
    """
    _check_archive(path)
    try:
        state = _restricted_load(path, mmap=True)
    except RuntimeError:  # only "cannot mmap this format" gets out of _restricted_load
        state = _restricted_load(path, mmap=False)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} does not hold a mapping of tensor names to tensors")
    tensors = {}
    for name, tensor in state.items():
        stored = "F32" if tensor.is_floating_point() else "I64"
        tensors[name] = as_compute_dtype(path.name, name, tensor, stored, dtype)
    return tensors


def _check_archive(path: Path) -> None:
    """Refuse a zip-format weight file whose entries would inflate beyond the file's own size.

    ``torch.save`` stores every entry uncompressed; a compressed entry can only be a
    decompression bomb (a 1 MB file whose pickle inflates to gigabytes before the
    restricted unpickler sees its first forbidden opcode). The pickle program itself
    (tensor names and layout, not tensor data) is small in any real file.
    """
    try:
        if not zipfile.is_zipfile(path):
            return  # the older plain-pickle format: read as a stream, never larger than the file
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointError(f"{path.name} is not a readable PyTorch weight file ({first_line(error)})") from None
    for entry in entries:
        if entry.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{path.name} was refused: its entry {entry.filename} is compressed, which torch.save never does"
            )
    for entry in entries:
        if entry.filename.endswith(".pkl") and entry.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(
                f"{path.name} was refused: its pickle {entry.filename} is {entry.file_size:,} bytes, "
                f"more than the {MAX_PICKLE_BYTES:,} any weight file needs"
            )


def _restricted_load(path: Path, mmap: bool) -> object:
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it was not written with; the refusal says enough.
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError as error:
        if mmap and "mmap" in str(error):
            raise
        reason = first_line(error)
        if "wrong byte size" in reason:  # torch leaves its printf placeholders in this one
            reason = "a storage's declared size does not match its data"
        raise CheckpointError(f"{path.name} is not a readable PyTorch weight file ({reason})") from None
    except OSError as error:  # a cut or damaged zip archive ends in EINVAL from torch's reader
        reason = "it is truncated or damaged" if error.errno in (errno.EINVAL, None) else error.strerror
        raise CheckpointError(f"{path.name} is not a readable PyTorch weight file ({reason})") from None
    except Exception as error:  # UnpicklingError for forbidden globals and opcodes, EOFError, …
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
        # torch names the refused callable in one of two wordings, depending on the file format
        forbidden = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", text)
        if forbidden:
            raise CheckpointError(
                f"{path.name} was refused: loading it would call {forbidden.group(1)}, so it could run code; "
                "only plain tensor files are read (use a safetensors copy)"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        reason = detail.group(1).strip() if detail else first_line(error)
        raise CheckpointError(
            f"{path.name} was refused: it is not a plain tensor file that can be read without running code ({reason})"
        ) from None


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line, for one-sentence errors (its type if it has none)."""
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
