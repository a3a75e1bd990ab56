"""Step-through generation (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from .base import AnalysisMode


class SteppingMode(AnalysisMode):
    name = "stepping"
    title = "Step-through generation"
    tab_with = "cross"

    def build(self) -> QWidget:
        return QLabel("Step-through generation")
