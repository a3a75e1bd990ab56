"""What the user has selected: the attention kind, layer, head, query and how to show them.

``Selection`` is immutable so a change is one assignment and two selections compare
by value (the views are cached per selection). Numpy-free and Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.trace import KIND_TITLES

from ..colormaps import DEFAULT as DEFAULT_COLORMAP

VALUES = ("weights", "scores", "value-weighted")
VALUE_TITLES = {"weights": "probabilities", "scores": "raw scores", "value-weighted": "value-weighted ‖α·f(x)‖"}
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


@dataclass(frozen=True)
class Selection:
    """Everything the user picked."""

    kind: str = "encoder_self"
    layer: int = 0
    head: int | None = 0  # None = the mean over heads
    query: int = 0
    values: str = "weights"
    temperature: float = 1.0
    colormap: str = DEFAULT_COLORMAP
    show_mean_column: bool = True
    # Drop [CLS]/[SEP]/BOS/EOS/padding key columns and renormalise the rows.
    hide_special: bool = False
    # Which keys the head views' colour range leaves out (``core.sink_scale.COLOUR_RANGES``).
    colour_range: str = "auto"


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind)


def kind_labels() -> dict[str, str]:
    """Short names for the kind selector."""
    return {"encoder_self": "Encoder self", "decoder_self": "Decoder self", "cross": "Cross"}
