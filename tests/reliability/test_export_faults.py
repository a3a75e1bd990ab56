"""An export that fails at any point leaves no partial file and never destroys the previous one.

Complements ``tests/export/test_failures.py`` (interrupt before the rename, full disk in a
CSV, missing folder) with faults partway through the bytes of every format, failed
renames, folders no one may write to (root included), folders in the way, and the same
through ``attention-explorer dump`` and ``attention-explorer export``.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from explorer import atomic_write
from explorer.cli import main
from explorer.export import FigureRequest, export_figure, export_trace_data
from model import Trace, save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

PREVIOUS = b"the previous export, which must survive"
SOURCE, TARGET = "date: wednesday, 25 november 2026", "2026-11"
FORMATS = [".png", ".svg", ".pdf", ".npz", ".csv"]
# /sys refuses new files to every user, root included, so this is a real unwritable folder.
UNWRITABLE = Path("/sys")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tiny_config("encoder-decoder")
    folder = tmp_path_factory.mktemp("export-faults") / "tiny"
    return save_checkpoint(folder, tiny_network(config, seed=2), task_tokenizer(config.max_positions), name="tiny")


@pytest.fixture(scope="module")
def trace(checkpoint: Path) -> Trace:
    from model import load_checkpoint

    return load_checkpoint(checkpoint).trace(SOURCE, target=TARGET)


@pytest.fixture
def api_export(trace: Trace, qapp) -> Callable[[Path], Path]:
    """Export the trace to ``path`` through ``explorer.export``: a figure or data, by extension."""

    def run(path: Path) -> Path:
        if path.suffix in (".npz", ".csv"):
            return export_trace_data(trace, path)
        return export_figure(FigureRequest(trace, "head", "cross", 1, 0), path)

    return run


@pytest.fixture
def cli_export(checkpoint: Path) -> Callable[[Path], int]:
    """``attention-explorer dump`` for .npz, ``attention-explorer export`` for the rest; the exit code."""

    def run(path: Path) -> int:
        command = "dump" if path.suffix == ".npz" else "export"
        options = ["--kind", "cross"] if path.suffix in (".png", ".svg", ".pdf") else []
        argv = [command, "--checkpoint", str(checkpoint), "--text", SOURCE, "--target", TARGET, "--out", str(path)]
        return main(argv + options)

    return run


class _FillingFile(io.FileIO):
    """A file that accepts ``limit`` bytes, then raises ``failure`` (a disk filling up, or Ctrl+C)."""

    limit = 0
    failure: BaseException = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, data) -> int:
        room = self.limit - self.tell()
        if len(data) > room:
            super().write(bytes(data)[: max(room, 0)])
            raise self.failure
        return super().write(data)


@pytest.fixture
def fails_partway(monkeypatch):
    """Make every atomic write fail after ``limit`` bytes have reached the disk."""

    def install(failure: BaseException, limit: int = 600) -> None:
        real_fdopen = os.fdopen

        def fdopen(descriptor, mode="r", *args, **kwargs):
            if mode != "wb":
                return real_fdopen(descriptor, mode, *args, **kwargs)
            raw = type("Filling", (_FillingFile,), {"limit": limit, "failure": failure})(descriptor, "wb")
            return io.BufferedWriter(raw, buffer_size=256)

        monkeypatch.setattr(atomic_write.os, "fdopen", fdopen)

    return install


def _previous(folder: Path, suffix: str) -> Path:
    """A previous export at ``folder/attention<suffix>``, alone in its folder."""
    folder.mkdir(exist_ok=True)
    path = folder / f"attention{suffix}"
    path.write_bytes(PREVIOUS)
    return path


def _only(path: Path) -> None:
    """``path`` holds the previous bytes and nothing else lies beside it (no .part left over)."""
    assert path.read_bytes() == PREVIOUS
    assert sorted(entry.name for entry in path.parent.iterdir()) == [path.name]


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attention-explorer: error: "), captured.err
    assert "Traceback" not in captured.err and ".part" not in captured.err
    return lines[0]


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_disk_filling_partway_keeps_the_previous_file(api_export, cli_export, fails_partway, tmp_path, capsys, suffix):
    api_path, cli_path = _previous(tmp_path / "api", suffix), _previous(tmp_path / "cli", suffix)
    fails_partway(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(OSError, match="No space left on device"):
        api_export(api_path)
    _only(api_path)
    assert cli_export(cli_path) == 1
    assert "No space left on device" in _one_line(capsys)
    _only(cli_path)


@pytest.mark.parametrize("suffix", FORMATS)
def test_ctrl_c_partway_keeps_the_previous_file(api_export, cli_export, fails_partway, tmp_path, capsys, suffix):
    api_path, cli_path = _previous(tmp_path / "api", suffix), _previous(tmp_path / "cli", suffix)
    fails_partway(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        api_export(api_path)
    _only(api_path)
    assert cli_export(cli_path) == 130
    assert capsys.readouterr().err == ""
    _only(cli_path)


def test_the_fault_really_strikes_partway(fails_partway, tmp_path, monkeypatch):
    """The fixture lets bytes reach the disk before failing, so the tests above see a real partial file."""
    seen: list[int] = []
    real_unlink = os.unlink

    def unlink(path):
        seen.append(Path(path).stat().st_size)
        real_unlink(path)

    monkeypatch.setattr(atomic_write.os, "unlink", unlink)
    fails_partway(OSError(errno.ENOSPC, "full"), limit=600)
    with pytest.raises(OSError):
        atomic_write.write_atomically(tmp_path / "x.bin", lambda handle: handle.write(b"y" * 10_000))
    assert seen == [600]


@pytest.mark.parametrize("suffix", [".png", ".npz", ".csv"])
def test_a_failed_rename_keeps_the_previous_file(api_export, cli_export, tmp_path, monkeypatch, capsys, suffix):
    api_path, cli_path = _previous(tmp_path / "api", suffix), _previous(tmp_path / "cli", suffix)

    def refuse(source, destination):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(source), str(destination))

    monkeypatch.setattr(atomic_write.os, "replace", refuse)
    with pytest.raises(OSError, match="Permission denied") as raised:
        api_export(api_path)
    assert ".part" not in str(raised.value)
    _only(api_path)
    assert cli_export(cli_path) == 1
    assert cli_path.name in _one_line(capsys)
    _only(cli_path)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not UNWRITABLE.is_dir(), reason="needs Linux's /sys")
@pytest.mark.parametrize("suffix", [".png", ".npz", ".csv"])
def test_a_folder_no_one_may_write_to_gives_one_clear_error(api_export, cli_export, capsys, suffix):
    path = UNWRITABLE / f"attention{suffix}"
    with pytest.raises(OSError, match="Permission denied") as raised:
        api_export(path)
    assert str(path) in str(raised.value) and ".part" not in str(raised.value)
    assert cli_export(path) == 1
    line = _one_line(capsys)
    assert "Permission denied" in line and path.name in line
    assert not path.exists()


@pytest.mark.parametrize("suffix", [".png", ".npz", ".csv"])
def test_a_folder_in_the_way_is_left_alone(api_export, cli_export, tmp_path, capsys, suffix):
    path = tmp_path / f"attention{suffix}"
    path.mkdir()
    (path / "keep.txt").write_text("mine")
    with pytest.raises(OSError, match="folder of that name is in the way"):
        api_export(path)
    assert cli_export(path) == 1
    assert "folder of that name is in the way" in _one_line(capsys)
    assert (path / "keep.txt").read_text() == "mine"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", [".png", ".npz", ".csv"])
def test_a_file_where_the_folder_should_be_gives_one_clear_error(api_export, cli_export, tmp_path, capsys, suffix):
    blocker = tmp_path / "results"
    blocker.write_bytes(PREVIOUS)
    with pytest.raises(OSError, match="does not exist"):
        api_export(blocker / f"attention{suffix}")
    assert cli_export(blocker / f"attention{suffix}") == 1
    assert "does not exist" in _one_line(capsys)
    _only(blocker)


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_successful_export_replaces_the_previous_file_whole(api_export, tmp_path, suffix):
    path = _previous(tmp_path, suffix)
    path.chmod(0o640)
    api_export(path)
    data = path.read_bytes()
    assert PREVIOUS not in data
    assert (path.stat().st_mode & 0o777) == 0o640
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [path.name]
    if suffix == ".npz":
        with np.load(path) as arrays:
            assert arrays["cross"].shape[:2] == (2, 4)
