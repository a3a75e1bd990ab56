"""The one sentence an error shows a user: the first line of its message, or its type's name."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of ``str(error)``, stripped; the exception's class name when it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
