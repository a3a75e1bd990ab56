"""Head statistics (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from .base import AnalysisMode


class HeadStatsMode(AnalysisMode):
    name = "stats"
    title = "Head statistics"
    tab_with = "grid"

    def build(self) -> QWidget:
        return QLabel("Head statistics")
