"""Which devices the model can run on: the CPU, each CUDA GPU, Apple's MPS when present."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    name: str  # what torch calls it: "cpu", "cuda:0", "mps"
    label: str  # what the menu shows


def available_devices() -> list[Device]:
    """The CPU first, then every accelerator torch can see on this machine."""
    import torch

    devices = [Device("cpu", "CPU")]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            devices.append(Device(f"cuda:{index}", f"CUDA {index}: {torch.cuda.get_device_name(index)}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(Device("mps", "Apple GPU (MPS)"))
    return devices


def normalise_device(name: str | None) -> str:
    """'cuda' means the first GPU; None and '' mean the CPU."""
    if not name:
        return "cpu"
    name = name.strip().lower()
    return "cuda:0" if name == "cuda" else name


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception is an accelerator running out of memory."""
    import torch

    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def read_on_one_thread() -> None:
    """Let torch ops called from this thread (the GUI thread) use one intra-op thread.

    The GUI thread reads recomputed attention in small blocks (a row, a tile, a cell) while
    the worker's forward keeps the other cores busy; with more intra-op threads each of its
    ops waits at a barrier for a busy core: one row of a 1,024-token head took 54 ms that
    way against 1 ms alone. torch keeps the count per calling thread, so the worker's own
    (``model.inference.default_threads``) is left as it is. Called once a model is loaded,
    when torch is in already.
    """
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
