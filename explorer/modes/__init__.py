"""The analysis modes of the main window, in the order their docks and menu entries appear."""

from __future__ import annotations

from .aggregation import AggregationMode
from .base import AnalysisMode
from .compare import CompareMode
from .head_stats import HeadStatsMode
from .logit_lens import LogitLensMode
from .stepping import SteppingMode
from .timeline import TimelineMode

MODES: tuple[type[AnalysisMode], ...] = (
    HeadStatsMode, AggregationMode, CompareMode, TimelineMode, SteppingMode, LogitLensMode,
)

__all__ = ["MODES", "AnalysisMode"]
