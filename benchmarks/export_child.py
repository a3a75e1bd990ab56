"""Figure export: the 12 × 12 layer × head grid written as PNG (scale 2) and as SVG.

The trace is a random BERT-base-size model's (12 layers × 12 heads) on a 128-token
input (``--tokens``), with the mean-over-heads column the app shows; each format is written
``--repeats`` times to a temporary folder through ``explorer.export.export_figure``,
alternating the formats.

    python -m benchmarks.export_child --repeats 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from .common import BERT_BASE, emit, random_model, summary, text_of_tokens  # noqa: E402

TOKENS = 128


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=TOKENS)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from explorer.export import FigureRequest, export_figure

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - painting needs it
    model = random_model(BERT_BASE)
    trace = model.trace(text_of_tokens(model.tokenizer, args.tokens))
    request = FigureRequest(trace, figure="grid", kind="encoder_self", layer=0, head=None, show_mean_column=True)
    times: dict[str, list[float]] = {"png": [], "svg": []}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("png", "svg"):  # warm-up: fonts, colour tables
            export_figure(request, Path(folder) / f"warm.{suffix}", scale=2.0)
        for index in range(args.repeats):
            for suffix in ("png", "svg") if index % 2 == 0 else ("svg", "png"):
                path = Path(folder) / f"grid-{index}.{suffix}"
                start = time.perf_counter()
                export_figure(request, path, scale=2.0)
                times[suffix].append((time.perf_counter() - start) * 1000)
                sizes[suffix] = path.stat().st_size
    emit({"tokens": args.tokens, "png": summary(times["png"]), "svg": summary(times["svg"]), "bytes": sizes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
