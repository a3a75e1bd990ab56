"""Keystroke to pixels on a real X server: what a user sees, measured from outside the app.

The offscreen measurement (``window_child``) times paint events inside the process; it
skips the real backing-store flush to a display. This one starts an ``Xvfb`` server,
runs the window on it (``xserver_child``), types with XTest key events (as a keyboard
would) into the source box, and reads the watched panels' pixels back from the screen
with ``XGetImage`` in a tight loop. For each key it records when any watched pixel first
changed and when every panel had settled: the last change before the screen stayed
still for ``QUIET_MS``. Keys alternate a letter and Backspace at the end of the text,
and the next key is sent only once the screen has settled.

    python -m benchmarks.xserver --tokens 128 --keys 40 [--checkpoint FOLDER]

Needs Debian's ``xvfb`` and the Python package ``python-xlib``; without them it says so
and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from .common import REPOSITORY, emit, summary

QUIET_MS = 250.0
KEY_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 600.0


def missing_tools() -> str | None:
    """Why the measurement cannot run here, or None."""
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (Debian: apt-get install xvfb)"
    try:
        import Xlib  # noqa: F401
    except ImportError:
        return "python-xlib is not installed (pip install python-xlib)"
    return None


def start_xvfb(width: int, height: int) -> tuple[subprocess.Popen, str]:
    """A fresh Xvfb on the first free display number; it writes that number to a pipe."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        raise RuntimeError("Xvfb did not start")
    return server, f":{number}"


class Screen:
    """Reads rectangles of the root window and sends XTest input."""

    def __init__(self, display_name: str) -> None:
        from Xlib import X, display
        from Xlib.ext import xtest

        from Xlib.ext import damage

        self._X, self._xtest = X, xtest
        self.display = display.Display(display_name)
        self.root = self.display.screen().root
        if not self.display.has_extension("DAMAGE"):
            raise RuntimeError("the X server has no DAMAGE extension")
        self._damage_event = self.display.extension_event.DamageNotify
        self.display.damage_query_version()  # the protocol requires it before any other request
        self.root.damage_create(damage.DamageReportRawRectangles)
        self.display.sync()

    def damage(self, timeout_s: float) -> list[tuple[list[int], float]]:
        """The rectangles drawn since the last call, each with when it was reported; waits up to ``timeout_s``."""
        import select

        if not self.display.pending_events():
            select.select([self.display.fileno()], [], [], timeout_s)
        found = []
        while self.display.pending_events():
            event = self.display.next_event()
            if event.type == self._damage_event:
                area = event.area
                found.append(([area.x, area.y, area.width, area.height], time.perf_counter()))
        return found

    def drain(self) -> None:
        self.display.sync()
        self.damage(0.0)

    def grab(self, rect: list[int]) -> np.ndarray:
        x, y, width, height = rect
        image = self.root.get_image(x, y, width, height, self._X.ZPixmap, 0xFFFFFFFF)
        return np.frombuffer(image.data, dtype=np.uint8)

    def key(self, keysym_name: str) -> None:
        from Xlib import XK

        code = self.display.keysym_to_keycode(XK.string_to_keysym(keysym_name))
        self._xtest.fake_input(self.display, self._X.KeyPress, code)
        self._xtest.fake_input(self.display, self._X.KeyRelease, code)
        self.display.sync()

    def click(self, x: int, y: int) -> None:
        self._xtest.fake_input(self.display, self._X.MotionNotify, x=x, y=y)
        self._xtest.fake_input(self.display, self._X.ButtonPress, 1)
        self._xtest.fake_input(self.display, self._X.ButtonRelease, 1)
        self.display.sync()

    def chord(self, modifier: str, keysym_name: str) -> None:
        from Xlib import XK

        modifier_code = self.display.keysym_to_keycode(XK.string_to_keysym(modifier))
        self._xtest.fake_input(self.display, self._X.KeyPress, modifier_code)
        self.key(keysym_name)
        self._xtest.fake_input(self.display, self._X.KeyRelease, modifier_code)
        self.display.sync()


