"""A trace saved to one ``.npz`` file and opened again without the model.

``save_trace`` writes everything the panels show: both token axes (ids, strings, special,
padding and chat-template marks), every kind's weights and scores (dense, as the trace
holds them: float32 or float16), its key/value sharing and windows, the value-vector
norms and Gram matrices, the decoder's hidden states and residual stream, the model's
name, architecture and one-line description, and the notices. ``load_trace`` reads it
back into an equal ``Trace``.

Opening a file is treated like opening a checkpoint: it may come from anyone. It is
read with ``np.load(allow_pickle=False)`` (nothing in it can run code), and before any
array is read every member's header is checked: only known names, only plain numeric,
boolean or text dtypes, shapes that agree with each other and with the token axes, a
declared size that matches the bytes the member holds, a compressed member that expands
at most ``MAX_EXPANSION``-fold, and a total under ``MAX_TRACE_BYTES``. Every refusal is one ``TraceFileError`` (a ``ValueError``) sentence
naming the file. Numpy only: no torch is imported.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .trace import KIND_AXES, KINDS, AttentionMaps, TokenAxis, Trace

FORMAT = "attention-explorer trace"
VERSION = 1
# A saved trace may hold at most this many bytes of arrays once read (and so in memory).
MAX_TRACE_BYTES = 8 * 2**30
# Per-member limits that keep a crafted header from claiming absurd sizes.
MAX_TOKENS = 1 << 20
MAX_TOKEN_CHARS = 4096
MAX_NOTICES = 64
MAX_TEXT_CHARS = 4096
MAX_LAYERS_HEADS = 4096
# A compressed member may expand at most this many times (float attention maps compress a
# few times; a zip bomb of zeros, a thousand times).
MAX_EXPANSION = 100

SIDES = ("encoder", "decoder")
_FLOAT = {np.dtype(np.float32), np.dtype(np.float16)}


class TraceFileError(ValueError):
    """A trace file that cannot be opened; the message is one sentence naming the file."""


def _text(value: str) -> np.ndarray:
    return np.array(str(value)[:MAX_TEXT_CHARS], dtype=np.str_)


def trace_members(trace: Trace, description: str = "") -> dict[str, np.ndarray]:
    """The arrays ``save_trace`` writes, by member name."""
    members: dict[str, np.ndarray] = {
        "format": _text(FORMAT),
        "version": np.array(VERSION, dtype=np.int64),
        "model_name": _text(trace.model_name),
        "architecture": _text(trace.architecture),
        "description": _text(description),
        "generated": np.array(bool(trace.generated)),
        "notices": np.array([notice[:MAX_TEXT_CHARS] for notice in trace.notices[:MAX_NOTICES]], dtype=np.str_),
    }
    for side in SIDES:
        axis: TokenAxis | None = getattr(trace, side)
        if axis is None:
            continue
        members[f"{side}_ids"] = np.asarray(axis.ids, dtype=np.int64)
        members[f"{side}_tokens"] = np.array(axis.tokens, dtype=np.str_).reshape(len(axis.tokens))
        members[f"{side}_special"] = np.asarray(axis.special, dtype=bool)
        members[f"{side}_padding"] = np.asarray(axis.padding, dtype=bool)
        if axis.template is not None:
            members[f"{side}_template"] = np.asarray(axis.template, dtype=bool)
    for kind in trace.kinds:
        maps = trace.attention[kind]
        # Layer by layer: the maps may be array-likes that refuse one whole-array read.
        members[kind] = np.stack([np.asarray(maps.weights[layer]) for layer in range(maps.n_layers)])
        members[f"{kind}_scores"] = np.stack([np.asarray(maps.scores[layer]) for layer in range(maps.n_layers)])
        if maps.kv_heads is not None:
            members[f"{kind}_kv_heads"] = np.asarray(maps.kv_heads, dtype=np.int64)
        if maps.windows is not None:
            members[f"{kind}_windows"] = np.array([-1 if w is None else w for w in maps.windows], dtype=np.int64)
        if maps.value_norms is not None:
            members[f"{kind}_value_norms"] = np.asarray(maps.value_norms, dtype=np.float32)
        if maps.value_gram is not None:
            members[f"{kind}_value_gram"] = np.asarray(maps.value_gram, dtype=np.float32)
    if trace.decoder_hidden is not None:
        members["decoder_hidden"] = np.asarray(trace.decoder_hidden, dtype=np.float32)
    if trace.decoder_residuals is not None:
        members["decoder_residuals"] = np.asarray(trace.decoder_residuals, dtype=np.float32)
    return members


def save_trace(trace: Trace, path: str | os.PathLike, description: str = "") -> Path:
    """Write ``trace`` to ``path`` (an ``.npz``) through a temporary file renamed into place."""
    path = Path(path)
    members = trace_members(trace, description)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as handle:
            np.savez(handle, **members)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


# -- reading ---------------------------------------------------------------------------------------
_KIND_MEMBERS = ("", "_scores", "_kv_heads", "_windows", "_value_norms", "_value_gram")
_SIDE_MEMBERS = ("_ids", "_tokens", "_special", "_padding", "_template")
KNOWN = frozenset(
    {"format", "version", "model_name", "architecture", "description", "generated", "notices",
     "decoder_hidden", "decoder_residuals"}
    | {f"{kind}{suffix}" for kind in KINDS for suffix in _KIND_MEMBERS}
    | {f"{side}{suffix}" for side in SIDES for suffix in _SIDE_MEMBERS}
)


def _headers(name: str, archive: zipfile.ZipFile) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """(shape, dtype, member bytes) of every array, read from the .npy headers only."""
    headers = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise TraceFileError(f"{name} holds {info.filename!r}, which is not an array; it is not a saved trace")
        member = info.filename[:-4]
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
            raise TraceFileError(
                f"{name}: the array {member!r} would expand from {info.compress_size:,} to {info.file_size:,} bytes; "
                f"a saved trace expands at most {MAX_EXPANSION}-fold"
            )
        if member not in KNOWN:
            raise TraceFileError(f"{name} holds an array named {member!r}, which no saved trace has")
        if member in headers:
            raise TraceFileError(f"{name} holds the array {member!r} twice")
        with archive.open(info) as handle:
            try:
                version = np.lib.format.read_magic(handle)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = reader(handle, max_header_size=10_000)
            except (ValueError, OSError, EOFError) as error:
                raise TraceFileError(f"{name}: the array {member!r} has no readable header ({error})") from None
            offset = handle.tell()
        if dtype.hasobject or dtype.kind not in "biufU" or dtype.fields is not None or dtype.subdtype is not None:
            raise TraceFileError(f"{name}: the array {member!r} has dtype {dtype}; a saved trace holds numbers and text only")
        if any(size < 0 for size in shape) or len(shape) > 5:
            raise TraceFileError(f"{name}: the array {member!r} has the impossible shape {shape}")
        count = int(np.prod(shape, dtype=object))
        nbytes = count * dtype.itemsize
        if nbytes > MAX_TRACE_BYTES:
            raise TraceFileError(f"{name}: the array {member!r} would take {nbytes:,} bytes; a trace may hold {MAX_TRACE_BYTES:,}")
        if info.file_size != offset + nbytes:
            raise TraceFileError(
                f"{name}: the array {member!r} declares {nbytes:,} bytes of data but holds {info.file_size - offset:,}"
            )
        headers[member] = (tuple(shape), dtype, nbytes)
    return headers


def _check(name: str, headers: dict) -> None:
    """Shapes that agree with each other and with the token axes, before anything is read."""
    def need(member: str, shape: tuple | None = None, kinds: str = "", rank: int | None = None) -> None:
        if member not in headers:
            raise TraceFileError(f"{name} has no {member!r} array; it is not a complete saved trace")
        got, dtype, _ = headers[member]
        if kinds and dtype.kind not in kinds:
            raise TraceFileError(f"{name}: the array {member!r} has dtype {dtype}, not the one a saved trace writes")
        if shape is not None and got != shape:
            raise TraceFileError(f"{name}: the array {member!r} has shape {got}, but the trace needs {shape}")
        if rank is not None and len(got) != rank:
            raise TraceFileError(f"{name}: the array {member!r} has {len(got)} axes, not {rank}")

    total = sum(nbytes for _shape, _dtype, nbytes in headers.values())
    if total > MAX_TRACE_BYTES:
        raise TraceFileError(f"{name} would take {total:,} bytes once read; a trace may hold {MAX_TRACE_BYTES:,}")
    for member in ("format", "model_name", "architecture", "description"):
        need(member, (), "U")
        if headers[member][1].itemsize > 4 * MAX_TEXT_CHARS:
            raise TraceFileError(f"{name}: the text {member!r} is longer than {MAX_TEXT_CHARS:,} characters")
    need("version", (), "iu")
    need("generated", (), "b")
    need("notices", None, "U", rank=1)
    if headers["notices"][0][0] > MAX_NOTICES or headers["notices"][1].itemsize > 4 * MAX_TEXT_CHARS:
        raise TraceFileError(f"{name} holds more or longer notices than a saved trace writes")
    lengths = {}
    for side in SIDES:
        if f"{side}_ids" not in headers:
            continue
        need(f"{side}_ids", None, "iu", rank=1)
        length = headers[f"{side}_ids"][0][0]
        if length > MAX_TOKENS:
            raise TraceFileError(f"{name}: the {side} has {length:,} tokens; a trace may have {MAX_TOKENS:,}")
        need(f"{side}_tokens", (length,), "U")
        if headers[f"{side}_tokens"][1].itemsize > 4 * MAX_TOKEN_CHARS:
            raise TraceFileError(f"{name}: a {side} token is longer than {MAX_TOKEN_CHARS:,} characters")
        need(f"{side}_special", (length,), "b")
        need(f"{side}_padding", (length,), "b")
        if f"{side}_template" in headers:
            need(f"{side}_template", (length,), "b")
        lengths[side] = length
    kinds = [kind for kind in KINDS if kind in headers]
    if not kinds:
        raise TraceFileError(f"{name} holds no attention of any kind; it is not a saved trace")
    for kind in kinds:
        query_side, key_side = KIND_AXES[kind]
        if query_side not in lengths or key_side not in lengths:
            raise TraceFileError(f"{name} holds {kind} attention but not the token axes it runs along")
        need(kind, None, "f", rank=4)
        shape = headers[kind][0]
        layers, heads, queries, keys = shape
        if layers > MAX_LAYERS_HEADS or heads > MAX_LAYERS_HEADS or layers * heads == 0:
            raise TraceFileError(f"{name}: {kind} has {layers} layers × {heads} heads, which no model has")
        if (queries, keys) != (lengths[query_side], lengths[key_side]):
            raise TraceFileError(
                f"{name}: {kind} has {queries} × {keys} queries × keys, but its token axes have "
                f"{lengths[query_side]} and {lengths[key_side]} tokens"
            )
        if headers[kind][1] not in _FLOAT:
            raise TraceFileError(f"{name}: {kind} is {headers[kind][1]}; a trace holds float32 or float16")
        need(f"{kind}_scores", shape, "f")
        for suffix, expected, dtypes in (("_kv_heads", (heads,), "iu"), ("_windows", (layers,), "iu"),
                                         ("_value_norms", (layers, heads, keys), "f"),
                                         ("_value_gram", (layers, heads, heads, keys), "f")):
            if f"{kind}{suffix}" in headers:
                need(f"{kind}{suffix}", expected, dtypes)
    for member in ("decoder_hidden", "decoder_residuals"):
        if member in headers:
            if "decoder" not in lengths:
                raise TraceFileError(f"{name} holds {member!r} but no decoder tokens")
            need(member, None, "f", rank=2 if member == "decoder_hidden" else 3)
            if headers[member][0][-2] != lengths["decoder"]:
                raise TraceFileError(f"{name}: {member!r} has {headers[member][0][-2]} positions, the decoder {lengths['decoder']}")


def load_trace(path: str | os.PathLike) -> tuple[Trace, str]:
    """The trace saved in ``path`` and the model's description; ``TraceFileError`` otherwise."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise TraceFileError(f"{name} is not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            headers = _headers(name, archive)
    except zipfile.BadZipFile:
        raise TraceFileError(f"{name} is not an .npz archive (a saved trace is one)") from None
    except OSError as error:
        raise TraceFileError(f"cannot read {name}: {error.strerror or error}") from None
    _check(name, headers)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            read = {member: arrays[member] for member in headers}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise TraceFileError(f"{name} cannot be read: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
    if str(read["format"]) != FORMAT:
        raise TraceFileError(f"{name} is not a saved attention-explorer trace (its format says {str(read['format'])[:60]!r})")
    if int(read["version"]) != VERSION:
        raise TraceFileError(f"{name} was saved in trace format {int(read['version'])}; this version opens format {VERSION}")
    architecture = str(read["architecture"])
    if architecture not in ("encoder", "decoder", "encoder-decoder"):
        raise TraceFileError(f"{name} names the unknown architecture {architecture[:40]!r}")
    axes = {}
    for side in SIDES:
        if f"{side}_ids" in read:
            axes[side] = TokenAxis(
                ids=read[f"{side}_ids"].astype(np.int64),
                tokens=[str(token) for token in read[f"{side}_tokens"]],
                special=read[f"{side}_special"],
                padding=read[f"{side}_padding"],
                template=read.get(f"{side}_template"),
            )
    attention = {}
    for kind in KINDS:
        if kind not in read:
            continue
        windows = read.get(f"{kind}_windows")
        kv_heads = read.get(f"{kind}_kv_heads")
        if kv_heads is not None and (kv_heads.min(initial=0) < 0 or kv_heads.max(initial=0) >= read[kind].shape[1]):
            raise TraceFileError(f"{name}: {kind}'s key/value heads name heads the trace does not have")
        attention[kind] = AttentionMaps(
            weights=read[kind],
            scores=read[f"{kind}_scores"].astype(read[kind].dtype, copy=False),
            kv_heads=kv_heads,
            windows=None if windows is None else tuple(None if w < 0 else int(w) for w in windows),
            value_norms=read.get(f"{kind}_value_norms"),
            value_gram=read.get(f"{kind}_value_gram"),
        )
    trace = Trace(
        model_name=str(read["model_name"]),
        architecture=architecture,
        encoder=axes.get("encoder"),
        decoder=axes.get("decoder"),
        attention=attention,
        generated=bool(read["generated"]),
        notices=[str(notice) for notice in read["notices"]],
        decoder_hidden=read.get("decoder_hidden"),
        decoder_residuals=read.get("decoder_residuals"),
    )
    expected = {"encoder": ("encoder_self",), "decoder": ("decoder_self",),
                "encoder-decoder": ("encoder_self", "decoder_self", "cross")}[architecture]
    if trace.kinds != expected:
        raise TraceFileError(f"{name} is an {architecture} trace but holds {', '.join(trace.kinds)} attention")
    return trace, str(read["description"])
