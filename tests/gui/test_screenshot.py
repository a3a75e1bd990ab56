"""``attention-explorer --screenshot`` in a real process: exit code 0 and a valid PNG."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtGui import QImage

from explorer.app import SCREENSHOT_SIZE


def test_screenshot_subprocess_exits_zero_with_a_valid_png(tmp_path, checkpoints):
    out = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    completed = subprocess.run(
        [
            sys.executable, "-m", "explorer.cli",
            "--checkpoint", str(checkpoints["encoder-decoder"]),
            "--text", "date: 5 may 2020",
            "--target", "2020-05-05",
            "--screenshot", str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Fatal Python error" not in completed.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage(str(out))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    # Not a blank window: the heatmaps put many distinct colours on it.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 23)}
    assert len(colours) > 50
    assert not list(tmp_path.glob(".window.png.*")), "a temporary file was left behind"


def test_screenshot_of_a_broken_checkpoint_fails_with_one_line(tmp_path, checkpoints):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    completed = subprocess.run(
        [sys.executable, "-m", "explorer.cli", "--checkpoint", str(checkpoints["broken"]), "--text", "x",
         "--screenshot", str(tmp_path / "x.png")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 1
    assert "not valid JSON" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "x.png").exists()
