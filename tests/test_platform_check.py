"""Qt that cannot open a window says so in one line and exits 1, before any Qt code runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import platform_check
from explorer.platform_check import debian_package, window_system_problem

ROOT = Path(__file__).resolve().parent.parent
MISSING = "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"


def _failing_loader(missing: set[str], plugin_error: str):
    def load(name: str) -> object:
        if name.endswith("libqxcb.so"):
            raise OSError(plugin_error)
        if name in missing:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return object()

    return load


@pytest.mark.parametrize(
    "soname, package",
    [
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libEGL.so.1", "libegl1"),
    ],
)
def test_a_library_maps_to_the_package_that_usually_ships_it(soname: str, package: str) -> None:
    assert debian_package(soname) == package


def test_every_missing_library_is_listed_with_its_package(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(platform_check, "xcb_plugin", lambda: tmp_path / "libqxcb.so")
    monkeypatch.setattr(platform_check, "load_library", _failing_loader({"libxcb-cursor.so.0", "libxcb-icccm.so.4"}, MISSING))
    problem = window_system_problem({"DISPLAY": ":0"}, "linux")
    assert problem.startswith("Qt cannot open a window: its xcb plugin needs libxcb-cursor.so.0 and libxcb-icccm.so.4")
    assert "apt-get install libxcb-cursor0 libxcb-icccm4" in problem
    assert "QT_QPA_PLATFORM=offscreen" in problem and "\n" not in problem


def test_a_plugin_that_loads_means_no_problem(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(platform_check, "xcb_plugin", lambda: tmp_path / "libqxcb.so")
    monkeypatch.setattr(platform_check, "load_library", lambda name: object())
    assert window_system_problem({"DISPLAY": ":0"}, "linux") is None


@pytest.mark.parametrize(
    "environ, platform",
    [
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux"),  # the user chose a platform
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"),  # Qt may use Wayland
        ({}, "darwin"),
        ({}, "win32"),
    ],
)
def test_the_probe_stays_out_of_the_way_where_qt_decides(monkeypatch, environ: dict, platform: str) -> None:
    monkeypatch.setattr(platform_check, "load_library", _failing_loader({"libxcb-cursor.so.0"}, MISSING))
    assert window_system_problem(environ, platform) is None


def test_no_display_is_one_sentence_too() -> None:
    problem = window_system_problem({}, "linux")
    assert "DISPLAY is not set" in problem and "QT_QPA_PLATFORM=offscreen" in problem


def _run_app_in_child(environ: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess:
    script = (
        f"import sys\n{prelude}\nfrom explorer.cli import main\ncode = main([])\n"
        "print(any(name.startswith('PySide6.Qt') for name in sys.modules))\nsys.exit(code)\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(environ)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the probe runs on Linux only")
def test_the_app_with_a_failed_probe_prints_one_line_and_exits_1() -> None:
    prelude = (
        "from pathlib import Path\n"
        "import explorer.platform_check as check\n"
        "def load(name):\n"
        f"    if name.endswith('libqxcb.so') or name == 'libxcb-cursor.so.0': raise OSError({MISSING!r})\n"
        "check.load_library = load\n"
        "check.xcb_plugin = lambda: Path('libqxcb.so')\n"
    )
    result = _run_app_in_child({"DISPLAY": ":0"}, prelude)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("attention-explorer: error: Qt cannot open a window")
    assert "libxcb-cursor0" in result.stderr
    assert result.stdout.strip() == "False"  # refused before any Qt module was imported


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the probe runs on Linux only")
def test_the_app_without_a_display_prints_one_line_and_exits_1() -> None:
    result = _run_app_in_child({})
    assert result.returncode == 1
    assert result.stderr.strip() == f"attention-explorer: error: {window_system_problem({}, 'linux')}"
    assert result.stdout.strip() == "False"
