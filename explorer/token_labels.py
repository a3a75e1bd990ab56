"""How tokens read on axes and in lists.

Tokenizers mark spaces and newlines with stand-in characters: byte-level BPE (GPT-2,
RoBERTa, BART) writes ``Ġ`` for a space and ``Ċ`` for a newline, SentencePiece (T5,
Marian) writes ``▁``. Shown raw they look like noise, so they become visible marks.
WordPiece's ``##`` continuation stays: it tells the reader the token glues to the last.
Byte-level stand-ins for other bytes (``ĉ`` for a tab, ``č`` for a carriage return) are
left alone because they are also ordinary letters in other tokenizers.
"""

from __future__ import annotations

from functools import lru_cache

SPACE_MARK = "␣"
NEWLINE_MARK = "↵"
TAB_MARK = "⇥"
_REPLACEMENTS = {
    "Ġ": SPACE_MARK,
    "▁": SPACE_MARK,
    " ": SPACE_MARK,
    "Ċ": NEWLINE_MARK,
    "\n": NEWLINE_MARK,
    "\t": TAB_MARK,
    "\r": NEWLINE_MARK,
}
_TABLE = str.maketrans(_REPLACEMENTS)


@lru_cache(maxsize=1 << 16)
def display_token(token: str) -> str:
    """The token with whitespace markers made visible; control characters shown as codes.

    Cached: a long input shows the same few thousand strings again on every keystroke."""
    text = token.translate(_TABLE)
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text) or "∅"


def elide(label: str, width: int) -> str:
    """Cut a label to ``width`` characters, marking the cut with an ellipsis."""
    return label if len(label) <= width else label[: max(width - 1, 1)] + "…"
