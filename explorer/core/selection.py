"""What the user has selected, and which panels apply to the loaded model.

``Selection`` is immutable so a change is one assignment and two selections compare
by value (the views are cached per selection). Numpy-free and Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.trace import KIND_TITLES

from ..colormaps import DEFAULT as DEFAULT_COLORMAP

VALUES = ("weights", "scores")
VALUE_TITLES = {"weights": "probabilities", "scores": "raw scores"}
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
PANEL_NAMES = ("grid", "head", "distribution", "cross", "target", "pair")


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


@dataclass(frozen=True)
class PanelAvailability:
    """Whether a panel applies to the loaded model, and if not, the one-line reason."""

    enabled: bool
    reason: str = ""


def panel_availability(architecture: str | None) -> dict[str, PanelAvailability]:
    """Which panels apply to a model of ``architecture`` (None: no model loaded yet)."""
    if architecture is None:
        waiting = PanelAvailability(False, "Waiting for a model to load.")
        return dict.fromkeys(PANEL_NAMES, waiting)
    names = {"encoder": "an encoder-only", "decoder": "a decoder-only", "encoder-decoder": "an encoder–decoder"}
    this = names.get(architecture, architecture)
    cross = architecture == "encoder-decoder"
    return {
        "grid": PanelAvailability(True),
        "head": PanelAvailability(True),
        "distribution": PanelAvailability(True),
        "cross": PanelAvailability(cross, "" if cross else f"Cross-attention needs an encoder–decoder model; this is {this} model."),
        "target": PanelAvailability(cross, "" if cross else f"A target text needs an encoder–decoder model; this is {this} model."),
        "pair": PanelAvailability(
            architecture == "encoder",
            "" if architecture == "encoder" else f"A sentence pair needs an encoder-only model; this is {this} model.",
        ),
    }


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind)


def kind_labels() -> dict[str, str]:
    """Short names for the kind selector."""
    return {"encoder_self": "Encoder self", "decoder_self": "Decoder self", "cross": "Cross"}
