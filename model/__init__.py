"""The network, its attention traces, checkpoints, tokenization and training.

Torch and tokenizers only; nothing here imports Qt.

    from model import load_checkpoint
    model = load_checkpoint()              # the bundled encoder–decoder
    trace = model.trace("date: 25 november 2026")
    trace.attention["cross"].weights       # (layers, heads, queries, keys)
"""

from .checkpoint import bundled_checkpoint, load_checkpoint
from .config import ModelConfig
from .inference import AttentionModel
from .native import save_checkpoint
from .recorder import AttentionRecorder
from .rotary import Rotary
from .trace import KINDS, AttentionMaps, TokenAxis, Trace
from .transformer import Transformer
from .weights import CheckpointError

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
    "Transformer",
    "bundled_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]
