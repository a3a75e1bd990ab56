"""The input panel: source, target and pair editors, and the tokens as the model saw them.

Tokens are links in one read-only rich-text view (cheap even for thousands of tokens);
clicking one selects it as the query token. Special tokens are styled apart, whitespace
markers are made visible by ``display_token``.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from model.trace import TokenAxis

from ..core.views import PanelAvailability, TokensView
from ..jobs import InputTexts
from ..token_labels import display_token
from .heatmap import plain_label
from .theme import plot_theme

SPECIAL_STYLE = "color:#7a7a7a; font-style:italic;"
SELECTED_STYLE = "color:#ffffff; background:#e8261c; text-decoration:none;"
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

        self.tokens = QTextBrowser()
        self.tokens.setOpenLinks(False)
        self.tokens.setOpenExternalLinks(False)
        self.tokens.anchorClicked.connect(self._on_anchor_clicked)
        self.tokens.setMinimumHeight(60)
        font = QFont(self.tokens.font())
        font.setPointSize(font.pointSize() + 1)
        self.tokens.setFont(font)
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

        self._token_html = ""
        theme = plot_theme()
        self._heading_colour = theme.muted
        self._token_style = f"color:{theme.chip_foreground}; background:{theme.chip_background}; border-radius:3px; text-decoration:none;"

        for editor in (self.source, self.target, self.pair):
            editor.textChanged.connect(self._on_text_changed)

    # -- reading ---------------------------------------------------------------------------
    def texts(self) -> InputTexts:
        """(source, target or None, pair or None); hidden editors contribute nothing."""
        target = self.target.text() if self.target.isEnabled() and self.target.text() else None
        pair = self.pair.text() if self.pair.isEnabled() and self.pair.text() else None
        return InputTexts(self.source.toPlainText(), target, pair)

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

    def show(self, view: TokensView) -> None:
        """Show the view's token rows (axis name, heading, tokens) and its selected token."""
        axes, selected, notices = view.rows, view.selected, view.notices
        rows = []
        for axis_name, heading, axis in axes:
            chips = []
            # Chat-template tokens (``TokenAxis.template``, where a model has them) are
            # greyed exactly like special tokens.
            template = getattr(axis, "template", None)
            for index, token in enumerate(axis.tokens):
                label = html.escape(display_token(token))
                style = self._token_style
                if selected == (axis_name, index):
                    style = SELECTED_STYLE
                elif bool(axis.special[index]) or (template is not None and bool(template[index])):
                    style = self._token_style + SPECIAL_STYLE
                chips.append(f'<a href="token:{axis_name}:{index}" style="{style}">&nbsp;{label}&nbsp;</a>')
            rows.append(f'<p style="margin:2px 0;"><b style="color:{self._heading_colour};">{html.escape(heading)}</b>&nbsp; {" ".join(chips)}</p>')
        token_html = "".join(rows)
        if token_html != self._token_html:
            # Re-laying out the chips is most of this panel's cost; selection changes that
            # leave the tokens and the selected chip alone skip it.
            self._token_html = token_html
            self.tokens.setHtml(token_html)
        self.notice.setText(" ".join(notices))
        self.notice.setVisible(bool(notices))

    def _on_anchor_clicked(self, url: QUrl) -> None:
        parts = url.toString().split(":")
        if len(parts) == 3 and parts[0] == "token" and parts[2].isdigit():
            self.token_clicked.emit(parts[1], int(parts[2]))
