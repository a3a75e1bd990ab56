"""The hostile-checkpoint corpus: broken and malicious checkpoint folders, built on demand.

``build_corpus(root)`` writes one valid native checkpoint and one valid Hugging Face
(GPT-2 layout) checkpoint, then a copy of one of them per case with one thing broken,
and returns the cases. Each case names the phrase the refusal must contain; the tests
check that phrase through the Python API, the CLI and (in a subprocess) the memory and
time a refusal costs. ``HOSTILE_CASES.md`` beside this file lists them for readers.

Nothing here imports ``transformers``: the GPT-2 folder is written tensor by tensor, in
the layout ``GPT2Model.save_pretrained`` uses, so the subprocess that measures memory
loads exactly what a user's folder would hold.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from model import save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

NATIVE = "native"
HF = "hugging-face"
PAYLOAD_MARKER = "payload-ran"  # the file a malicious pickle would create, beside the case folders
GPT2_SIZES = dict(vocab_size=134, n_embd=32, n_head=4, n_layer=2, n_positions=48)


@dataclass(frozen=True)
class HostileCase:
    """One broken checkpoint: what to open and the phrase its one-line refusal must contain."""

    name: str
    flavour: str
    location: Path
    phrase: str


class _CreatesFile:
    """A pickle payload: unpickling it calls ``open(path, "w")``, which creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class _RunsShell:
    """A pickle payload that would run a shell command creating the file."""

    def __init__(self, path: Path) -> None:
        self.command = f"touch {path}"

    def __reduce__(self):
        return (os.system, (self.command,))


# ---------------------------------------------------------------- valid originals


def write_native(folder: Path, **overrides) -> Path:
    """A tiny seeded encoder–decoder in the native layout (2 + 2 layers, d_model 32 unless overridden)."""
    config = tiny_config("encoder-decoder", **overrides)
    return save_checkpoint(folder, tiny_network(config, seed=7), task_tokenizer(config.max_positions), name="tiny")


def gpt2_tensors(sizes: dict[str, int] = GPT2_SIZES, seed: int = 0) -> dict[str, torch.Tensor]:
    """GPT-2 weights under the names ``GPT2Model.save_pretrained`` writes (Conv1D: (d_in, d_out))."""
    generator = torch.Generator().manual_seed(seed)
    d, vocab, positions = sizes["n_embd"], sizes["vocab_size"], sizes["n_positions"]

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.05

    tensors = {"wte.weight": normal(vocab, d), "wpe.weight": normal(positions, d)}
    for i in range(sizes["n_layer"]):
        layer = f"h.{i}"
        tensors |= {
            f"{layer}.ln_1.weight": torch.ones(d),
            f"{layer}.ln_1.bias": torch.zeros(d),
            f"{layer}.attn.c_attn.weight": normal(d, 3 * d),
            f"{layer}.attn.c_attn.bias": normal(3 * d),
            f"{layer}.attn.c_proj.weight": normal(d, d),
            f"{layer}.attn.c_proj.bias": normal(d),
            f"{layer}.ln_2.weight": torch.ones(d),
            f"{layer}.ln_2.bias": torch.zeros(d),
            f"{layer}.mlp.c_fc.weight": normal(d, 4 * d),
            f"{layer}.mlp.c_fc.bias": normal(4 * d),
            f"{layer}.mlp.c_proj.weight": normal(4 * d, d),
            f"{layer}.mlp.c_proj.bias": normal(d),
        }
    tensors |= {"ln_f.weight": torch.ones(d), "ln_f.bias": torch.zeros(d)}
    return tensors


