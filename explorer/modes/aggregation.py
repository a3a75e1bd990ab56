"""Aggregation and rollout (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from .base import AnalysisMode


class AggregationMode(AnalysisMode):
    name = "aggregation"
    title = "Aggregation and rollout"
    tab_with = "head"

    def build(self) -> QWidget:
        return QLabel("Aggregation and rollout")
