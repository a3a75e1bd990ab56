"""Before Qt starts on Linux: can it open a window at all? One sentence if not.

Without its X11 client libraries Qt's xcb plugin fails inside ``QApplication`` with five
lines of its own and an abort (exit 134). This module asks the same question first,
without importing Qt: it loads the plugin's shared library the way Qt would, and on a
failure lists every missing library with the Debian/Ubuntu package that usually
provides it. Other platforms, an explicit ``QT_QPA_PLATFORM`` and Wayland sessions are
left to Qt.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Callable, Mapping

# What Qt 6's xcb plugin links against beyond the C library, by soname.
XCB_LIBRARIES = (
    "libxcb.so.1",
    "libX11.so.6",
    "libX11-xcb.so.1",
    "libxcb-cursor.so.0",
    "libxcb-icccm.so.4",
    "libxcb-image.so.0",
    "libxcb-keysyms.so.1",
    "libxcb-randr.so.0",
    "libxcb-render.so.0",
    "libxcb-render-util.so.0",
    "libxcb-shape.so.0",
    "libxcb-shm.so.0",
    "libxcb-sync.so.1",
    "libxcb-xfixes.so.0",
    "libxcb-xkb.so.1",
    "libxkbcommon.so.0",
    "libxkbcommon-x11.so.0",
    "libfontconfig.so.1",
    "libfreetype.so.6",
    "libEGL.so.1",
    "libGL.so.1",
    "libdbus-1.so.3",
    "libglib-2.0.so.0",
)
# Packages whose names don't follow Debian's soname rule (below).
PACKAGES = {"libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libglib-2.0.so.0": "libglib2.0-0"}
_MISSING = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*)\s*:\s*cannot open shared object file")
HEADLESS_HINT = "for headless use set QT_QPA_PLATFORM=offscreen (or use --screenshot)"


def debian_package(soname: str) -> str:
    """The package that usually ships ``soname``: libxcb-icccm.so.4 → libxcb-icccm4."""
    if soname in PACKAGES:
        return PACKAGES[soname]
    name, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    # Debian's rule: the soname's major version is appended, after a hyphen if the name ends in a digit.
    return f"{name}{'-' if name[-1:].isdigit() else ''}{version}".lower() if version else name.lower()


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing Qt (None if it is not there)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


# The loader, looked up at call time so that a test can make the probe fail.
load_library: Callable[[str], object] = ctypes.CDLL


def window_system_problem(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """One sentence saying why Qt could not open a window here, or None if it should."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("WAYLAND_DISPLAY"):
        return None  # Qt may use its Wayland plugin; leave the choice to it
    if not environ.get("DISPLAY"):
        return f"there is no display to open the window on (DISPLAY is not set); {HEADLESS_HINT}"
    path, load = xcb_plugin(), load_library
    if path is None:
        return None
    try:
        load(str(path))
        return None
    except OSError as error:
        reason = str(error)
    missing = _missing_libraries(reason, load)
    if not missing:
        return f"Qt's window system plugin (xcb) cannot be loaded ({reason.strip().splitlines()[0]}); {HEADLESS_HINT}"
    packages = " ".join(dict.fromkeys(debian_package(name) for name in missing))
    listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
    return (
        f"Qt cannot open a window: its xcb plugin needs {listed}, not installed here "
        f"(on Debian or Ubuntu: apt-get install {packages}); {HEADLESS_HINT}"
    )


def _missing_libraries(reason: str, load: Callable[[str], object]) -> list[str]:
    """The library the loader named first, then every other known dependency that fails too."""
    named = _MISSING.findall(reason)
    missing = list(dict.fromkeys(named))
    for soname in XCB_LIBRARIES:
        if soname in missing:
            continue
        try:
            load(soname)
        except OSError:
            missing.append(soname)
    return missing
