"""The plot colours of the window, light or dark after the system palette.

Panels read ``plot_theme()`` when they are built: on a dark desktop the plot backgrounds,
axes and text follow the dark palette so a heatmap does not glare out of a dark window.
When the desktop switches between light and dark while the app runs, the window hands the
new theme to ``restyle``, which recolours every plot already built. Exported figures keep
their own light page (``explorer/export``) unless asked for a dark one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget


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


def restyle(root: QWidget, theme: PlotTheme) -> None:
    """Give every plot and self-painted panel under ``root`` the colours of ``theme``.

    Plots: background, axes, their titles, and text items. Widgets that paint themselves
    (token chips, the alignment drawing) take the theme through their ``set_theme``.
    Colours a panel chose itself (the selection's red, the colour maps) stay as they are.
    """
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(theme.background)
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                if item.pen().style() != Qt.PenStyle.NoPen:  # an axis drawn as labels only keeps no line
                    item.setPen(pg.mkPen(theme.foreground))
                item.setTextPen(pg.mkPen(theme.foreground))
                if item.label.isVisible():  # setLabel would show a hidden one
                    item.setLabel(item.labelText, units=item.labelUnits, color=theme.foreground)
            elif isinstance(item, pg.LabelItem) and item.text:
                item.setText(item.text, color=theme.foreground)
            elif isinstance(item, pg.TextItem):
                item.setColor(theme.foreground)
    for widget in root.findChildren(QWidget):
        set_theme = getattr(widget, "set_theme", None)
        if callable(set_theme):
            set_theme(theme)
