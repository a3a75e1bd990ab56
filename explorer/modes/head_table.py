"""The head statistics table: one row per head, numeric sorting, filtering by kind and preset.

Qt item models only (``HeadTableModel`` and ``HeadFilterProxy``); the dock that holds them
is ``modes.head_stats``.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from ..analysis.head_stats import STATISTIC_TITLES, STATISTICS, HeadRow
from ..core.selection import kind_labels

COLUMNS = ("kind", "layer", "head", "kv_head", *STATISTICS)
# Short headers keep the table narrow enough for a side dock; the tooltips say it in full.
COLUMN_TITLES = {
    "kind": "kind",
    "layer": "layer",
    "head": "head",
    "kv_head": "KV",
    "entropy_bits": "entropy",
    "mean_distance": "distance",
    "special_share": "special",
    "separator_share": "separator",
    "previous_share": "previous",
    "diagonal_share": "same",
    "max_weight": "max",
    "sink_share": "sink",
    "duplicate_share": "duplicate",
    "induction_share": "induction",
}
_DEFINITIONS = {
    "entropy_bits": "−Σ w log2 w of each query's row (0 = one key only)",
    "mean_distance": "Σ w·|query − key| in tokens (self-attention only)",
    "special_share": "weight on special and padding tokens ([CLS], [SEP], BOS, EOS, pad)",
    "separator_share": "weight on special tokens after the first ([SEP], </s>, EOS)",
    "previous_share": "weight on the token just before the query (self-attention only)",
    "diagonal_share": "weight on the query's own position (self-attention only)",
    "max_weight": "each row's largest weight",
    "sink_share": "weight on the first position, an attention sink (queries after the first)",
    "duplicate_share": "weight on earlier copies of the query's own token (self-attention only)",
    "induction_share": "weight on the token after an earlier copy of the query's token (self-attention only)",
}
COLUMN_TIPS = {name: f"{STATISTIC_TITLES[name]}: {tip}; mean over queries" for name, tip in _DEFINITIONS.items()}
COLUMN_TIPS["kv_head"] = "the key/value head the head reads; heads with the same number share keys and values"
SORT_ROLE = Qt.ItemDataRole.UserRole
SELECTED_BACKGROUND = QColor("#fde3df")
ALL_HEADS = "all heads"
SELECTED_KIND, ALL_KINDS = "selected", "all"
HeadKey = tuple[str, int, int]  # (kind, layer, head)


class HeadTableModel(QAbstractTableModel):
    """One row per head; ``SORT_ROLE`` gives the raw numbers (NaN where a statistic does not apply)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.head_rows: list[HeadRow] = []
        self.selected: HeadKey | None = None

    def set_rows(self, rows: list[HeadRow]) -> None:
        self.beginResetModel()
        self.head_rows = rows
        self.endResetModel()

    def set_selected(self, key: HeadKey | None) -> None:
        if key == self.selected:
            return
        self.selected = key
        if self.head_rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.head_rows) - 1, len(COLUMNS) - 1))

    def key(self, row: int) -> HeadKey:
        head_row = self.head_rows[row]
        return head_row.kind, head_row.layer, head_row.head

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.head_rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(COLUMNS)

    def value(self, row: int, column: int) -> str | int | float:
        head_row = self.head_rows[row]
        name = COLUMNS[column]
        if name == "kind":
            return head_row.kind
        if name in ("layer", "head", "kv_head"):
            return getattr(head_row, name)
        return head_row.values[name]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.value(index.row(), index.column())
        name = COLUMNS[index.column()]
        if role == SORT_ROLE:
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            if name == "kind":
                return kind_labels().get(str(value), str(value))
            if isinstance(value, float):
                spread = self.head_rows[index.row()].spread
                if spread is not None and not math.isnan(value):
                    return f"{value:.3f} ± {spread[name]:.3f}"
                return "—" if math.isnan(value) else f"{value:.3f}"
            return str(value)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, float) and math.isnan(value):
            if self.head_rows[index.row()].kind == "cross":
                return "does not apply: cross-attention's queries and keys lie on different sequences"
            return "does not apply: no query of this input has an earlier copy of its token"
        if role == Qt.ItemDataRole.TextAlignmentRole and name != "kind":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        selected = self.selected is not None and self.key(index.row()) == self.selected
        if role == Qt.ItemDataRole.BackgroundRole and selected:
            return QBrush(SELECTED_BACKGROUND)
        if role == Qt.ItemDataRole.FontRole and selected:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802 - Qt override
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMN_TITLES[COLUMNS[section]]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS.get(COLUMNS[section])
        return None


class HeadFilterProxy(QSortFilterProxyModel):
    """Sorts numerically (NaN last either way) and keeps the rows of one kind and one preset."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.kind: str | None = None  # None: every kind
        self.matching: set[HeadKey] | None = None  # None: every head

    def set_filter(self, kind: str | None, matching: set[HeadKey] | None) -> None:
        if (kind, matching) == (self.kind, self.matching):
            return
        self.beginFilterChange()
        self.kind, self.matching = kind, matching
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        key = self.sourceModel().key(source_row)
        return (self.kind is None or key[0] == self.kind) and (self.matching is None or key in self.matching)

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        left_value, right_value = left.data(SORT_ROLE), right.data(SORT_ROLE)
        left_nan = isinstance(left_value, float) and math.isnan(left_value)
        right_nan = isinstance(right_value, float) and math.isnan(right_value)
        if left_nan or right_nan:
            # Qt reverses lessThan for a descending sort; NaN stays at the bottom both ways.
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (not left_nan and right_nan) != descending and left_nan != right_nan
        return left_value < right_value
