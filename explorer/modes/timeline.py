"""Training timeline (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from .base import AnalysisMode


class TimelineMode(AnalysisMode):
    name = "timeline"
    title = "Training timeline"
    tab_with = "distribution"

    def build(self) -> QWidget:
        return QLabel("Training timeline")
