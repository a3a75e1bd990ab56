"""The network, its attention traces, checkpoints, tokenization and training.

Torch and tokenizers only; nothing here imports Qt.

    from model import load_checkpoint
    model = load_checkpoint()              # the bundled encoder–decoder
    trace = model.trace("date: 25 november 2026")
    trace.attention["cross"].weights       # (layers, heads, queries, keys)
    trace.attention["cross"].tile(0, 1, slice(None), slice(None), (64, 64))  # a pooled view

Long inputs are traced without n² memory (queries, keys and log-sum-exps are kept and
cells recomputed when read; ``model.trace`` has the reading protocol), and
``trace(..., reuse=True)`` continues the previous input from its first changed token
(and an encoder–decoder's generation from the previous keystroke's tokens, as a draft).

The public names are loaded on first use (PEP 562), so ``import model.trace`` — the
numpy-only trace types the explorer's core reads — does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each public name and the submodule that defines it.
_SOURCES = {
    "KINDS": "trace",
    "AttentionMaps": "trace",
    "AttentionModel": "inference",
    "AttentionRecorder": "recorder",
    "CheckpointError": "weights",
    "ModelConfig": "config",
    "Rotary": "rotary",
    "TokenAxis": "trace",
    "Trace": "trace",
    "TraceCancelled": "progress",
    "TraceTooLarge": "trace",
    "Transformer": "transformer",
    "bundled_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "native",
}

__all__ = [
    "KINDS",
    "AttentionMaps",
    "AttentionModel",
    "AttentionRecorder",
    "CheckpointError",
    "ModelConfig",
    "Rotary",
    "TokenAxis",
    "Trace",
    "TraceCancelled",
    "TraceTooLarge",
    "Transformer",
    "bundled_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

if TYPE_CHECKING:
    from .checkpoint import bundled_checkpoint, load_checkpoint
    from .config import ModelConfig
    from .inference import AttentionModel
    from .native import save_checkpoint
    from .recorder import AttentionRecorder
    from .rotary import Rotary
    from .progress import TraceCancelled
    from .trace import KINDS, AttentionMaps, TokenAxis, Trace, TraceTooLarge
    from .transformer import Transformer
    from .weights import CheckpointError


def __getattr__(name: str) -> object:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{source}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
