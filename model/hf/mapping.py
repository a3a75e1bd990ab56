"""What every Hugging Face family module provides: config translation and a tensor map.

A family reads ``config.json`` through a ``ConfigReader`` (which turns a wrong type into
one sentence) and says, for every tensor of the project's ``Transformer``, which tensor
of the checkpoint fills it and how (``Source``): a plain copy, a transpose (GPT-2's
Conv1D), a slice of a fused matrix (GPT-2's ``c_attn``) or a reshape (BART's
``final_logits_bias``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import Tensor

from ..config import ModelConfig
from ..weights import CheckpointError

# Hugging Face activation names and the project's equivalents. "gelu_new" and
# "gelu_pytorch_tanh" are both the tanh approximation of GELU.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}

_MISSING = object()


@dataclass(frozen=True)
class Source:
    """Where one of the project's tensors comes from in the checkpoint.

    ``keys`` are alternatives, the first present wins (T5 and BART files may store the
    shared embedding under any of several tied names). ``file_shape`` is what the file
    must hold, None meaning the same shape as the project's tensor; ``convert`` turns
    the file's tensor into the project's.
    """

    keys: tuple[str, ...]
    file_shape: tuple[int, ...] | None = None
    convert: Callable[[Tensor], Tensor] | None = None


def source(*keys: str, file_shape: tuple[int, ...] | None = None, convert: Callable[[Tensor], Tensor] | None = None) -> Source:
    return Source(tuple(keys), file_shape, convert)


class ConfigReader:
    """Typed access to a parsed ``config.json``; a wrong type becomes a ``CheckpointError``."""

    def __init__(self, values: dict[str, Any], path: Path) -> None:
        self.values = values
        self.path = path

    def fail(self, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {problem}")

    def _get(self, name: str, default: Any) -> Any:
        value = self.values.get(name, default)
        if value is _MISSING:
            raise self.fail(f"the field {name!r} is missing")
        return value

    def int(self, name: str, default: Any = _MISSING) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{name} must be an integer, got {value!r}")
        return value

    def optional_int(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name, default)
        return None if value is None else self.int(name, default)

    def float(self, name: str, default: Any = _MISSING) -> float:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{name} must be a number, got {value!r}")
        return float(value)

    def bool(self, name: str, default: Any = _MISSING) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.fail(f"{name} must be true or false, got {value!r}")
        return value

    def str(self, name: str, default: Any = _MISSING) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise self.fail(f"{name} must be a string, got {value!r}")
        return value

    def token_id(self, name: str, default: int | None = None) -> int | None:
        """A special token id; a list (several EOS ids) gives its first entry."""
        value = self.values.get(name, default)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{name} must be a token id, got {value!r}")
        return value

    def activation(self, name: str, default: str) -> str:
        value = self.str(name, default)
        if value not in ACTIVATIONS:
            raise self.fail(f"the activation {name} = {value!r} is not supported (supported: {', '.join(ACTIVATIONS)})")
        return ACTIVATIONS[value]

    def refuse_if(self, condition: bool, problem: str) -> None:
        if condition:
            raise self.fail(problem)

    def model_config(self, names: dict[str, str], **fields: Any) -> ModelConfig:
        """The project's config; a value it cannot take becomes a ``CheckpointError``.

        ``names`` maps the project's field names to the config.json keys they came from,
        so the sentence speaks of the keys the user can see.
        """
        try:
            return ModelConfig(**fields)
        except (ValueError, TypeError) as error:
            message = re.sub(r"\b\w+\b", lambda word: names.get(word.group(0), word.group(0)), str(error))
            raise self.fail(message.replace("invalid model configuration: ", "")) from None


def in_vocabulary(token_id: int | None, vocab_size: int) -> int | None:
    """A special token id the model can use, or None (configs sometimes name ids past the table)."""
    return token_id if token_id is not None and 0 <= token_id < vocab_size else None


@dataclass(frozen=True)
class Family:
    """One ``model_type``: how to read its config and where its tensors live.

    ``prefixes`` are the places the base model may sit in a file (``bert.`` when saved
    from a task model, nothing when saved from the bare model); ``sentinel`` is a
    tensor name every checkpoint of the family has, used to find the prefix. Every
    tensor under ``prefix + body`` must be used or match ``ignored`` (regular
    expressions on the name without prefix), so a config.json that describes fewer
    layers than the file holds is refused instead of silently truncating the model.
    Tensors elsewhere (task heads) are ignored.
    """

    model_type: str
    prefixes: tuple[str, ...]
    sentinel: str
    build_config: Callable[[ConfigReader, frozenset[str], str], ModelConfig]
    sources: Callable[[ModelConfig, str, frozenset[str]], dict[str, Source]]
    body: tuple[str, ...]
    ignored: tuple[str, ...] = field(default=())


def transpose(tensor: Tensor) -> Tensor:
    return tensor.t().contiguous()


def columns(start: int, stop: int, transposed: bool) -> Callable[[Tensor], Tensor]:
    """Columns ``start:stop`` of a fused matrix (optionally transposed), or the slice of a bias."""

    def take(tensor: Tensor) -> Tensor:
        if tensor.dim() == 1:
            return tensor[start:stop].contiguous()
        part = tensor[:, start:stop]  # (d_in, stop - start)
        return part.t().contiguous() if transposed else part.contiguous()

    return take


def flatten(tensor: Tensor) -> Tensor:
    return tensor.reshape(-1).contiguous()


def linear(ours: str, theirs: str, bias: bool = True) -> dict[str, Source]:
    """A ``torch.nn.Linear`` copied as is (weight, and bias when the model has one)."""
    found = {f"{ours}.weight": source(f"{theirs}.weight")}
    if bias:
        found[f"{ours}.bias"] = source(f"{theirs}.bias")
    return found


def norm(ours: str, theirs: str, bias: bool = True) -> dict[str, Source]:
    """A LayerNorm (weight and bias) or an RMS norm (weight only)."""
    return linear(ours, theirs, bias)
