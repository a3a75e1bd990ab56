"""Writing an export to disk: atomically, with errors that name the file the user chose."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Callable

from ..atomic_write import write_atomically

IMAGE_FORMATS = (".png", ".svg", ".pdf")


def write_file(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """``write_atomically`` with an error that names the file instead of the temporary one."""
    try:
        return write_atomically(path, write)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(f"cannot write {path}: {reason}") from error
