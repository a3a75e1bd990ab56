"""Compare (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from .base import AnalysisMode


class CompareMode(AnalysisMode):
    name = "compare"
    title = "Compare"
    tab_with = "cross"

    def build(self) -> QWidget:
        return QLabel("Compare")
