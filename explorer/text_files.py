"""Texts read from files or standard input, for inputs too long for a command line.

A single command-line argument is capped by the operating system (128 KiB on Linux), so
every option that takes text has a ``--…-file PATH`` twin, with ``-`` for standard input;
the app's File ▸ Open text file… reads through the same function. Text is UTF-8 (a
leading byte-order mark is dropped); anything else is refused with one sentence, and the
size is checked before the file is read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

STDIN = "-"
# Far beyond any model's maximum (the text is cut to it anyway, with a notice), and small
# enough that reading one file cannot exhaust memory.
MAX_TEXT_BYTES = 64 * 1024 * 1024


class TextFileError(ValueError):
    """A text file that cannot be used; the message is one sentence naming it."""


def read_text_file(location: str | Path, stdin: BinaryIO | None = None, max_bytes: int | None = None) -> str:
    """The UTF-8 text of a file, or of standard input when ``location`` is ``-``, of at most
    ``max_bytes`` (None: ``MAX_TEXT_BYTES``).

    Raises:
        TextFileError: the file is missing, unreadable, too large or not UTF-8.
    """
    max_bytes = MAX_TEXT_BYTES if max_bytes is None else max_bytes
    if str(location) == STDIN:
        name = "standard input"
        data = _read_capped(stdin if stdin is not None else sys.stdin.buffer, name, max_bytes)
    else:
        path = Path(location).expanduser()
        name = str(path)
        try:
            if path.is_dir():
                raise TextFileError(f"{name} is a folder, not a text file")
            if path.stat().st_size > max_bytes:
                raise TextFileError(_too_large(name, max_bytes))
            with path.open("rb") as handle:  # a pipe or device reports size 0: cap the read too
                data = _read_capped(handle, name, max_bytes)
        except OSError as error:
            raise TextFileError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TextFileError(
            f"{name} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start:,}); "
            "save it as UTF-8 and try again"
        ) from None


def _read_capped(handle: BinaryIO, name: str, max_bytes: int) -> bytes:
    data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TextFileError(_too_large(name, max_bytes))
    return data


def _too_large(name: str, max_bytes: int) -> str:
    return f"{name} is larger than {max_bytes // (1024 * 1024)} MiB, the most a text may be"