def write_gpt2(folder: Path, sizes: dict[str, int] = GPT2_SIZES, tokenizer_json: str | None = None) -> Path:
    """A tiny GPT-2 folder as the hub holds one: config.json, model.safetensors, tokenizer.json.

    The tokenizer defaults to the bundled model's (134 entries, matching ``GPT2_SIZES``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "bos_token_id": 1,
        "eos_token_id": 2,
        **sizes,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    save_file(gpt2_tensors(sizes), str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "tokenizer.json").write_text(tokenizer_json if tokenizer_json is not None else task_tokenizer().to_json())
    return folder


# ---------------------------------------------------------------- ways of breaking a folder


def edit_json(path: Path, **changes: object) -> None:
    values = json.loads(path.read_text())
    values.update(changes)
    path.write_text(json.dumps(values))


def rewrite_tensors(path: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def header_of(path: Path) -> tuple[int, dict]:
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return size, json.loads(data[8 : 8 + size])


def flip_bit(path: Path, offset: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def flip_exponent_of_a_one(path: Path, tensor: str) -> None:
    """Flip bit 30 of the first float32 of ``tensor`` (a norm weight, 1.0): 0x3F800000 becomes +inf."""
    header_size, header = header_of(path)
    start = header[tensor]["data_offsets"][0]
    flip_bit(path, 8 + header_size + start + 3, 6)  # little-endian: byte 3 holds bits 24-31


def flip_to_huge(path: Path, tensor: str) -> None:
    """Set the first float32 of ``tensor`` to 2⁻⁵, then flip its bit 30: it becomes 2¹²³ (about 1e37)."""
    rewrite_tensors(path, lambda tensors: tensors[tensor].view(-1).__setitem__(0, 2.0**-5))
    header_size, header = header_of(path)
    flip_bit(path, 8 + header_size + header[tensor]["data_offsets"][0] + 3, 6)


def rewrite_header(path: Path, change: Callable[[dict], None]) -> None:
    """Edit the header JSON, keep the tensor bytes, and fix the header length."""
    data = path.read_bytes()
    size, header = header_of(path)
    change(header)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])


def sparse_file(path: Path, size: int) -> None:
    """A file that claims ``size`` bytes but takes no disk space (a hole)."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def outside_link(folder: Path, name: str, outside: Path) -> None:
    """Replace ``folder / name`` with a link to ``outside``, a copy of it kept outside the folder."""
    shutil.copyfile(folder / name, outside)
    (folder / name).unlink()
    (folder / name).symlink_to(outside)


def sparse_vocabulary_tokenizer(path: Path) -> None:
    """Renumber the last token to id 100000: the vocabulary still counts 134 entries."""
    values = json.loads(path.read_text())
    vocabulary = values["model"]["vocab"]
    last = max(vocabulary, key=vocabulary.get)
    vocabulary[last] = 100_000
    path.write_text(json.dumps(values))


def template_with_out_of_range_special(path: Path) -> None:
    """A post-processor that appends a special token numbered far past the embedding."""
    values = json.loads(path.read_text())
    values["post_processor"]["special_tokens"]["</s>"]["ids"] = [999_999]
    path.write_text(json.dumps(values))


def unknown_token_missing(path: Path) -> None:
    """A word-level tokenizer whose unknown token is not in its vocabulary: any new word fails."""
    values = json.loads(path.read_text())
    values["model"]["unk_token"] = "<not in the vocabulary>"
    path.write_text(json.dumps(values))


