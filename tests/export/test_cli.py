"""``attention-explorer export``: every format headless, and one-line errors with a non-zero exit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from PySide6.QtGui import QImage

from explorer.cli import main
from explorer.export import FigureRequest
from explorer.export.figures import build_figure


@pytest.fixture
def export(checkpoint: Path, input_arguments: list[str]) -> Callable[..., int]:
    """Run ``attention-explorer export`` in this process on the ``trace`` fixture's input; its exit code."""

    def run(out: Path, *options: str) -> int:
        return main(["export", "--checkpoint", str(checkpoint), *input_arguments, "--out", str(out), *options])

    return run


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attention-explorer: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("name", ["cross.png", "cross.svg", "cross.pdf", "trace.npz", "trace.csv"])
def test_each_format_is_written(export, tmp_path, capsys, name):
    out = tmp_path / name
    assert export(out, "--kind", "cross", "--layer", "1", "--head", "2") == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}")
    data = out.read_bytes()
    signatures = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF", ".npz": b"PK", ".csv": b"kind,layer,head"}
    assert data.startswith(signatures[out.suffix])


def test_scale_colormap_and_scores_reach_the_figure(export, trace, tmp_path):
    out = tmp_path / "head.png"
    options = ["--kind", "decoder_self", "--layer", "0", "--head", "mean", "--scale", "1", "--scores"]
    assert export(out, *options, "--colormap", "magma") == 0
    figure = build_figure(FigureRequest(trace, "head", "decoder_self", 0, None, values="scores", colormap="magma"))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (figure.width, figure.height)


def test_head_all_writes_the_grid_headless(checkpoint, input_arguments, trace, tmp_path):
    """A separate process with no display at all: the command brings its own offscreen Qt."""
    out = tmp_path / "grid.png"
    no_display = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    environment = {key: value for key, value in os.environ.items() if key not in no_display}
    command = [sys.executable, "-m", "explorer.cli", "export", "--checkpoint", str(checkpoint), *input_arguments]
    command += ["--kind", "encoder_self", "--head", "all", "--out", str(out)]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "Traceback" not in finished.stderr
    grid = build_figure(FigureRequest(trace, "grid", "encoder_self", 0, None, show_mean_column=True))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (2 * grid.width, 2 * grid.height)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--kind", "cross", "--layer", "5"], "layer 5 is out of range: .* has layers 0–1"),
        (["--kind", "encoder_self", "--head", "4"], "head 4 is out of range: this model has heads 0–3"),
        (["--kind", "encoder_self", "--head", "first"], "--head must be a head number, mean or all"),
        (["--kind", "cross", "--scale", "0"], "scale must be a number above 0"),
        (["--kind", "cross", "--colormap", "jet"], "unknown colour map 'jet'; choose one of viridis"),
        (["--layer", "0"], "--kind is needed for an image"),
    ],
)
def test_bad_choices_give_one_line_and_a_non_zero_exit(export, tmp_path, capsys, options, message):
    out = tmp_path / "figure.png"
    assert export(out, *options) != 0
    assert re.search(message, one_line_error(capsys))
    assert not out.exists()


def test_unknown_extension_gives_one_line(export, tmp_path, capsys):
    assert export(tmp_path / "figure.jpg", "--kind", "cross") != 0
    line = one_line_error(capsys)
    assert ".png, .svg, .pdf, .npz, .csv" in line and "figure.jpg" in line


def test_a_missing_folder_gives_one_line(export, tmp_path, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    assert export(blocker / "figure.png", "--kind", "cross") != 0
    assert "does not exist" in one_line_error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_an_unwritable_folder_gives_one_line(export, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert export(folder / "trace.csv") != 0
        assert "Permission denied" in one_line_error(capsys)
    finally:
        folder.chmod(0o700)


def test_a_full_disk_gives_one_line_and_keeps_the_previous_file(export, tmp_path, capsys, monkeypatch):
    from explorer import atomic_write

    out = tmp_path / "cross.pdf"
    out.write_bytes(b"previous")

    def full_disk(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "fsync", full_disk)
    assert export(out, "--kind", "cross", "--layer", "1", "--head", "0") != 0
    assert "No space left on device" in one_line_error(capsys)
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["cross.pdf"]
