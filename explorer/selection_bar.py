"""The toolbar that picks attention kind, layer, head (or the mean), colour map and the view options."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSpinBox, QToolBar, QWidget

from .colormaps import SEQUENTIAL
from .core.selection import Selection, kind_labels

MEAN_LABEL = "mean over heads"


class SelectionBar(QToolBar):
    """Emits ``selection_edited`` with keyword changes for ``ExplorerState.select``."""

    selection_edited = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Selection", parent)
        self.setObjectName("selection-toolbar")
        self.setMovable(False)
        self.kind = QComboBox()
        self.kind.setToolTip("Which attention to show")
        self.layer = QSpinBox()
        self.layer.setToolTip("Layer (PageUp / PageDown)")
        self.head = QComboBox()
        self.head.setToolTip("Head (← / →); the last entry is the mean over heads")
        self.colormap = QComboBox()
        self.colormap.addItems(SEQUENTIAL)
        self.colormap.setToolTip("Colour map (perceptually uniform)")
        self.mean_column = QCheckBox("Mean column")
        self.mean_column.setToolTip("Show each layer's mean over heads as an extra grid column")
        self.hide_special = QCheckBox("Hide special tokens")
        self.hide_special.setToolTip(
            "Hide [CLS], [SEP], BOS, EOS and padding key columns in every heatmap and bar chart and renormalise each row "
            "over the keys that remain"
        )
        for label, widget in (
            ("Attention ", self.kind),
            ("  Layer ", self.layer),
            ("  Head ", self.head),
            ("  Colours ", self.colormap),
        ):
            self.addWidget(QLabel(label))
            self.addWidget(widget)
        self.addWidget(QLabel("  "))
        self.addWidget(self.mean_column)
        self.addWidget(QLabel("  "))
        self.addWidget(self.hide_special)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.layer.valueChanged.connect(lambda value: self.selection_edited.emit({"layer": int(value)}))
        self.head.currentIndexChanged.connect(self._on_head_changed)
        self.colormap.currentTextChanged.connect(lambda name: self.selection_edited.emit({"colormap": name}))
        self.mean_column.toggled.connect(lambda on: self.selection_edited.emit({"show_mean_column": bool(on)}))
        self.hide_special.toggled.connect(lambda on: self.selection_edited.emit({"hide_special": bool(on)}))

    def show_selection(self, selection: Selection, kinds: tuple[str, ...], n_layers: int, n_heads: int) -> None:
        """Mirror the state into the controls without echoing edits back."""
        blockers = [
            QSignalBlocker(widget)
            for widget in (self.kind, self.layer, self.head, self.colormap, self.mean_column, self.hide_special)
        ]
        labels = kind_labels()
        if [self.kind.itemData(i) for i in range(self.kind.count())] != list(kinds):
            self.kind.clear()
            for kind in kinds:
                self.kind.addItem(labels.get(kind, kind), kind)
        self.kind.setCurrentIndex(max(self.kind.findData(selection.kind), 0))
        if self.layer.maximum() != max(n_layers - 1, 0):  # a new range re-lays out the whole window
            self.layer.setRange(0, max(n_layers - 1, 0))
        self.layer.setValue(selection.layer)
        if self.head.count() != n_heads + 1:
            self.head.clear()
            self.head.addItems([str(head) for head in range(n_heads)] + [MEAN_LABEL])
        self.head.setCurrentIndex(n_heads if selection.head is None else selection.head)
        self.colormap.setCurrentText(selection.colormap)
        self.mean_column.setChecked(selection.show_mean_column)
        self.hide_special.setChecked(selection.hide_special)
        del blockers

    def _on_kind_changed(self, index: int) -> None:
        kind = self.kind.itemData(index)
        if kind:
            self.selection_edited.emit({"kind": kind})

    def _on_head_changed(self, index: int) -> None:
        if index < 0:
            return
        self.selection_edited.emit({"head": None if index == self.head.count() - 1 else index})
