"""Progress of a long forward, and how a caller cancels it between layers.

A forward over 8,192 tokens takes seconds; the explorer shows how far it got and drops
it when a newer keystroke arrives. PyTorch cannot interrupt a matmul, so the forward
calls the caller's ``progress`` at every layer boundary, and stops there when asked.
"""

from __future__ import annotations

from typing import Callable, Optional

# progress(stack, layer, n_layers): ``stack`` is "encoder" or "decoder", ``layer`` the
# number of that stack's layers done so far (0 … n_layers). It may raise
# ``TraceCancelled`` itself, or return True to ask for the same.
Progress = Callable[[str, int, int], Optional[bool]]


class TraceCancelled(Exception):
    """The caller's ``progress`` asked a trace to stop; nothing of it was kept."""


def report(progress: Progress | None, stack: str, layer: int, n_layers: int) -> None:
    """Tell ``progress`` that ``layer`` of ``n_layers`` layers of ``stack`` are done; raise
    ``TraceCancelled`` when it asks to stop."""
    if progress is not None and progress(stack, layer, n_layers):
        raise TraceCancelled(f"the trace was cancelled after {layer} of {n_layers} {stack} layers")
