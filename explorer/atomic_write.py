"""Write a file so that a reader only ever sees the old content or the complete new content.

The data goes to a temporary file in the target's folder (same file system), is flushed
to disk, and is renamed over the target; any failure — an exception in the writer, a
full disk, a failed rename, Ctrl+C — removes the temporary file and leaves an existing
target untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write`` with a binary file handle, then move the result to ``path``.

    Raises ``OSError`` naming ``path`` (never the temporary file) when the folder is
    missing or unwritable, the disk fills or the rename fails; whatever ``write`` raises
    passes through. In every case the temporary file is gone and an old ``path`` is intact.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"the folder {folder} does not exist")
    if path.is_dir():
        raise IsADirectoryError(21, "a folder of that name is in the way", str(path))
    try:
        # mkstemp makes the file private; give the result the mode the old file had, or the usual one.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.chmod(temporary, mode)  # by name: os.fchmod is missing on Windows before Python 3.13
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError) and error.filename == temporary:
            raise _naming(error, path) from None
        raise
    return path


def _naming(error: OSError, path: Path) -> OSError:
    """The same error, about ``path`` rather than a temporary file beside it."""
    return type(error)(error.errno, error.strerror, str(path)) if error.errno is not None else error
