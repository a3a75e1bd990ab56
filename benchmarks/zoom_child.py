"""One zoom or pan frame of the head view on a long input, on the GUI thread.

A random small Llama-style model (``long_child.build("llama")``: 4 layers, d 256, 8 query
heads sharing 2 key/value heads) traces ``--tokens`` tokens with the recomputed storage,
as the app does for long inputs. The real ``HeadDetail`` panel shows one head; then each
frame moves its viewport (zoom levels from the whole matrix down to 40 cells across, at
the start, middle and end of the input, and pans between them) and the frame is timed
from the viewport change until the panel has drawn it (``repaint``). As in the app, a
tile too costly for the GUI thread is handed to the worker (here: dropped) and the frame
only moves the image it has, so the time is what the GUI thread spends.

    python -m benchmarks.zoom_child --tokens 8192 --frames 60
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from .common import emit, median, percentile, text_of_tokens  # noqa: E402


def viewports(rows: int, columns: int, frames: int) -> list:
    """``frames`` distinct viewports: every zoom level at the start, middle and end, then
    pans back and forth of a third of the view at 300 cells across."""
    from explorer.core.viewport import Viewport

    whole = Viewport.whole(rows, columns)
    chosen = [whole]
    for cells in (1000.0, 300.0, 40.0):
        for centre in (0, rows // 2, rows - 1):
            chosen.append(whole.centred_on(centre, centre, cells))
    step = 100.0
    current = whole.centred_on(rows // 2, rows // 2, 300.0)
    while len(chosen) < frames:
        moved = current.centred_on(current.top + 150 + step, current.left + 150 + step)
        if moved == current:  # at an edge: turn round
            step = -step
            continue
        chosen.append(moved)
        current = moved
    return chosen[:frames]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from explorer.core.state import ExplorerState
    from explorer.core.thumbnails import prepare_thumbnails
    from explorer.core.views import head_view
    from explorer.core.numeric import THUMBNAIL_SIDE
    from explorer.panels.head_detail import HeadDetail

    from .long_child import build

    app = QApplication.instance() or QApplication([])
    model = build("llama", args.tokens + 16)
    trace = model.trace(text_of_tokens(model.tokenizer, args.tokens), storage="recomputed", overview_side=THUMBNAIL_SIDE)
    state = ExplorerState()
    state.set_trace(trace, prepare_thumbnails(trace))
    state.select(kind="decoder_self", layer=2, head=3)
    holder = QWidget()
    detail = HeadDetail()
    QVBoxLayout(holder).addWidget(detail)
    holder.resize(900, 760)
    holder.show()
    detail.tile_runner = lambda _view, _request: None  # the app's worker takes costly tiles
    detail.show(head_view(state))
    app.processEvents()
    rows, columns = detail.heatmap.shape
    times = []
    for viewport in viewports(rows, columns, args.frames):
        start = time.perf_counter()
        detail.heatmap.set_viewport(viewport)
        app.processEvents()
        detail.heatmap.view.viewport().repaint()  # drawn now, not at the next event-loop turn
        times.append((time.perf_counter() - start) * 1000)
    emit({
        "tokens": len(trace.decoder), "frames": len(times), "p50_ms": median(times), "p95_ms": percentile(times, 95),
        "max_ms": max(times), "made_here": detail.tiles_made_here,
    })
    os._exit(0)  # skip Qt's teardown of a window nobody looks at


if __name__ == "__main__":
    sys.exit(main())
