"""The dtype a network computes in: float32 on the CPU, the checkpoint's own on a GPU.

A 1–8 B checkpoint is stored in bfloat16 or float16; converting it to float32 doubles
its memory, which is what makes it not fit a GPU. ``--dtype`` chooses: ``auto`` computes
in float32 on the CPU (exact, as the parity tests need) and in the checkpoint's stored
float dtype on CUDA and MPS; ``float32``, ``bfloat16`` and ``float16`` force one
everywhere (a CPU user short of memory may ask for bfloat16). The weights are converted
tensor by tensor as they are read, so the model is never held in two dtypes at once.

Whatever the network computes in, attention scores and weights are computed in float32
from the (rounded) queries and keys, as Hugging Face's eager attention does, and the
trace is float32 or float16 as its own precision says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch is imported where a dtype is made, so the command line can offer the choices
# (and print --help) without importing it.
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
DTYPE_CHOICES = ("auto", *COMPUTE_DTYPES)
# safetensors' names of the float dtypes a network can compute in as stored
_STORED = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F64": "float32"}


def check_dtype_choice(choice: str) -> None:
    """Refuse an unknown ``--dtype`` in one sentence."""
    if choice not in DTYPE_CHOICES:
        raise ValueError(f"the compute dtype must be one of {', '.join(DTYPE_CHOICES)}, not {choice!r}")


def stored_float_dtype(entries: Iterable[tuple[str, int]]) -> torch.dtype:
    """The float dtype that holds most of a checkpoint's values.

    ``entries`` are (safetensors dtype name, number of values) per tensor; integer
    tensors (position ids) are ignored, and float64 counts as float32.
    """
    import torch

    counts: dict[str, int] = {}
    for name, values in entries:
        if name in _STORED:
            counts[_STORED[name]] = counts.get(_STORED[name], 0) + values
    return getattr(torch, max(counts, key=counts.__getitem__) if counts else "float32")


def requested_dtype(choice: str, device: str | torch.device) -> torch.dtype | None:
    """What ``--dtype choice`` means on ``device``: a dtype, or None for the checkpoint's own
    (``stored_float_dtype``, which only the loader can tell)."""
    import torch

    check_dtype_choice(choice)
    if choice != "auto":
        return getattr(torch, choice)
    return torch.float32 if torch.device(device).type == "cpu" else None
