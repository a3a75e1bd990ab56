"""Hugging Face checkpoints mapped onto the project's own network (no ``transformers``).

A Hugging Face folder (``config.json``, weights, ``tokenizer.json``) is opened in this
order, each step refusing with one sentence before the next costs anything: the
``model_type`` must be supported; the weight files' headers give every tensor's name
and shape; ``config.json`` becomes a validated ``ModelConfig``; the tokenizer is read;
the family's tensor map is checked against the file (every tensor present with the
right shape, no unaccounted tensor in the model body) using shapes from a network built
on the ``meta`` device; only then are tensors read, converted to fp32 and assigned as the
network's own parameters, never copied (``building``). (A
``pytorch_model.bin`` has no header: it is memory-mapped by the restricted unpickler
to learn its shapes.)
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..inference import AttentionModel
from ..tokenization import TextTokenizer
from ..building import network_from_state
from ..transformer import parameter_shapes
from ..weights import CheckpointError, checkpoint_file, require_float
from .cache import repo_id_of
from .families import FAMILIES, SUPPORTED_MODEL_TYPES
from .files import WeightFiles, open_weights
from .mapping import ConfigReader, Family, Source

__all__ = ["FAMILIES", "SUPPORTED_MODEL_TYPES", "load_hf_folder"]


def family_of(folder: Path, values: dict) -> Family:
    """The family of a parsed ``config.json``, or a ``CheckpointError`` listing the supported ones."""
    model_type = values.get("model_type")
    if model_type is None:
        raise CheckpointError(
            f"{folder / 'config.json'} has no model_type; supported: attention-explorer, {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise CheckpointError(
            f"model_type {model_type!r} in {folder / 'config.json'} is not supported; "
            f"supported: attention-explorer, {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return FAMILIES[model_type]


def load_hf_folder(folder: Path, values: dict, dtype: torch.dtype | None = torch.float32) -> AttentionModel:
    """Open a Hugging Face checkpoint folder whose ``config.json`` was parsed into ``values``.

    ``dtype`` is what the weights are converted to as they are read; None keeps the
    checkpoint's own float dtype.

    Raises:
        CheckpointError: one sentence naming the file and what is wrong with it.
    """
    family = family_of(folder, values)
    weights = open_weights(folder)
    keys = frozenset(weights.shapes)
    prefix = next((p for p in family.prefixes if p + family.sentinel in keys), None)
    if prefix is None:
        raise CheckpointError(
            f"the weights in {folder} are not a {family.model_type} checkpoint: "
            f"there is no tensor {family.sentinel!r}"
        )
    config = family.build_config(ConfigReader(values, folder / "config.json"), keys, prefix)
    tokenizer = _tokenizer(folder, family.model_type, config.max_positions, config.vocab_size)

    expected = parameter_shapes(config)
    sources = family.sources(config, prefix, keys)
    chosen = _check(weights, family, prefix, sources, expected)
    tensors = weights.read(set(chosen.values()), weights.stored_dtype() if dtype is None else dtype)
    state = {}
    for name, file_key in chosen.items():
        convert = sources[name].convert
        state[name] = convert(tensors[file_key]) if convert is not None else tensors[file_key]
    network = network_from_state(config, state)
    name = repo_id_of(folder) or folder.name
    return AttentionModel(network, tokenizer, name=name, source=str(folder))


def _tokenizer(folder: Path, model_type: str, max_positions: int, vocab_size: int) -> TextTokenizer:
    path = folder / "tokenizer.json"
    if checkpoint_file(folder, "tokenizer.json") is None:
        if model_type == "marian":  # Marian's tokenizer exists only as SentencePiece files
            remedy = "convert its source.spm to a tokenizer.json with the tokenizers library, save it there"
        else:
            remedy = "save the model's fast tokenizer there (AutoTokenizer.from_pretrained(...).save_pretrained(folder))"
        raise CheckpointError(f"{folder} has no tokenizer.json; {remedy} and open the folder again")
    tokenizer = TextTokenizer.from_file(path, max_positions)
    tokenizer.check_fits(vocab_size)
    return tokenizer


def _check(
    weights: WeightFiles,
    family: Family,
    prefix: str,
    sources: dict[str, Source],
    expected: dict[str, tuple[int, ...]],
) -> dict[str, str]:
    """Which file tensor fills each of the network's tensors, after checking names and shapes."""
    if set(sources) != set(expected):  # a mapping bug, not a user's file: say so plainly
        missing = sorted(set(expected) ^ set(sources))
        raise CheckpointError(f"internal error: the {family.model_type} map does not cover {', '.join(missing[:3])}")
    chosen: dict[str, str] = {}
    for name, shape in expected.items():
        source = sources[name]
        file_key = next((key for key in source.keys if key in weights.shapes), None)
        if file_key is None:
            files = sorted(set(weights.file_of.values()))
            where = f"{files[0]} lacks" if len(files) == 1 else f"none of the {len(files)} weight files holds"
            raise CheckpointError(
                f"{where} the tensor {source.keys[0]!r} that this {family.model_type} "
                f"configuration needs (config.json and the weights in {weights.folder} disagree)"
            )
        wanted = source.file_shape if source.file_shape is not None else shape
        found = weights.shapes[file_key]
        if tuple(found) != tuple(wanted):
            raise CheckpointError(
                f"{weights.file_of[file_key]}: tensor {file_key!r} has shape {list(found)} "
                f"but config.json implies {list(wanted)}"
            )
        require_float(weights.file_of[file_key], file_key, weights.dtypes[file_key])
        chosen[name] = file_key
    used = set(chosen.values())
    ignored = [re.compile(re.escape(prefix) + pattern) for pattern in family.ignored]
    body = tuple(prefix + part for part in family.body)
    unused = sorted(
        key
        for key in weights.shapes
        if key.startswith(body) and key not in used and not any(pattern.fullmatch(key) for pattern in ignored)
    )
    if unused:
        raise CheckpointError(
            f"{weights.file_of[unused[0]]} holds {len(unused)} tensor(s) config.json does not describe, "
            f"e.g. {', '.join(unused[:3])}"
        )
    return chosen