def pickle_bytes(state: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def legacy_pickle_with_huge_storage() -> bytes:
    """The pre-zip torch format whose storage declares 2³¹ − 1 floats (8 GB) over 500 KB of data."""
    buffer = io.BytesIO()
    torch.save({"wte.weight": torch.arange(123_457, dtype=torch.float32)}, buffer, _use_new_zipfile_serialization=False)
    declared = b"J" + struct.pack("<i", 123_457)  # the pickle's BININT of the element count
    return buffer.getvalue().replace(declared, b"J" + struct.pack("<i", 2**31 - 1))


def compressed_pickle_bomb(inflated: int = 256 << 20) -> bytes:
    """A torch zip file whose pickle is deflated: well under a megabyte on disk, ``inflated`` bytes
    (a string of that many letters, which the restricted unpickler would build) once read."""
    valid = io.BytesIO(pickle_bytes({"wte.weight": torch.zeros(3)}))
    bomb = io.BytesIO()
    with zipfile.ZipFile(valid) as source, zipfile.ZipFile(bomb, "w") as archive:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if not entry.filename.endswith("data.pkl"):
                archive.writestr(entry.filename, data)
                continue
            info = zipfile.ZipInfo(entry.filename)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as stream:  # streamed, so the test never holds it whole
                stream.write(b"\x80\x02X" + struct.pack("<I", inflated))
                chunk = b"a" * (1 << 20)
                for _ in range(inflated // len(chunk)):
                    stream.write(chunk)
                stream.write(b"0" + data[2:])  # drop the string, then the real pickle
    return bomb.getvalue()


def shard(folder: Path) -> None:
    """Split model.safetensors into two shards and an index, as save_pretrained does for big models."""
    tensors = load_file(str(folder / "model.safetensors"))
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for file_name, part in halves.items():
        save_file({name: tensors[name] for name in part}, str(folder / file_name))
        weight_map.update({name: file_name for name in part})
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def as_pickle(folder: Path, state: object) -> None:
    """Swap the folder's safetensors for a ``pytorch_model.bin`` holding ``state``."""
    (folder / "model.safetensors").unlink()
    data = state if isinstance(state, bytes) else pickle_bytes(state)
    (folder / "pytorch_model.bin").write_bytes(data)


# ---------------------------------------------------------------- building blocks of the cases
# Case folders sit at <root>/cases/<name>; links point into <root>/outside and payloads
# would write <root>/payload-ran, so every breaking function needs only its folder.


def corpus_root(folder: Path) -> Path:
    return folder.parent.parent


def payload_marker(root: Path) -> Path:
    return root / PAYLOAD_MARKER


def config_edit(**changes: object) -> Callable[[Path], None]:
    return lambda folder: edit_json(folder / "config.json", **changes)


def write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)

    return apply


def replace_text(name: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        text = (folder / name).read_text()
        assert old in text, f"{name} has no {old!r} to replace"
        (folder / name).write_text(text.replace(old, new))

    return apply


def header_text(text: str) -> Callable[[Path], None]:
    """Replace the safetensors header by ``text`` (its length stored correctly), keeping the data."""

    def apply(folder: Path) -> None:
        path = folder / "model.safetensors"
        data = path.read_bytes()
        size = struct.unpack("<Q", data[:8])[0]
        raw = text.encode()
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])

    return apply