def read_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        line = line.strip()
        if line.startswith("{"):
            into.put(json.loads(line))
    into.put(None)


def measure_key(screen: Screen, regions: dict[str, list[int]], keysym: str) -> dict | None:
    """Send one key; (first change, settled) in ms after it, over the watched regions.

    The server's damage reports say when drawing reached a watched rectangle (no polling,
    so the measurement takes no core from the app); the pixels of every region are read
    before the key and after the screen settled, to name the panels that really changed.
    """
    before = {name: screen.grab(rect) for name, rect in regions.items()}
    screen.drain()
    pressed = time.perf_counter()
    screen.key(keysym)
    first = last = None
    while True:
        waited = time.perf_counter() - (last if last is not None else pressed)
        if last is None and waited > KEY_TIMEOUT_S:
            return None
        if last is not None and waited * 1000 >= QUIET_MS:
            break
        for rect, stamp in screen.damage(timeout_s=QUIET_MS / 1000):
            if any(_overlap(rect, region) for region in regions.values()):
                first = stamp if first is None else first
                last = stamp
    changed = [name for name, rect in regions.items() if not np.array_equal(screen.grab(rect), before[name])]
    return {"first_ms": (first - pressed) * 1000, "settled_ms": (last - pressed) * 1000, "panels_changed": changed}


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--tokens", type=int, default=0)
    parser.add_argument("--keys", type=int, default=40)
    args = parser.parse_args(argv)
    reason = missing_tools()
    if reason:
        emit({"error": reason})
        return 2

    server, display_name = start_xvfb(1600, 1000)
    child = None
    try:
        environment = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
        environment["DISPLAY"] = display_name
        command = [sys.executable, "-m", "benchmarks.xserver_child", "--tokens", str(args.tokens)]
        if args.checkpoint:
            command += ["--checkpoint", args.checkpoint]
        child = subprocess.Popen(
            command, cwd=REPOSITORY, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=read_lines, args=(child.stdout, lines), daemon=True).start()
        ready = lines.get(timeout=READY_TIMEOUT_S)
        if ready is None or "error" in ready:
            emit({"error": (ready or {}).get("error", "the window never became ready")})
            return 1
        screen = Screen(display_name)
        x, y, width, height = ready["editor"]
        screen.click(x + width // 2, y + height // 2)  # no window manager: a click gives focus
        screen.chord("Control_L", "End")
        time.sleep(QUIET_MS / 1000)  # let the click's own repaint pass before measuring
        regions = ready["regions"]
        results = []
        for index in range(args.keys):
            measured = measure_key(screen, regions, "x" if index % 2 == 0 else "BackSpace")
            if measured is None:
                emit({"error": f"key {index} never settled on the screen"})
                return 1
            results.append(measured)
        events = []
        while True:
            try:
                event = lines.get_nowait()
            except queue.Empty:
                break
            if event is not None:
                events.append(event)
        forwards = [event["forward_ms"] for event in events if event.get("event") == "trace"]
        settled = [result["settled_ms"] for result in results]
        forward_by_key = forwards[-len(results):] if len(forwards) >= len(results) else []
        emit(
            {
                "tokens": ready["tokens"],
                "model": ready["model"],
                "keys": len(results),
                "first_change": summary([result["first_ms"] for result in results]),
                "settled": summary(settled),
                "forward": summary(forwards) if forwards else None,
                "settled_minus_forward": summary([s - f for s, f in zip(settled, forward_by_key)])
                if forward_by_key
                else None,
                "traces": len(forwards),
                "panels": sorted(regions),
            }
        )
        return 0
    finally:
        if child is not None:
            try:
                child.stdin.close()
                child.wait(timeout=60)
            except (subprocess.TimeoutExpired, OSError):
                child.kill()
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
