"""The plot colours of the window, light or dark after the system palette.

Panels read ``plot_theme()`` when they are built: on a dark desktop the plot backgrounds,
axes and text follow the dark palette so a heatmap does not glare out of a dark window.
Exported figures keep their own light page (``explorer/export``).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QGuiApplication, QPalette


@dataclass(frozen=True)
class PlotTheme:
    """The colours one theme gives plots, labels and token chips."""

    name: str
    background: str
    foreground: str
    muted: str
    special: str
    chip_background: str
    chip_foreground: str


LIGHT = PlotTheme("light", "#ffffff", "#222222", "#888888", "#8a8a8a", "#eef2f7", "#1b1b1b")
DARK = PlotTheme("dark", "#1e1f22", "#dcdcdc", "#9a9a9a", "#8f8f8f", "#34373d", "#e6e6e6")


def palette_is_dark(palette: QPalette) -> bool:
    """Whether a palette's window colour is darker than its text (a dark desktop)."""
    window = palette.color(QPalette.ColorRole.Window).lightnessF()
    text = palette.color(QPalette.ColorRole.WindowText).lightnessF()
    return window < text


def plot_theme() -> PlotTheme:
    """The theme of the running application's palette (light without one)."""
    app = QGuiApplication.instance()
    if app is None:
        return LIGHT
    return DARK if palette_is_dark(QGuiApplication.palette()) else LIGHT