def tensors(file: str, change: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    return lambda folder: rewrite_tensors(folder / file, change)


def header(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return lambda folder: rewrite_header(folder / "model.safetensors", change)


def empty(folder: Path) -> None:
    shutil.rmtree(folder)
    folder.mkdir()


def plain_file(folder: Path) -> Path:
    shutil.rmtree(folder)
    folder.with_suffix(".txt").write_text("not a model")
    return folder.with_suffix(".txt")


def unlink(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def truncate(name: str, keep: float) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])

    return apply


def link_out(name: str) -> Callable[[Path], None]:
    return lambda folder: outside_link(folder, name, corpus_root(folder) / "outside" / f"{folder.name}-{name}")


def link_to(name: str, target: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to(target)

    return apply


def fifo(name: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return apply


def folder_named(name: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return apply


def sparse(name: str, size: int) -> Callable[[Path], None]:
    return lambda folder: sparse_file(folder / name, size)


def sharded(then: Callable[[Path], None]) -> Callable[[Path], None]:
    """Split the weights into shards with an index, then break something."""

    def apply(folder: Path) -> None:
        shard(folder)
        then(folder)

    return apply


def tokenizer(change: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda folder: change(folder / "tokenizer.json")


def pickled(make_state: Callable[[Path], object]) -> Callable[[Path], None]:
    """Replace the weights by a ``pytorch_model.bin`` of ``make_state(payload marker)``."""
    return lambda folder: as_pickle(folder, make_state(payload_marker(corpus_root(folder))))


def gpt2_state(extra: dict[str, object] | None = None) -> dict[str, object]:
    return {**gpt2_tensors(), **(extra or {})}


@dataclass(frozen=True)
class Spec:
    """How to make one case from a valid folder: ``breaking(folder)`` may return another path to open."""

    name: str
    flavour: str
    phrase: str
    breaking: Callable[[Path], Path | None]


# ---------------------------------------------------------------- the corpus

SPECS: list[Spec] = [
    # -- the folder itself
    Spec("empty folder", NATIVE, "has no config.json", empty),
    Spec("a file instead of a folder", NATIVE, "is a file, not a checkpoint folder", plain_file),

    # -- config.json
    Spec("config not JSON", NATIVE, "is not valid JSON", write("config.json", "{d_model: 32,")),
    Spec("config not UTF-8", NATIVE, "is not valid JSON", write("config.json", b"\xff\xfe{\x00}\x00")),
    Spec("config a JSON string", NATIVE, "must hold a JSON object, not str", write("config.json", '"d_model=32"')),
    Spec("config nested too deeply", NATIVE, "nested too deeply", write("config.json", "[" * 100_000 + "]" * 100_000)),
    Spec("config 2 GB (sparse)", NATIVE, "far too large for a model configuration", sparse("config.json", 2 << 30)),
    Spec("config is a named pipe", NATIVE, "is not a regular file", fifo("config.json")),
    Spec("config number of 5000 digits", NATIVE, "is not valid JSON (Exceeds the limit",
        write("config.json", '{"d_model": ' + "9" * 5000 + "}")),
    Spec("config field names with control characters", NATIVE,
        "unknown configuration field(s): evil\\na forged second line\\x1b[2J",
        config_edit(**{"evil\na forged second line\x1b[2J": 1})),
    Spec("config with 10,000 unknown fields", NATIVE, "and 9995 more",
        config_edit(**{f"field_{i:05d}": i for i in range(10_000)})),
    Spec("config field of the wrong type", NATIVE, "position_offset must be a non-negative integer",
        config_edit(position_offset="two")),
    Spec("zero d_model", NATIVE, "d_model must be a positive integer, got 0", config_edit(d_model=0)),
    Spec("negative heads", NATIVE, "n_heads must be a positive integer, got -4", config_edit(n_heads=-4)),
    Spec("d_model not divisible by n_heads", NATIVE, "d_model (32) is not divisible by n_heads (5)",
        config_edit(n_heads=5)),
    Spec("vocabulary of 10^12", NATIVE, "vocab_size = 1000000000000 is larger than the supported",
        config_edit(vocab_size=10**12)),
    Spec("10^6 layers", NATIVE, "n_encoder_layers = 1000000 is larger than the supported 256",
        config_edit(n_encoder_layers=10**6)),
    Spec("3 billion parameters the file lacks", NATIVE,
        "has shape [134, 32] but the configuration needs [4000000, 768]",
        config_edit(vocab_size=4_000_000, d_model=768, d_ff=768)),
    Spec("sinusoid table of 10^6 positions", NATIVE, "sinusoidal position table of 1000000 positions",
        config_edit(max_positions=10**6)),
    Spec("relative positions with 1 bucket", NATIVE, "relative_buckets of at least 4",
        config_edit(positions="relative", relative_buckets=1)),
    Spec("NaN norm epsilon", NATIVE, "norm_eps must be between 0 and 1, got nan",
        replace_text("config.json", '"norm_eps": 1e-05', '"norm_eps": NaN')),
    Spec("unknown model_type", NATIVE, "model_type 'mamba' in", config_edit(model_type="mamba")),
    Spec("model_type not a string", NATIVE, "is not supported", config_edit(model_type=["attention-explorer"])),

    # -- model.safetensors
    Spec("weights missing", NATIVE, "has no model.safetensors", unlink("model.safetensors")),
    Spec("weights empty", NATIVE, "too short to be a safetensors file", write("model.safetensors", b"")),
    Spec("weights truncated", NATIVE, "is truncated", truncate("model.safetensors", 0.5)),
    Spec("weights a folder", NATIVE, "is not a regular file", folder_named("model.safetensors")),
    Spec("header claims 1 TB", NATIVE, "is truncated or corrupt: its header claims 1,099,511,",
        lambda f: flip_bit(f / "model.safetensors", 5, 0)),
    Spec("header of 40 MB", NATIVE, "more than the 16,777,216 any weight file needs",
        write("model.safetensors", struct.pack("<Q", 40 << 20) + b"{}" + b" " * ((40 << 20) - 2))),
    Spec("header bit-flipped", NATIVE, "header is not valid JSON", lambda f: flip_bit(f / "model.safetensors", 8, 0)),
    Spec("header nested too deeply", NATIVE, "header is not valid JSON",
        header_text("[" * 100_000 + "]" * 100_000)),
    Spec("header number of 5000 digits", NATIVE, "header is not valid JSON",
        header_text('{"x": {"dtype": "F32", "shape": [' + "9" * 5000 + '], "data_offsets": [0, 4]}}')),
    Spec("tensor claims 10^12 elements", NATIVE, "needs 4,000,000,000,000 bytes",
        header(lambda h: h["embed_tokens.weight"].update(shape=[10**12]))),
    Spec("tensor ends past the file", NATIVE, "ends past the end of the file",
        header(lambda h: h["embed_tokens.weight"].update(data_offsets=[10**12, 10**12 + 134 * 32 * 4]))),
    Spec("dtype not a string", NATIVE, "unsupported dtype ['F32']",
        header(lambda h: h["embed_tokens.weight"].update(dtype=["F32"]))),
    Spec("weights bit-flipped to infinity", NATIVE, "holds NaN or infinite values",
        lambda f: flip_exponent_of_a_one(f / "model.safetensors", "encoder.final_norm.weight")),
    Spec("weights bit-flipped to 1e37", NATIVE, "holds a value of 1.06e+37, far beyond any trained weight",
        lambda f: flip_to_huge(f / "model.safetensors", "decoder.layers.1.ffn.up.weight")),
    Spec("integer weights", NATIVE, "is stored as I32, but model weights must be floating point",
        tensors("model.safetensors", lambda t: t.update({"embed_tokens.weight": t["embed_tokens.weight"].int()}))),
    Spec("wrong shape", NATIVE, "'embed_tokens.weight' has shape [134, 16]",
        tensors("model.safetensors", lambda t: t.update({"embed_tokens.weight": torch.zeros(134, 16)}))),
    Spec("missing tensor", NATIVE, "lacks 1 tensor(s)",
        tensors("model.safetensors", lambda t: t.pop("encoder.final_norm.bias"))),
    Spec("extra tensor", NATIVE, "has 1 tensor(s) the model does not use",
        tensors("model.safetensors", lambda t: t.update(backdoor=torch.zeros(3)))),
    Spec("tensor named with a newline and a right-to-left override", NATIVE, "e.g. x\\u202eevil\\nname",
        tensors("model.safetensors", lambda t: t.update({"x\u202eevil\nname": torch.zeros(1)}))),
    Spec("overlapping tensors", NATIVE, "model.safetensors is corrupt",
        header(lambda h: h["encoder.final_norm.bias"].update(
            data_offsets=h["encoder.final_norm.weight"]["data_offsets"]))),

    # -- tokenizer.json
    Spec("tokenizer missing", NATIVE, "has no tokenizer.json", unlink("tokenizer.json")),
    Spec("tokenizer corrupt", NATIVE, "is not a valid tokenizer file", truncate("tokenizer.json", 0.5)),
    Spec("tokenizer 1 GB (sparse)", NATIVE, "far too large for a tokenizer file", sparse("tokenizer.json", 1 << 30)),
    Spec("tokenizer vocabulary larger than the embedding", NATIVE, "holds only 100", config_edit(vocab_size=100)),
    Spec("tokenizer id past the embedding", NATIVE, "ids up to 100000", tokenizer(sparse_vocabulary_tokenizer)),
    Spec("tokenizer unknown token missing", NATIVE, "cannot encode text", tokenizer(unknown_token_missing)),

    # -- links out of the folder
    Spec("config linked outside", NATIVE, "outside the checkpoint folder", link_out("config.json")),
    Spec("weights linked outside", NATIVE, "outside the checkpoint folder", link_out("model.safetensors")),
    Spec("tokenizer linked outside", NATIVE, "outside the checkpoint folder", link_out("tokenizer.json")),
    Spec("weights linked to /dev/zero", NATIVE, "links to /dev/zero, outside",
        link_to("model.safetensors", "/dev/zero")),
    Spec("tokenizer linked to /etc/passwd", NATIVE, "links to /etc/passwd, outside",
        link_to("tokenizer.json", "/etc/passwd")),

    # -- Hugging Face flavoured (GPT-2 layout)
    Spec("hf: d_model not divisible", HF, "n_embd (32) is not divisible by n_head (3)", config_edit(n_head=3)),
    Spec("hf: 10^6 layers", HF, "n_layer = 1000000 is larger than the supported 256", config_edit(n_layer=10**6)),
    Spec("hf: vocabulary of 10^12", HF, "vocab_size = 1000000000000 is larger than the supported",
        config_edit(vocab_size=10**12)),
    Spec("hf: layer count a string", HF, "n_layer must be an integer, got 'two'", config_edit(n_layer="two")),
    Spec("hf: shapes disagree with config", HF, "'wte.weight' has shape [134, 32] but config.json implies [134, 64]",
        config_edit(n_embd=64)),
    Spec("hf: weights truncated", HF, "is truncated", truncate("model.safetensors", 0.9)),
    Spec("hf: weights bit-flipped to infinity", HF, "holds NaN or infinite values",
        lambda f: flip_exponent_of_a_one(f / "model.safetensors", "h.1.ln_2.weight")),
    Spec("hf: integer embedding", HF, "'wte.weight' is stored as I64",
        tensors("model.safetensors", lambda t: t.update({"wte.weight": t["wte.weight"].long()}))),
    Spec("hf: tokenizer template past the embedding", HF, "ids up to 999999",
        tokenizer(template_with_out_of_range_special)),
    Spec("hf: weights linked outside", HF, "outside the checkpoint folder", link_out("model.safetensors")),
    Spec("hf: pickle that creates a file", HF, "pytorch_model.bin was refused: loading it would call",
        pickled(lambda marker: gpt2_state({"payload": _CreatesFile(marker)}))),
    Spec("hf: old-format pickle that runs a shell", HF, "pytorch_model.bin was refused: loading it would call",
        pickled(lambda marker: pickle.dumps({"wte.weight": _RunsShell(marker)}, protocol=2))),
    Spec("hf: pickle declaring an 8 GB storage", HF, "a storage's declared size does not match its data",
        pickled(lambda marker: legacy_pickle_with_huge_storage())),
    Spec("hf: pickle truncated", HF, "pytorch_model.bin is not a readable PyTorch weight file (it is truncated",
        pickled(lambda marker: pickle_bytes(gpt2_state())[:5000])),
    Spec("hf: compressed pickle inflating to 256 MB", HF, "is compressed, which torch.save never does",
        pickled(lambda marker: compressed_pickle_bomb())),
    Spec("hf: shard index of 1 GB (sparse)", HF, "too large for a shard index",
        sharded(sparse("model.safetensors.index.json", 1 << 30))),
    Spec("hf: shard linked outside", HF, "outside the checkpoint folder",
        sharded(link_out("model-00002-of-00002.safetensors"))),
    Spec("hf: pickle of a list", HF, "does not hold a mapping of tensor names to tensors",
        pickled(lambda marker: [torch.zeros(2)])),
]
CASE_NAMES = [spec.name for spec in SPECS]


def build_corpus(root: Path) -> dict[str, HostileCase]:
    """Write the valid originals and every hostile case under ``root`` (well under a second)."""
    originals = {NATIVE: write_native(root / "valid" / "native"), HF: write_gpt2(root / "valid" / "gpt2")}
    (root / "outside").mkdir()
    cases: dict[str, HostileCase] = {}
    for spec in SPECS:
        folder = root / "cases" / spec.name.replace(" ", "-").replace("/", "-").replace(":", "")
        shutil.copytree(originals[spec.flavour], folder)
        location = spec.breaking(folder)
        location = location if isinstance(location, Path) else folder
        cases[spec.name] = HostileCase(spec.name, spec.flavour, location, spec.phrase)
    return cases
