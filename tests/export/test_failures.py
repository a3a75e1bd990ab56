"""A failed or interrupted export never leaves a half-written file or destroys the previous one."""

from __future__ import annotations

import errno
import os

import pytest

from explorer import atomic_write
from explorer.export import FigureRequest, data, export_figure, export_trace_data

PREVIOUS = b"the previous export, which must survive"


@pytest.fixture
def previous(tmp_path):
    def make(name: str):
        path = tmp_path / name
        path.write_bytes(PREVIOUS)
        return path

    return make


def leftovers(path) -> list[str]:
    return sorted(entry.name for entry in path.parent.iterdir() if entry != path)


@pytest.mark.parametrize("name", ["figure.png", "figure.svg", "figure.pdf"])
def test_interrupted_figure_export_keeps_the_previous_file(trace, previous, monkeypatch, name):
    path = previous(name)

    def interrupted(descriptor):  # the bytes are written; the interrupt comes before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_write.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_figure(FigureRequest(trace, "cross", "cross", 1, 0), path)
    assert path.read_bytes() == PREVIOUS
    assert leftovers(path) == []


def test_disk_full_midway_through_a_csv_keeps_the_previous_file(trace, previous, monkeypatch):
    path = previous("trace.csv")
    real_rows = data.csv_rows

    def rows_then_full_disk(trace_to_write, *selection):
        blocks = real_rows(trace_to_write, *selection)
        yield next(blocks)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(data, "csv_rows", rows_then_full_disk)
    with pytest.raises(OSError, match=f"cannot write {path}: No space left on device"):
        export_trace_data(trace, path)
    assert path.read_bytes() == PREVIOUS
    assert leftovers(path) == []


def test_a_missing_folder_is_a_clear_error(trace, tmp_path):
    target = tmp_path / "no such folder" / "figure.png"
    with pytest.raises(OSError, match="does not exist"):
        export_figure(FigureRequest(trace, "head", "cross", 0, 0), target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_an_unwritable_folder_is_a_clear_error(trace, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OSError, match="cannot write .*Permission denied"):
            export_trace_data(trace, folder / "trace.npz")
    finally:
        folder.chmod(0o700)
