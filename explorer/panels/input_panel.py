"""The input panel: source, target and pair editors, and the tokens as the model saw them.

Tokens are chips painted by one widget (``token_chips``); clicking one selects it as
the query token. Special tokens are styled apart, whitespace markers are made visible by
``display_token``.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)


from ..core.views import PanelAvailability, TokensView
from ..jobs import InputTexts
from .heatmap import plain_label
from .token_chips import TokenChips

NOTICE_STYLE = "color:#8a5300; background:#fff4d6; border:1px solid #f0d48a; padding:3px 6px;"


class SourceEditor(QPlainTextEdit):
    """A few lines tall: inputs are sentences, not documents."""

    def __init__(self) -> None:
        super().__init__()
        self.setTabChangesFocus(True)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 12)


class InputPanel(QWidget):
    """Editors and token chips; emits ``input_edited`` with the texts on every keystroke."""

    input_edited = Signal(object)  # InputTexts
    token_clicked = Signal(str, int)  # axis ("encoder" | "decoder"), token index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = SourceEditor()
        self.source.setPlaceholderText("Type here; every panel follows.")
        self.target = QLineEdit()
        self.target.setPlaceholderText("empty: the model generates greedily")
        self.pair = QLineEdit()
        self.pair.setPlaceholderText("optional second segment")
        self._target_reason = QLabel()
        self._pair_reason = QLabel()
        for reason in (self._target_reason, self._pair_reason):
            reason.setStyleSheet("color:#888; font-style:italic;")

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Source", self.source)
        self._target_row = QWidget()
        target_layout = QVBoxLayout(self._target_row)
        target_layout.setContentsMargins(0, 0, 0, 0)
        target_layout.addWidget(self.target)
        target_layout.addWidget(self._target_reason)
        form.addRow("Target", self._target_row)
        self._pair_row = QWidget()
        pair_layout = QVBoxLayout(self._pair_row)
        pair_layout.setContentsMargins(0, 0, 0, 0)
        pair_layout.addWidget(self.pair)
        pair_layout.addWidget(self._pair_reason)
        form.addRow("Pair", self._pair_row)
        self.chat = QCheckBox("Format as chat: the source is one user turn of the model's chat template")
        self.chat.setToolTip("The template's own tokens are greyed like special tokens")
        self.chat.hide()
        form.addRow(self.chat)

        self.tokens = TokenChips()
        self.tokens.token_clicked.connect(self.token_clicked)
        self.tokens.setMinimumHeight(60)
        font = QFont(self.tokens.canvas.font())
        font.setPointSize(font.pointSize() + 1)
        self.tokens.canvas.setFont(font)
        self.notice = plain_label()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(QLabel("Tokens (click one to make it the query):"))
        layout.addWidget(self.tokens, 1)
        layout.addWidget(self.notice)


        for editor in (self.source, self.target, self.pair):
            editor.textChanged.connect(self._on_text_changed)
        self.chat.toggled.connect(self._on_text_changed)

    # -- reading ---------------------------------------------------------------------------
    def texts(self) -> InputTexts:
        """(source, target or None, pair or None); hidden editors contribute nothing."""
        target = self.target.text() if self.target.isEnabled() and self.target.text() else None
        pair = self.pair.text() if self.pair.isEnabled() and self.pair.text() else None
        chat = self.chat.isVisibleTo(self) and self.chat.isChecked()
        return InputTexts(self.source.toPlainText(), target, pair, chat)

    def _on_text_changed(self, *_: object) -> None:
        self.input_edited.emit(self.texts())

    def focus_source(self) -> None:
        """Give the source editor the keyboard, with the cursor after the text."""
        self.source.setFocus(Qt.FocusReason.OtherFocusReason)
        self.source.moveCursor(QTextCursor.MoveOperation.End)

    # -- showing -----------------------------------------------------------------------------
    def set_availability(self, target: PanelAvailability, pair: PanelAvailability) -> None:
        for editor, reason, availability in (
            (self.target, self._target_reason, target),
            (self.pair, self._pair_reason, pair),
        ):
            editor.setEnabled(availability.enabled)
            editor.setVisible(availability.enabled)
            reason.setText(availability.reason)
            reason.setVisible(not availability.enabled)

    def set_chat_available(self, available: bool) -> None:
        """Offer "format as chat" only for a model with a chat template."""
        with QSignalBlocker(self.chat):
            self.chat.setVisible(available)
            if not available:
                self.chat.setChecked(False)

    def show(self, view: TokensView) -> None:
        """Show the view's token rows (axis name, heading, tokens) and its selected token."""
        # The chips are laid out again only when the tokens change; a new selection repaints.
        self.tokens.show_tokens(view.rows, view.selected)
        notices = view.notices
        self.notice.setText(" ".join(notices))
        self.notice.setVisible(bool(notices))
